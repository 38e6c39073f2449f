/* test_firmware_flash.c — the pieces of a UEFI boot: the CFI variable flash (OVMF's probe,
 * program, erase, buffered program, bad sequences, a file that keeps what was written, saved
 * state), the PIIX4 PM block at the base the firmware programs, and the SMBIOS tables. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "boot/boot_priv.h"
#include "bus/pci.h"
#include "dev/fw_cfg.h"
#include "dev/pflash.h"
#include "devtest.h"
#include "statetest.h"

#define FLASH_AT   0xffc00000ULL
#define FLASH_SIZE (4 * PFLASH_SECTOR)

static uint8_t template_[FLASH_SIZE];

static void vm_new(struct vm *vm)
{
    test_vm_init(vm, 16 * MiB);
    for (size_t i = 0; i < FLASH_SIZE; i++)
        template_[i] = (uint8_t)(i * 7 + 1);
}

static void vm_free(struct vm *vm)
{
    devices_destroy(vm);
    io_bus_free(&vm->pio);
    io_bus_free(&vm->mmio);
}

static void flash_new(struct vm *vm, int fd)
{
    char err[256] = "";
    int rc = pflash_create(vm, FLASH_AT, FLASH_SIZE, 9, fd, template_, err, sizeof(err));
    if (rc)
        fail_msg("pflash_create: %s", err);
}

static uint8_t rd(struct vm *vm, uint64_t off)
{
    uint8_t v = 0;
    assert_int_equal(io_bus_access(&vm->mmio, FLASH_AT + off, &v, 1, false), 0);
    return v;
}

static void wr(struct vm *vm, uint64_t off, uint8_t v)
{
    assert_int_equal(io_bus_access(&vm->mmio, FLASH_AT + off, &v, 1, true), 0);
}

/* OVMF's QemuFlashDetected: clear status, read (data, not 0x50: not RAM), read status (0, not
 * the data: not ROM), back to read-array. */
static void ovmf_probe_finds_flash(void **state)
{
    struct vm vm;
    vm_new(&vm);
    flash_new(&vm, -1);
    uint8_t orig = rd(&vm, 0x100);
    assert_int_equal(orig, template_[0x100]);
    wr(&vm, 0x100, 0x50);
    assert_int_equal(rd(&vm, 0x100), orig);
    wr(&vm, 0x100, 0x70);
    assert_int_equal(rd(&vm, 0x100), 0x00);
    wr(&vm, 0x100, 0xff);
    assert_int_equal(rd(&vm, 0x100), orig);
    wr(&vm, 0, 0x98); /* CFI query */
    assert_int_equal(rd(&vm, 0x10), 'Q');
    assert_int_equal(rd(&vm, 0x11), 'R');
    assert_int_equal(rd(&vm, 0x12), 'Y');
    assert_int_equal(1u << rd(&vm, 0x27), FLASH_SIZE);
    wr(&vm, 0, 0xff);
    vm_free(&vm);
}

static void program_erase_and_buffer(void **state)
{
    struct vm vm;
    vm_new(&vm);
    flash_new(&vm, -1);
    const uint8_t *mem = pflash_contents(pflash_find(&vm));
    wr(&vm, 5, 0x10); /* program one byte */
    wr(&vm, 5, 0x5a);
    assert_int_equal(rd(&vm, 0x300), 0x80); /* status: ready */
    wr(&vm, 5, 0xff);
    assert_int_equal(rd(&vm, 5), 0x5a);
    assert_int_equal(mem[5], 0x5a);

    wr(&vm, PFLASH_SECTOR + 7, 0x20); /* erase the second block */
    wr(&vm, PFLASH_SECTOR + 7, 0xd0);
    wr(&vm, 0, 0xff);
    for (size_t i = PFLASH_SECTOR; i < 2 * PFLASH_SECTOR; i++)
        assert_int_equal(mem[i], 0xff);
    assert_int_equal(mem[PFLASH_SECTOR - 1], template_[PFLASH_SECTOR - 1]);
    assert_int_equal(mem[2 * PFLASH_SECTOR], template_[2 * PFLASH_SECTOR]);

    wr(&vm, 0x40, 0xe8); /* buffered program of 4 bytes */
    wr(&vm, 0x40, 3);
    for (int i = 0; i < 4; i++)
        wr(&vm, 0x40 + i, (uint8_t)(0xa0 + i));
    wr(&vm, 0x40, 0xd0);
    wr(&vm, 0x40, 0xff);
    for (int i = 0; i < 4; i++)
        assert_int_equal(rd(&vm, 0x40 + i), 0xa0 + i);
    assert_int_equal(rd(&vm, 0x44), template_[0x44]);

    wr(&vm, 9, 0x20); /* erase without its confirmation: error bits, back to read-array */
    wr(&vm, 9, 0x11);
    assert_int_equal(rd(&vm, 9), template_[9]);
    wr(&vm, 9, 0x70);
    assert_int_equal(rd(&vm, 9) & 0x30, 0x30);
    wr(&vm, 9, 0x50);
    wr(&vm, 9, 0x70);
    assert_int_equal(rd(&vm, 9), 0);
    vm_free(&vm);
}

/* With a file, what the guest programs is in the file after the VM is gone. */
static void file_keeps_writes(void **state)
{
    char path[] = "/tmp/truce-vars-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    struct vm vm;
    vm_new(&vm);
    assert_int_equal(write(fd, template_, FLASH_SIZE), FLASH_SIZE);
    flash_new(&vm, fd);
    close(fd);
    wr(&vm, 0x1234, 0x40);
    wr(&vm, 0x1234, 0x99);
    wr(&vm, 0, 0xff);
    vm_free(&vm);
    fd = open(path, O_RDONLY);
    uint8_t b = 0;
    assert_int_equal(pread(fd, &b, 1, 0x1234), 1);
    assert_int_equal(b, 0x99);
    assert_int_equal(pread(fd, &b, 1, 0x1235), 1);
    assert_int_equal(b, template_[0x1235]);
    close(fd);
    unlink(path);
}

static void flash_state_roundtrip(void **state)
{
    struct vm a, b;
    vm_new(&a);
    vm_new(&b);
    flash_new(&a, -1);
    flash_new(&b, -1);
    wr(&a, 0x40, 0xe8); /* mid-sequence: a buffered program waiting for its count */
    size_t len;
    free(st_roundtrip(st_last(&a), st_last(&b), &len));
    wr(&b, 0x40, 0); /* B continues the sequence: one byte */
    wr(&b, 0x40, 0x77);
    wr(&b, 0x40, 0xd0);
    wr(&b, 0x40, 0xff);
    assert_int_equal(rd(&b, 0x40), 0x77);
    vm_free(&a);
    vm_free(&b);
}

static void bad_geometry_refused(void **state)
{
    struct vm vm;
    vm_new(&vm);
    char err[256] = "";
    assert_int_equal(pflash_create(&vm, FLASH_AT, 1000, 9, -1, template_, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "blocks"));
    vm_free(&vm);
}

/* ---- PIIX4 PM ---------------------------------------------------------------------------- */

static void chipset_new(struct vm *vm)
{
    test_vm_init(vm, 16 * MiB);
    snprintf(vm->cfg.firmware, sizeof(vm->cfg.firmware), "ovmf");
    assert_int_equal(pci_bus_create(vm), 0);
    test_create(vm, "piix");
}

static void chipset_free(struct vm *vm)
{
    devices_destroy(vm);
    pci_bus_destroy(vm);
    io_bus_free(&vm->pio);
    io_bus_free(&vm->mmio);
}

static uint32_t inl(struct vm *vm, uint16_t port)
{
    uint8_t d[4];
    assert_int_equal(io_bus_access(&vm->pio, port, d, 4, false), 0);
    return get_le32(d);
}

static void piix_identity_and_pm_block(void **state)
{
    struct vm vm;
    chipset_new(&vm);
    struct pci_bus *bus = vm.pci;
    assert_int_equal(pci_cfg_read(bus, 0, 0, 4), 0x12378086);       /* i440FX */
    assert_int_equal(pci_cfg_read_fn(bus, 1, 0, 0, 4), 0x70008086); /* PIIX3 */
    assert_int_equal(pci_cfg_read_fn(bus, 1, 0, 0x0e, 1) & 0x80, 0x80);
    assert_int_equal(pci_cfg_read_fn(bus, 1, 3, 0, 4), 0x71138086);     /* PIIX4 PM */
    assert_int_equal(pci_cfg_read_fn(bus, 1, 3, 0x5b, 1) & 0x02, 0x02); /* APMC_EN: no SMM */
    assert_int_equal(pci_cfg_read_fn(bus, 1, 2, 0, 4), 0xffffffffu);
    uint8_t d[4];
    assert_int_equal(io_bus_access(&vm.pio, 0xb008, d, 4, false), -ENOENT);
    /* OVMF: PMBA 0xb000, then PMIOSE */
    pci_cfg_write_fn(bus, 1, 3, 0x40, 4, 0xb000);
    assert_int_equal(pci_cfg_read_fn(bus, 1, 3, 0x40, 4), 0xb001);
    pci_cfg_write_fn(bus, 1, 3, 0x80, 1, 1);
    uint32_t t0 = inl(&vm, 0xb008);
    assert_true(t0 <= 0xffffff);
    usleep(2000);
    assert_int_not_equal(inl(&vm, 0xb008), t0);
    /* moved: the old block is gone */
    pci_cfg_write_fn(bus, 1, 3, 0x40, 4, 0x600);
    assert_int_equal(io_bus_access(&vm.pio, 0xb008, d, 4, false), -ENOENT);
    (void)inl(&vm, 0x608);
    /* PM1_CNT: SLP_EN with type 0 powers off */
    uint8_t cnt[2] = {0x00, 0x20};
    assert_int_equal(io_bus_access(&vm.pio, 0x604, cnt, 2, true), 0);
    int status = -1;
    assert_true(test_stopped(&vm, &status));
    assert_int_equal(status, TRUCE_EXIT_POWEROFF);
    chipset_free(&vm);
}

static uint16_t inw(struct vm *vm, uint16_t port)
{
    uint8_t d[2];
    assert_int_equal(io_bus_access(&vm->pio, port, d, 2, false), 0);
    return get_le16(d);
}

static void outw(struct vm *vm, uint16_t port, uint16_t v)
{
    uint8_t d[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    assert_int_equal(io_bus_access(&vm->pio, port, d, 2, true), 0);
}

/* The SCI follows PM1_STS & PM1_EN; the power button sets PWRBTN_STS; SCI_EN always reads 1. */
static void piix_sci_and_power_button(void **state)
{
    struct vm vm;
    chipset_new(&vm);
    assert_int_equal(piix_pm_base(&vm), 0x600); /* not enabled yet: the default */
    pci_cfg_write_fn(vm.pci, 1, 3, 0x40, 4, 0xb000);
    pci_cfg_write_fn(vm.pci, 1, 3, 0x80, 1, 1);
    assert_int_equal(piix_pm_base(&vm), 0xb000);
    assert_int_equal(inw(&vm, 0xb004) & 1, 1); /* SCI_EN: ACPI mode, no SMI_CMD to switch */
    outw(&vm, 0xb004, 0);
    assert_int_equal(inw(&vm, 0xb004) & 1, 1);

    /* a press the guest does not listen to: status only */
    assert_int_equal(piix_power_button(&vm), -EAGAIN);
    assert_int_equal(inw(&vm, 0xb000), 0x0100);
    assert_int_equal(piix_sci_level(&vm), 0);
    /* enabling the event with the status pending raises the SCI; clearing the status drops it */
    outw(&vm, 0xb002, 0x0100);
    assert_int_equal(inw(&vm, 0xb002), 0x0100);
    assert_int_equal(piix_sci_level(&vm), 1);
    outw(&vm, 0xb000, 0x0100); /* write 1 to clear */
    assert_int_equal(inw(&vm, 0xb000), 0);
    assert_int_equal(piix_sci_level(&vm), 0);
    /* a press now interrupts; a 32-bit write clears status and keeps the enable */
    assert_int_equal(piix_power_button(&vm), 0);
    assert_int_equal(piix_sci_level(&vm), 1);
    uint8_t d[4] = {0x00, 0x01, 0x00, 0x01};
    assert_int_equal(io_bus_access(&vm.pio, 0xb000, d, 4, true), 0);
    assert_int_equal(inl(&vm, 0xb000), 0x01000000);
    assert_int_equal(piix_sci_level(&vm), 0);
    /* enable bits that do not exist stay clear and raise nothing */
    outw(&vm, 0xb002, 0xf8de);
    assert_int_equal(inw(&vm, 0xb002), 0);
    assert_false(test_stopped(&vm, NULL));
    chipset_free(&vm);
}

/* With the chipset, the hardware-reduced sleep registers stay off 0x600, where SeaBIOS puts the
 * whole PM block. */
static void piix_owns_0x600(void **state)
{
    struct vm vm;
    chipset_new(&vm);
    test_create(&vm, "acpi-pm");
    uint8_t d;
    assert_int_equal(io_bus_access(&vm.pio, 0x600, &d, 1, false), -ENOENT);
    pci_cfg_write_fn(vm.pci, 1, 3, 0x40, 4, 0x600);
    pci_cfg_write_fn(vm.pci, 1, 3, 0x80, 1, 1);
    assert_int_equal(piix_power_button(&vm), -EAGAIN);
    assert_int_equal(inw(&vm, 0x600), 0x0100); /* PM1_STS, not a sleep register */
    assert_int_equal(inw(&vm, 0x604) & 1, 1);
    (void)inl(&vm, 0x608);
    chipset_free(&vm);
}

static void piix_state_roundtrip(void **state)
{
    struct vm a, b;
    chipset_new(&a);
    chipset_new(&b);
    pci_cfg_write_fn(a.pci, 1, 3, 0x40, 4, 0xb000);
    pci_cfg_write_fn(a.pci, 1, 3, 0x80, 1, 1);
    test_outb(&a, 0x92, 0x02);
    outw(&a, 0xb002, 0x0100); /* PWRBTN_EN, and a press pending: the SCI is up */
    assert_int_equal(piix_power_button(&a), 0);
    size_t len;
    struct device_instance *pa = a.devices, *pb = b.devices;
    while (pa && strcmp(pa->ops->name, "piix"))
        pa = pa->next;
    while (pb && strcmp(pb->ops->name, "piix"))
        pb = pb->next;
    assert_non_null(pa);
    assert_non_null(pb);
    free(st_roundtrip(pa, pb, &len));
    (void)inl(&b, 0xb008); /* B's block follows the restored PMBA */
    assert_int_equal(test_inb(&b, 0x92), 0x02);
    assert_int_equal(inl(&b, 0xb000), 0x01000100);
    assert_int_equal(piix_sci_level(&b), 1);
    chipset_free(&a);
    chipset_free(&b);
}

/* ---- SMBIOS --------------------------------------------------------------------------------- */

static void smbios_uuid_is_stable(void **state)
{
    uint8_t a[16], b[16], c[16];
    char s[37];
    smbios_uuid("vm-one", a);
    smbios_uuid("vm-one", b);
    smbios_uuid("vm-two", c);
    assert_memory_equal(a, b, 16);
    assert_memory_not_equal(a, c, 16);
    assert_int_equal(a[6] >> 4, 8);
    assert_int_equal(a[8] >> 6, 2);
    smbios_uuid_str(a, s);
    assert_int_equal(strlen(s), 36);
    assert_int_equal(s[14], '8');
}

/* The file NAME's bytes from VM's fw_cfg (through the ports, as firmware reads them). */
static uint8_t *fw_file(struct vm *vm, const char *name, uint32_t *len)
{
    uint8_t sel[2] = {FW_CFG_FILE_DIR, 0};
    assert_int_equal(io_bus_access(&vm->pio, PORT_FW_CFG, sel, 2, true), 0);
    uint8_t cnt[4];
    for (int i = 0; i < 4; i++)
        cnt[i] = test_inb(vm, PORT_FW_CFG + 1);
    uint32_t n = be32toh(*(uint32_t *)cnt);
    for (uint32_t i = 0; i < n; i++) {
        struct fw_cfg_file e;
        for (size_t j = 0; j < sizeof(e); j++)
            ((uint8_t *)&e)[j] = test_inb(vm, PORT_FW_CFG + 1);
        if (strcmp(e.name, name))
            continue;
        *len = be32toh(e.size);
        uint16_t key = be16toh(e.select);
        uint8_t k[2] = {(uint8_t)key, (uint8_t)(key >> 8)};
        assert_int_equal(io_bus_access(&vm->pio, PORT_FW_CFG, k, 2, true), 0);
        uint8_t *p = malloc(*len);
        for (uint32_t j = 0; j < *len; j++)
            p[j] = test_inb(vm, PORT_FW_CFG + 1);
        return p;
    }
    fail_msg("no fw_cfg file %s", name);
    return NULL;
}

static void smbios_tables_parse(void **state)
{
    struct vm vm;
    test_vm_init(&vm, 16 * MiB);
    assert_int_equal(guest_mem_init(&vm.mem, 16 * MiB, false), 0);
    vm.cfg.mem_bytes = 16 * MiB;
    vm.ncpus = 3;
    snprintf(vm.cfg.vm_id, sizeof(vm.cfg.vm_id), "labvm");
    test_create(&vm, "fw_cfg");
    assert_int_equal(smbios_fw_cfg(&vm), 0);
    uint32_t alen, tlen;
    uint8_t *a = fw_file(&vm, "etc/smbios/smbios-anchor", &alen);
    uint8_t *t = fw_file(&vm, "etc/smbios/smbios-tables", &tlen);
    assert_int_equal(alen, 31);
    assert_memory_equal(a, "_SM_", 4);
    assert_memory_equal(a + 0x10, "_DMI_", 5);
    uint8_t sum = 0;
    for (int i = 0; i < 31; i++)
        sum = (uint8_t)(sum + a[i]);
    assert_int_equal(sum, 0);
    assert_int_equal(get_le16(a + 0x16), tlen);
    /* walk: formatted part, strings up to a double NUL; count types */
    unsigned n = 0, cpus = 0, max = 0;
    bool sys = false, end = false;
    for (uint32_t off = 0; off < tlen && !end; n++) {
        const uint8_t *s = t + off;
        uint32_t p = off + s[1];
        while (p + 1 < tlen && (t[p] || t[p + 1]))
            p++;
        p += 2;
        max = MAX(max, p - off);
        cpus += s[0] == 4;
        if (s[0] == 1) {
            sys = true;
            assert_string_equal((const char *)t + off + s[1], "truce"); /* string 1: vendor */
        }
        end = s[0] == 127;
        off = p;
        if (end)
            assert_int_equal(off, tlen);
    }
    assert_true(sys && end);
    assert_int_equal(cpus, 3);
    assert_int_equal(n, get_le16(a + 0x1c));
    assert_int_equal(max, get_le16(a + 8));
    free(a);
    free(t);
    devices_destroy(&vm);
    guest_mem_free(&vm.mem);
    io_bus_free(&vm.pio);
    io_bus_free(&vm.mmio);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ovmf_probe_finds_flash), cmocka_unit_test(program_erase_and_buffer),
        cmocka_unit_test(file_keeps_writes),      cmocka_unit_test(flash_state_roundtrip),
        cmocka_unit_test(bad_geometry_refused),   cmocka_unit_test(piix_identity_and_pm_block),
        cmocka_unit_test(piix_state_roundtrip),   cmocka_unit_test(piix_sci_and_power_button),
        cmocka_unit_test(piix_owns_0x600),        cmocka_unit_test(smbios_uuid_is_stable),
        cmocka_unit_test(smbios_tables_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
