/* fuzz_ahci.c — libFuzzer target: the AHCI controller as a hostile driver drives it, on a fresh VM
 * per input with a disk (port 0) and a CD-ROM drive (port 1) on small temporary images. Both ports
 * start with their lists in RAM and 32 valid command slots (READ DMA EXT on the disk, INQUIRY on
 * the CD-ROM); the input then mutates that RAM (command headers, FISes, CDBs, PRDTs), writes and
 * reads registers, issues slots and changes the CD's media. Input: operations of
 * [kind][offset(2)][value(4)][port]: 0 register write, 1 register read, 2 RAM write (4 bytes in
 * the lists' 64 KiB window), 3 issue VALUE on PORT and wait for it, 4 eject or insert. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "dev/ahci.h"
#include "virtio_fixture.h"

#define WIN      0x100000ULL /* command lists, FIS areas and tables of both ports */
#define WIN_SIZE 0x10000ULL
#define LIST(p)  (WIN + 0x8000ULL * (p))
#define DATA     0x200000ULL

static char disk_path[64], iso_path[64];

static void remove_images(void)
{
    unlink(disk_path);
    unlink(iso_path);
}

static void make_images(void)
{
    static uint8_t buf[64 * 2048];
    if (disk_path[0])
        return;
    strcpy(disk_path, "/tmp/fuzz-ahci-disk-XXXXXX");
    strcpy(iso_path, "/tmp/fuzz-ahci-iso-XXXXXX");
    int a = mkstemp(disk_path), b = mkstemp(iso_path);
    memcpy(buf + 32768, "\001CD001\001", 7);
    if (a < 0 || b < 0 || write(a, buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
        write(b, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
        abort();
    close(a), close(b);
    atexit(remove_images);
}

static void reg_write(struct ahci *h, uint64_t off, uint32_t v)
{
    pthread_mutex_lock(&h->lock);
    ahci_reg_write(h, off, v);
    pthread_mutex_unlock(&h->lock);
}

static uint32_t reg_read(struct ahci *h, uint64_t off)
{
    pthread_mutex_lock(&h->lock);
    uint32_t v = ahci_reg_read(h, off);
    pthread_mutex_unlock(&h->lock);
    return v;
}

/* Port P running with 32 valid slots. */
static void port_setup(struct vfix *f, struct ahci *h, unsigned p)
{
    uint8_t *w = gpa_to_hva(&f->vm.mem, LIST(p), 0x8000);
    for (unsigned s = 0; s < 32; s++) {
        struct ahci_cmd_hdr *hd = (struct ahci_cmd_hdr *)(w + 32 * s);
        uint8_t *t = w + 0x1000 + 0x200 * s;
        *hd = (struct ahci_cmd_hdr){.opts = 5 | 1u << 16 | (p ? AHCI_HDR_A : 0),
                                    .ctba = (uint32_t)(LIST(p) + 0x1000 + 0x200 * s)};
        t[0] = FIS_TYPE_H2D, t[1] = 0x80, t[2] = p ? 0xa0 : 0x25, t[3] = 1, t[12] = 1;
        t[AHCI_CT_ACMD] = 0x12, t[AHCI_CT_ACMD + 4] = 36;
        struct ahci_prd *e = (struct ahci_prd *)(t + AHCI_CT_PRDT);
        *e = (struct ahci_prd){.dba = (uint32_t)DATA, .dbc = 4095};
    }
    uint64_t base = AHCI_PORT_BASE + AHCI_PORT_LEN * p;
    reg_write(h, AHCI_GHC, AHCI_GHC_AE | AHCI_GHC_IE);
    reg_write(h, base + PX_CLB, (uint32_t)LIST(p));
    reg_write(h, base + PX_FB, (uint32_t)(LIST(p) + 0x400));
    reg_write(h, base + PX_IE, PX_IS_MASK);
    reg_write(h, base + PX_CMD, PX_CMD_FRE | PX_CMD_ST);
}

static void op(struct vfix *f, struct ahci *h, const uint8_t *d)
{
    unsigned off = d[1] | d[2] << 8, p = d[7] & 1;
    uint32_t v = d[3] | d[4] << 8 | d[5] << 16 | (uint32_t)d[6] << 24;
    uint64_t base = AHCI_PORT_BASE + AHCI_PORT_LEN * p;
    char err[256];
    switch (d[0] % 5) {
    case 0:
        if ((off & 0xffc) != AHCI_GHC || !(v & AHCI_GHC_HR) || (d[7] & 0x80))
            reg_write(h, off & 0x3fc, v);
        break;
    case 1:
        (void)reg_read(h, off & 0x3fc);
        break;
    case 2:
        guest_mem_write(&f->vm.mem, WIN + off % (WIN_SIZE - 3), &v, 4);
        break;
    case 3:
        reg_write(h, base + PX_SACT, v & (d[7] & 2 ? ~0u : 0));
        reg_write(h, base + PX_CI, v);
        for (int i = 0; i < 200 && (reg_read(h, base + PX_CI) | reg_read(h, base + PX_SACT)); i++)
            usleep(50);
        break;
    case 4:
        ahci_change_media(&f->vm, "cd0", d[7] & 2 ? iso_path : "", err, sizeof(err));
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vfix f;
    make_images();
    vf_init(&f);
    struct disk_config dk = {.id = "d0", .iface = DISK_IF_AHCI};
    struct disk_config cd = {.id = "cd0", .iface = DISK_IF_AHCI, .cdrom = true, .readonly = true};
    strcpy(dk.path, disk_path), strcpy(cd.path, iso_path);
    f.vm.cfg.disks[0] = dk, f.vm.cfg.disks[1] = cd, f.vm.cfg.ndisks = 2;
    char err[256] = "";
    if (ahci_create(&f.vm, err, sizeof(err)))
        fail_msg("%s", err);
    struct ahci *h = ahci_find(&f.vm);
    port_setup(&f, h, 0);
    port_setup(&f, h, 1);
    for (; size >= 8; data += 8, size -= 8)
        op(&f, h, data);
    vf_fini(&f);
    return 0;
}
