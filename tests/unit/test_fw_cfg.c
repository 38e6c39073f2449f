/* test_fw_cfg.c — the fw_cfg device: items through the selector/data ports, the file directory,
 * DMA (select, read, skip, refused write, ranges outside RAM), and the saved state. */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "boot/boot_priv.h"
#include "dev/fw_cfg.h"
#include "devtest.h"
#include "statetest.h"

#define RAM   (16 * MiB)
#define DESC  0x1000ULL /* where the tests put DMA descriptors */
#define BUF   0x2000ULL /* and where DMA data goes */
#define NCPUS 3

struct t {
    struct vm vm;
    struct fw_cfg *f;
};

static struct t *t_new(void)
{
    struct t *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    test_vm_init(&t->vm, RAM);
    assert_int_equal(guest_mem_init(&t->vm.mem, RAM, false), 0);
    t->vm.cfg.mem_bytes = RAM;
    t->vm.ncpus = NCPUS;
    test_create(&t->vm, "fw_cfg");
    t->f = fw_cfg_find(&t->vm);
    assert_non_null(t->f);
    return t;
}

static void t_free(struct t *t)
{
    devices_destroy(&t->vm);
    guest_mem_free(&t->vm.mem);
    io_bus_free(&t->vm.pio);
    io_bus_free(&t->vm.mmio);
    free(t);
}

static void t_select(struct t *t, uint16_t key)
{
    uint8_t d[2] = {(uint8_t)key, (uint8_t)(key >> 8)};
    assert_int_equal(io_bus_access(&t->vm.pio, PORT_FW_CFG, d, 2, true), 0);
}

static void t_read(struct t *t, uint16_t key, void *p, size_t n)
{
    t_select(t, key);
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)p)[i] = test_inb(&t->vm, PORT_FW_CFG + 1);
}

/* Run a DMA descriptor {CONTROL, LEN, ADDR} placed at DESC_AT; returns the control written back. */
static uint32_t t_dma_at(struct t *t, uint64_t desc_at, uint32_t control, uint32_t len,
                         uint64_t addr)
{
    struct fw_cfg_dma_access d = {htobe32(control), htobe32(len), htobe64(addr)};
    assert_int_equal(guest_mem_write(&t->vm.mem, desc_at, &d, sizeof(d)), 0);
    uint32_t hi = htobe32((uint32_t)(desc_at >> 32)), lo = htobe32((uint32_t)desc_at);
    assert_int_equal(io_bus_access(&t->vm.pio, PORT_FW_CFG + 4, (uint8_t *)&hi, 4, true), 0);
    assert_int_equal(io_bus_access(&t->vm.pio, PORT_FW_CFG + 8, (uint8_t *)&lo, 4, true), 0);
    assert_int_equal(guest_mem_read(&t->vm.mem, desc_at, &d, sizeof(d)), 0);
    return be32toh(d.control);
}

static uint32_t t_dma(struct t *t, uint32_t control, uint32_t len, uint64_t addr)
{
    return t_dma_at(t, DESC, control, len, addr);
}

static void standard_items(void **state)
{
    struct t *t = t_new();
    char sig[6] = "";
    uint32_t id;
    uint16_t cpus, max, nographic;
    uint64_t ram;
    t_read(t, FW_CFG_SIGNATURE, sig, 5); /* one byte past the end reads 0 */
    assert_string_equal(sig, "QEMU");
    t_read(t, FW_CFG_ID, &id, 4);
    assert_int_equal(le32toh(id), FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA);
    t_read(t, FW_CFG_RAM_SIZE, &ram, 8);
    assert_int_equal(le64toh(ram), RAM);
    t_read(t, FW_CFG_NB_CPUS, &cpus, 2);
    t_read(t, FW_CFG_MAX_CPUS, &max, 2);
    t_read(t, FW_CFG_NOGRAPHIC, &nographic, 2);
    assert_int_equal(le16toh(cpus), NCPUS);
    assert_int_equal(le16toh(max), NCPUS);
    assert_int_equal(le16toh(nographic), 1);
    uint8_t x = 0x55;
    t_read(t, 0x1234, &x, 1); /* an unknown key reads as zeros */
    assert_int_equal(x, 0);
    t_read(t, FW_CFG_SIGNATURE | FW_CFG_WRITE_CHANNEL, sig, 4); /* write channel bit ignored */
    assert_memory_equal(sig, "QEMU", 4);

    /* data-port writes and byte writes to the selector change nothing */
    t_select(t, FW_CFG_SIGNATURE);
    test_outb(&t->vm, PORT_FW_CFG + 1, 0x99);
    test_outb(&t->vm, PORT_FW_CFG, 0x05);
    assert_int_equal(test_inb(&t->vm, PORT_FW_CFG + 1), 'Q');

    /* the DMA register reads as "QEMU CFG" */
    uint8_t s8[8];
    assert_int_equal(io_bus_access(&t->vm.pio, PORT_FW_CFG + 4, s8, 4, false), 0);
    assert_int_equal(io_bus_access(&t->vm.pio, PORT_FW_CFG + 8, s8 + 4, 4, false), 0);
    assert_memory_equal(s8, "QEMU CFG", 8);
    t_free(t);
}

static void file_directory(void **state)
{
    struct t *t = t_new();
    assert_int_equal(fw_cfg_add_file(t->f, "etc/e820", "0123456789", 10), 0);
    assert_int_equal(fw_cfg_add_file(t->f, "a/first", "A", 1), 0);
    assert_int_equal(fw_cfg_add_file(t->f, "etc/e820", "replaced", 8), 0); /* replaces */
    uint32_t count;
    t_read(t, FW_CFG_FILE_DIR, &count, 4);
    assert_int_equal(be32toh(count), 3); /* a/first, bootorder, etc/e820 */
    const char *names[3] = {"a/first", "bootorder", "etc/e820"};
    const uint32_t sizes[3] = {1, 0, 8};
    for (unsigned i = 0; i < 3; i++) {
        struct fw_cfg_file e;
        for (size_t j = 0; j < sizeof(e); j++)
            ((uint8_t *)&e)[j] = test_inb(&t->vm, PORT_FW_CFG + 1);
        assert_string_equal(e.name, names[i]);
        assert_int_equal(be32toh(e.size), sizes[i]);
        assert_int_equal(be16toh(e.select), FW_CFG_FILE_FIRST + i);
    }
    char data[9] = "";
    t_read(t, FW_CFG_FILE_FIRST + 2, data, 8);
    assert_string_equal(data, "replaced");

    /* the contract's refusals */
    assert_int_equal(fw_cfg_add_item(t->f, FW_CFG_FILE_FIRST, "x", 1), -EINVAL);
    assert_int_equal(fw_cfg_add_item(t->f, FW_CFG_WRITE_CHANNEL | 1, "x", 1), -EINVAL);
    assert_int_equal(fw_cfg_add_file(t->f, "", "x", 1), -EINVAL);
    char longname[FW_CFG_NAME_MAX + 1];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[FW_CFG_NAME_MAX] = 0;
    assert_int_equal(fw_cfg_add_file(t->f, longname, "x", 1), -EINVAL);
    longname[FW_CFG_NAME_MAX - 1] = 0; /* 55 bytes + NUL fits */
    assert_int_equal(fw_cfg_add_file(t->f, longname, "x", 1), 0);
    int rc = 0;
    for (unsigned i = 0; i < FW_CFG_MAX_FILES && !rc; i++) {
        char name[16];
        snprintf(name, sizeof(name), "f%u", i);
        rc = fw_cfg_add_file(t->f, name, "y", 1);
    }
    assert_int_equal(rc, -ENOSPC);
    assert_int_equal(fw_cfg_add_u64(t->f, 0x8003, 7), 0); /* arch-local keys are items */
    uint64_t v;
    t_read(t, 0x8003, &v, 8);
    assert_int_equal(le64toh(v), 7);
    t_free(t);
}

static void dma(void **state)
{
    struct t *t = t_new();
    assert_int_equal(fw_cfg_add_file(t->f, "etc/test", "abcdefghij", 10), 0);
    uint8_t *buf = gpa_to_hva(&t->vm.mem, BUF, 64);
    uint16_t key = FW_CFG_FILE_FIRST + 1; /* bootorder, etc/test */

    memset(buf, 0xee, 64);
    assert_int_equal(t_dma(t, (uint32_t)key << 16 | FW_CFG_DMA_SELECT | FW_CFG_DMA_READ, 3, BUF),
                     0);
    assert_memory_equal(buf, "abc", 3);
    assert_int_equal(buf[3], 0xee);
    assert_int_equal(t_dma(t, FW_CFG_DMA_SKIP, 2, 0), 0);   /* skip "de" */
    assert_int_equal(t_dma(t, FW_CFG_DMA_READ, 8, BUF), 0); /* "fghij" then zeros */
    assert_memory_equal(buf, "fghij\0\0\0", 8);
    assert_int_equal(test_inb(&t->vm, PORT_FW_CFG + 1), 0); /* the offset is past the end */

    /* refused: a write, a read into the MMIO hole, a read straddling the end of RAM */
    assert_int_equal(t_dma(t, FW_CFG_DMA_WRITE, 4, BUF), FW_CFG_DMA_ERROR);
    assert_int_equal(t_dma(t, FW_CFG_DMA_SELECT | FW_CFG_DMA_READ, 4, 0xf0000000ULL),
                     FW_CFG_DMA_ERROR);
    assert_int_equal(t_dma(t, FW_CFG_DMA_SELECT | FW_CFG_DMA_READ, 0xffffffffu, RAM - 16),
                     FW_CFG_DMA_ERROR);
    assert_int_equal(t_dma(t, FW_CFG_DMA_SELECT | FW_CFG_DMA_READ, 16, UINT64_MAX - 4),
                     FW_CFG_DMA_ERROR);
    /* a zero-length read is a no-op that succeeds */
    assert_int_equal(t_dma(t, FW_CFG_DMA_SELECT | FW_CFG_DMA_READ, 0, 0xf0000000ULL), 0);

    /* a descriptor outside RAM (or straddling its end) is ignored without harm */
    uint32_t hi = 0, lo = htobe32((uint32_t)(RAM - 8));
    assert_int_equal(io_bus_access(&t->vm.pio, PORT_FW_CFG + 4, (uint8_t *)&hi, 4, true), 0);
    assert_int_equal(io_bus_access(&t->vm.pio, PORT_FW_CFG + 8, (uint8_t *)&lo, 4, true), 0);
    hi = htobe32(0xffffffffu), lo = htobe32(0xfffffff8u);
    assert_int_equal(io_bus_access(&t->vm.pio, PORT_FW_CFG + 4, (uint8_t *)&hi, 4, true), 0);
    assert_int_equal(io_bus_access(&t->vm.pio, PORT_FW_CFG + 8, (uint8_t *)&lo, 4, true), 0);

    /* the high half is latched: a descriptor above 4 GiB needs RAM there, so use a 2-region VM */
    t_free(t);
    struct t *big = calloc(1, sizeof(*big));
    assert_non_null(big);
    test_vm_init(&big->vm, LAYOUT_MMIO_HOLE + 16 * MiB);
    assert_int_equal(guest_mem_init(&big->vm.mem, LAYOUT_MMIO_HOLE + 16 * MiB, false), 0);
    big->vm.cfg.mem_bytes = LAYOUT_MMIO_HOLE + 16 * MiB;
    big->vm.ncpus = 1;
    test_create(&big->vm, "fw_cfg");
    big->f = fw_cfg_find(&big->vm);
    assert_int_equal(t_dma_at(big, LAYOUT_4G + 0x100,
                              FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_SELECT | FW_CFG_DMA_READ, 4,
                              LAYOUT_4G + 0x1000),
                     0);
    assert_memory_equal(gpa_to_hva(&big->vm.mem, LAYOUT_4G + 0x1000, 4), "QEMU", 4);
    t_free(big);
}

static void state_round_trip(void **state)
{
    struct t *a = t_new(), *b = t_new();
    assert_int_equal(fw_cfg_add_file(a->f, "etc/x", "0123456789", 10), 0);
    assert_int_equal(fw_cfg_add_file(b->f, "etc/x", "0123456789", 10), 0);
    char c[3];
    t_read(a, FW_CFG_FILE_FIRST + 1, c, 3); /* selected etc/x, offset 3 */
    uint32_t hi = htobe32(0x12);
    assert_int_equal(io_bus_access(&a->vm.pio, PORT_FW_CFG + 4, (uint8_t *)&hi, 4, true), 0);

    size_t len;
    uint8_t *buf = st_roundtrip(st_last(&a->vm), st_last(&b->vm), &len);
    st_reject_header(st_last(&b->vm), buf, len);
    free(buf);
    assert_int_equal(test_inb(&b->vm, PORT_FW_CFG + 1), '3'); /* b continues where a was */

    st_last(&b->vm)->ops->reset(st_last(&b->vm)->dev);
    assert_int_equal(test_inb(&b->vm, PORT_FW_CFG + 1), 'Q'); /* reset: key 0, offset 0 */
    t_free(a);
    t_free(b);
}

/* A minimal 64-bit bzImage: 4 setup sectors + the boot sector, then KSIZE kernel bytes. */
static uint8_t *make_bz(size_t ksize, size_t *len)
{
    size_t setup = 5 * 512;
    uint8_t *img = calloc(1, setup + ksize);
    assert_non_null(img);
    struct linux_setup_header h = {.setup_sects = 4,
                                   .syssize = (uint32_t)(ksize / 16),
                                   .boot_flag = 0xaa55,
                                   .jump = (uint16_t)(0xeb | (0x26c - 0x202) << 8),
                                   .header = 0x53726448,
                                   .version = 0x020f,
                                   .loadflags = 0x01,
                                   .initrd_addr_max = 0x7fffffff,
                                   .kernel_alignment = 2 * MiB,
                                   .relocatable_kernel = 1,
                                   .xloadflags = 0x3,
                                   .cmdline_size = 64,
                                   .init_size = 4 * MiB};
    memcpy(img + LINUX_HDR_OFFSET, &h, sizeof(h));
    for (size_t i = 0; i < ksize; i++)
        img[setup + i] = (uint8_t)(i * 5 + 1);
    *len = setup + ksize;
    return img;
}

static uint32_t t_u32(struct t *t, uint16_t key)
{
    uint32_t v;
    t_read(t, key, &v, 4);
    return le32toh(v);
}

static void linux_through_firmware(void **state)
{
    struct t *t = t_new();
    char path[] = "/tmp/truce-fwcfg-initrdXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    uint8_t rd[10000];
    for (size_t i = 0; i < sizeof(rd); i++)
        rd[i] = (uint8_t)(i ^ 0x3c);
    assert_int_equal(write_full(fd, rd, sizeof(rd)), 0);
    close(fd);
    snprintf(t->vm.cfg.initrd, PATH_MAX, "%s", path);
    snprintf(t->vm.cfg.cmdline, CFG_CMDLINE_LEN, "console=ttyS0 fw");
    size_t len;
    uint8_t *img = make_bz(64 * KiB, &len);
    char err[256] = "";
    assert_int_equal(boot_fw_cfg_linux(&t->vm, img, len, err, sizeof(err)), 0);

    assert_int_equal(t_u32(t, FW_CFG_SETUP_ADDR), 0x10000);
    assert_int_equal(t_u32(t, FW_CFG_SETUP_SIZE), 5 * 512);
    assert_int_equal(t_u32(t, FW_CFG_KERNEL_ADDR), 0x100000);
    assert_int_equal(t_u32(t, FW_CFG_KERNEL_SIZE), 64 * KiB);
    assert_int_equal(t_u32(t, FW_CFG_CMDLINE_ADDR), 0x20000);
    assert_int_equal(t_u32(t, FW_CFG_CMDLINE_SIZE), 17);
    uint32_t rd_addr = t_u32(t, FW_CFG_INITRD_ADDR);
    assert_int_equal(t_u32(t, FW_CFG_INITRD_SIZE), sizeof(rd));
    assert_int_equal(rd_addr % 4096, 0);
    assert_true(rd_addr >= 0x100000 + 4 * MiB && rd_addr + sizeof(rd) <= RAM - 128 * KiB);

    uint8_t *setup = malloc(5 * 512), *kernel = malloc(64 * KiB), *initrd = malloc(sizeof(rd));
    char cmdline[17];
    t_read(t, FW_CFG_SETUP_DATA, setup, 5 * 512);
    t_read(t, FW_CFG_KERNEL_DATA, kernel, 64 * KiB);
    t_read(t, FW_CFG_INITRD_DATA, initrd, sizeof(rd));
    t_read(t, FW_CFG_CMDLINE_DATA, cmdline, sizeof(cmdline));
    assert_string_equal(cmdline, "console=ttyS0 fw");
    assert_memory_equal(kernel, img + 5 * 512, 64 * KiB);
    assert_memory_equal(initrd, rd, sizeof(rd));
    struct linux_setup_header h;
    memcpy(&h, setup + LINUX_HDR_OFFSET, sizeof(h));
    assert_int_equal(h.type_of_loader, 0xb0);
    assert_int_equal(h.cmd_line_ptr, 0x20000);
    assert_int_equal(h.ramdisk_image, rd_addr);
    assert_int_equal(h.ramdisk_size, sizeof(rd));
    assert_true(h.loadflags & LINUX_CAN_USE_HEAP);
    assert_int_equal(h.heap_end_ptr, 0x20000 - 0x10000 - 0x200);
    assert_memory_equal(setup, img, LINUX_HDR_OFFSET); /* only the header changed */
    free(setup), free(kernel), free(initrd);

    /* bad input: not a bzImage, a command line too long for it, an initrd too big for RAM */
    assert_int_equal(boot_fw_cfg_linux(&t->vm, img, 100, err, sizeof(err)), -EINVAL);
    memset(t->vm.cfg.cmdline, 'x', 100);
    t->vm.cfg.cmdline[100] = 0;
    assert_int_equal(boot_fw_cfg_linux(&t->vm, img, len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "at most 64"));
    t->vm.cfg.cmdline[0] = 0;
    assert_int_equal(truncate(path, RAM), 0);
    assert_int_equal(boot_fw_cfg_linux(&t->vm, img, len, err, sizeof(err)), -EFBIG);
    assert_non_null(strstr(err, "raise --memory"));
    unlink(path);
    free(img);
    t_free(t);
}

/* Find fw_cfg file NAME in the directory: its selector and size, or 0. */
static uint16_t t_file(struct t *t, const char *name, uint32_t *size)
{
    uint32_t count;
    t_read(t, FW_CFG_FILE_DIR, &count, 4);
    uint16_t sel = 0;
    for (unsigned i = 0; i < be32toh(count); i++) {
        struct fw_cfg_file e;
        for (size_t j = 0; j < sizeof(e); j++)
            ((uint8_t *)&e)[j] = test_inb(&t->vm, PORT_FW_CFG + 1);
        if (!sel && !strcmp(e.name, name)) {
            sel = be16toh(e.select);
            *size = be32toh(e.size);
        }
    }
    return sel;
}

/* --net user,tftp=,bootfile= under firmware: Debian's iPXE ROM for virtio-net becomes SeaBIOS's
 * fw_cfg file pci1af4,1041.rom, byte for byte; a ROM for another NIC, a file that is no ROM, a
 * missing one are refused naming the ROM. Skipped without ipxe-qemu. */
static void netboot_rom(void **state)
{
    uint8_t *want = NULL;
    size_t wlen = 0;
    if (read_file(CFG_IPXE_ROM, 1 * MiB, &want, &wlen) < 0)
        skip();
    struct t *t = t_new();
    char err[256] = "";
    t->vm.cfg.transport = TRANSPORT_PCI;
    assert_int_equal(netboot_fw_cfg(&t->vm, err, sizeof(err)), 0); /* no --net: no ROM */
    uint32_t size = 0;
    assert_int_equal(t_file(t, "pci1af4,1041.rom", &size), 0);
    t->vm.cfg.nnets = 1;
    t->vm.cfg.nets[0] = (struct net_config){.id = "net0", .kind = NET_USER};
    strcpy(t->vm.cfg.nets[0].tftp, "/tmp");
    strcpy(t->vm.cfg.nets[0].bootfile, "boot.ipxe");
    assert_int_equal(netboot_fw_cfg(&t->vm, err, sizeof(err)), 0);
    uint16_t sel = t_file(t, "pci1af4,1041.rom", &size);
    assert_true(sel != 0);
    assert_int_equal(size, wlen);
    uint8_t *got = malloc(wlen);
    t_read(t, sel, got, wlen);
    assert_memory_equal(got, want, wlen);
    free(got);

    static const struct {
        const char *rom, *needle;
        int rc;
    } bad[] = {
        {"/usr/lib/ipxe/qemu/pxe-e1000.rom", "not for virtio-net 1af4:1041", -EINVAL},
        {"/etc/hostname", "not a PCI option ROM", -EINVAL},
        {"/nonexistent.rom", "No such file", -ENOENT},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strcpy(t->vm.cfg.nets[0].rom, bad[i].rom);
        err[0] = 0;
        assert_int_equal(netboot_fw_cfg(&t->vm, err, sizeof(err)), bad[i].rc);
        if (!strstr(err, bad[i].needle) || !strstr(err, bad[i].rom))
            fail_msg("%s: '%s'", bad[i].rom, err);
    }
    /* two interfaces asking for different ROMs; the MMIO transport has no PCI ROM */
    strcpy(t->vm.cfg.nets[0].rom, "/usr/lib/ipxe/qemu/efi-virtio.rom");
    t->vm.cfg.nnets = 2;
    t->vm.cfg.nets[1] = t->vm.cfg.nets[0];
    strcpy(t->vm.cfg.nets[1].id, "net1");
    strcpy(t->vm.cfg.nets[1].rom, CFG_IPXE_ROM);
    assert_int_equal(netboot_fw_cfg(&t->vm, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "shares one option ROM"));
    strcpy(t->vm.cfg.nets[1].rom, "off");
    t->vm.cfg.transport = TRANSPORT_MMIO;
    assert_int_equal(netboot_fw_cfg(&t->vm, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "virtio over PCI"));
    free(want);
    t_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(standard_items),
        cmocka_unit_test(file_directory),
        cmocka_unit_test(dma),
        cmocka_unit_test(state_round_trip),
        cmocka_unit_test(linux_through_firmware),
        cmocka_unit_test(netboot_rom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
