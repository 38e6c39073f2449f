/* fuzz_mmio.c — libFuzzer target: the virtio-mmio transport as a hostile driver drives it, on a
 * fresh VM per input with virtio-rng and virtio-console in the first two windows. Input:
 * operations of [kind and device(1)][offset(2)][width and direction(1)][value(4)]: kind 0 a
 * register access in the device's window (config space included), kind 1 a 4-byte write into
 * guest RAM (rings, descriptors, indirect tables: offset * 4 from 1 MiB), kind 2 waits until the
 * I/O thread handled every notification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "virtio/virtio_mmio.h"
#include "virtio_fixture.h"

#define OP_LEN 8

static void create(struct vfix *f)
{
    char err[256] = "";
    f->vm.cfg.transport = TRANSPORT_MMIO;
    f->vm.cfg.entropy = true;
    f->vm.cfg.console = CONSOLE_VIRTIO;
    if (device_class_find("virtio-rng")->create(&f->vm, err, sizeof(err)) ||
        console_open_fds(&f->vm, -1, -1, err, sizeof(err)) ||
        device_class_find("virtio-console")->create(&f->vm, err, sizeof(err)))
        fail_msg("%s", err);
    for (struct virtio_dev *d = NULL; (d = virtio_find(&f->vm, VIRTIO_ID_RNG, d));)
        ((struct virtio_mmio *)d->transport)->line = vf_line;
    for (struct virtio_dev *d = NULL; (d = virtio_find(&f->vm, VIRTIO_ID_CONSOLE, d));)
        ((struct virtio_mmio *)d->transport)->line = vf_line;
}

static void op(struct vfix *f, const uint8_t *p)
{
    unsigned kind = (p[0] & 3) % 3, dev = (p[0] >> 2) & 1, off = p[1] | p[2] << 8;
    static const unsigned widths[4] = {4, 1, 2, 8};
    unsigned width = widths[p[3] & 3];
    uint8_t v[8] = {0};
    memcpy(v, p + 4, 4);
    switch (kind) {
    case 0:
        io_bus_access(&f->vm.mmio, LAYOUT_VIRTIO_MMIO + dev * LAYOUT_VIRTIO_MMIO_DEV + off % 0x1000,
                      v, width, p[3] & 0x80);
        break;
    case 1:
        guest_mem_write(&f->vm.mem, 1 * MiB + (uint64_t)off * 4, v, 4);
        break;
    case 2:
        vf_quiesce(f);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vfix f;
    vf_init(&f);
    create(&f);
    memset(gpa_to_hva(&f.vm.mem, 1 * MiB, 256 * KiB), 0, 256 * KiB);
    for (; size >= OP_LEN; data += OP_LEN, size -= OP_LEN)
        op(&f, data);
    vf_quiesce(&f);
    vf_fini(&f);
    return 0;
}
