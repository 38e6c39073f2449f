/* fuzz_pflash.c — libFuzzer target: the CFI variable flash (src/dev/pflash.c) as a hostile UEFI
 * guest drives it: command sequences of reads and writes of every width at any offset (past the
 * end too), device resets, and a save/restore into a fresh flash in the middle of a sequence; a
 * leading state buffer is restored first (a hostile snapshot). Checked: after enough 0xFF
 * writes the flash is back in read-array mode and reads return its contents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "dev/pflash.h"
#include "devtest.h"
#include "util/state.h"

#define FLASH_AT   0xffc00000ULL
#define FLASH_SIZE (4 * PFLASH_SECTOR)
#define OP_LEN     6

static uint8_t template_[FLASH_SIZE];

static struct device_instance *flash_dev(struct vm *vm)
{
    struct device_instance *d = vm->devices;
    while (d && d->dev != (void *)pflash_find(vm))
        d = d->next;
    return d;
}

static void flash_vm(struct vm *vm)
{
    char err[256];
    test_vm_init(vm, 16 * MiB);
    if (pflash_create(vm, FLASH_AT, FLASH_SIZE, 9, -1, template_, err, sizeof(err)) ||
        !flash_dev(vm))
        abort();
}

static void flash_vm_free(struct vm *vm)
{
    test_vm_free(vm, NULL);
}

/* Save A's state and restore it into B (which must accept what A saved). */
static void save_into(struct vm *a, struct vm *b)
{
    struct state_visitor v, l;
    struct device_instance *da = flash_dev(a), *db = flash_dev(b);
    state_save_init(&v);
    if (da->ops->save(da->dev, &v) || state_finish(&v))
        abort();
    state_load_init(&l, v.buf, v.len);
    if (db->ops->restore(db->dev, &l) || state_finish(&l))
        abort();
    free(v.buf);
}

/* One operation: [offset lo][offset hi][mode][value(3)]. Mode bits 0-1: width 1, 2, 4 or 8;
 * bit 7: write; bit 6: device reset instead; bit 5: snapshot into a fresh flash instead. The
 * offset reaches a little past the end of the flash. */
static void op(struct vm **vm, struct vm **spare, const uint8_t *p)
{
    uint64_t off = (p[0] | (uint64_t)p[1] << 8) % (FLASH_SIZE + 16);
    unsigned width = 1u << (p[2] & 3);
    uint8_t val[8] = {p[3], p[4], p[5], p[3], p[4], p[5], p[3], p[4]};
    if (p[2] & 0x40) {
        struct device_instance *d = flash_dev(*vm);
        if (d->ops->reset)
            d->ops->reset(d->dev);
        return;
    }
    if (p[2] & 0x20) {
        save_into(*vm, *spare);
        struct vm *t = *vm;
        *vm = *spare;
        *spare = t;
        return;
    }
    io_bus_access(&(*vm)->mmio, FLASH_AT + off, val, width, p[2] & 0x80);
}

/* Leave any sequence (a write buffer takes at most 256 data writes, then its confirmation), then
 * check that reads return the contents. */
static void check_read_array(struct vm *vm)
{
    uint8_t ff = 0xff;
    for (int i = 0; i < 260; i++)
        io_bus_access(&vm->mmio, FLASH_AT, &ff, 1, true);
    const uint8_t *mem = pflash_contents(pflash_find(vm));
    for (uint64_t off = 0; off < FLASH_SIZE; off += 509) {
        uint8_t v = 0;
        io_bus_access(&vm->mmio, FLASH_AT + off, &v, 1, false);
        if (v != mem[off])
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vm a, b;
    for (size_t i = 0; i < FLASH_SIZE; i++)
        template_[i] = (uint8_t)(i * 7 + 1);
    flash_vm(&a);
    flash_vm(&b);
    struct vm *cur = &a, *spare = &b;
    /* first byte N: the N bytes after it are a state buffer for the flash to restore */
    size_t n = size ? data[0] : 0;
    if (n + 1 > size)
        n = 0;
    if (n) {
        struct state_visitor l;
        struct device_instance *d = flash_dev(cur);
        state_load_init(&l, data + 1, n);
        if (!d->ops->restore(d->dev, &l))
            state_finish(&l);
    }
    for (size_t i = 1 + n; i + OP_LEN <= size; i += OP_LEN)
        op(&cur, &spare, data + i);
    check_read_array(cur);
    flash_vm_free(&a);
    flash_vm_free(&b);
    return 0;
}
