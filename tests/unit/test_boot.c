/* test_boot.c — bzImage loading (zero page, e820, initrd, cmdline), hostile images, firmware,
 * and the boot vCPU state, on a hand-built VM without /dev/kvm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "boot_fixture.h"

#define MEM_64M (64 * MiB)
#define PREF    (16 * MiB)

/* Header values of a crafted bzImage. */
struct bz {
    uint16_t version;
    uint8_t setup_sects, loadflags, reloc;
    uint16_t xlf;
    uint32_t cmdline_size, init_size, initrd_max, align, syssize;
    uint64_t pref;
    size_t ksize;
};

static struct bz bz_default(void)
{
    return (struct bz){.version = 0x020f,
                       .setup_sects = 4,
                       .loadflags = 0x01,
                       .reloc = 1,
                       .xlf = 0x3,
                       .cmdline_size = 2047,
                       .init_size = 8 * MiB,
                       .initrd_max = 0x7fffffff,
                       .align = 2 * MiB,
                       .pref = PREF,
                       .ksize = 64 * KiB};
}

static uint8_t kbyte(size_t i)
{
    return (uint8_t)(i * 7 + 3);
}

/* Build a minimal bzImage: setup sectors with the header, then KSIZE bytes of "kernel". */
static uint8_t *make_bz(const struct bz *o, size_t *len)
{
    size_t setup = ((size_t)(o->setup_sects ? o->setup_sects : 4) + 1) * 512;
    uint8_t *img = calloc(1, setup + o->ksize);
    struct linux_setup_header h = {0};
    assert_non_null(img);
    h.setup_sects = o->setup_sects;
    h.syssize = o->syssize ? o->syssize : (uint32_t)(o->ksize / 16);
    h.boot_flag = 0xaa55;
    h.jump = (uint16_t)(0xeb | (0x26c - 0x202) << 8);
    h.header = 0x53726448;
    h.version = o->version;
    h.loadflags = o->loadflags;
    h.initrd_addr_max = o->initrd_max;
    h.kernel_alignment = o->align;
    h.relocatable_kernel = o->reloc;
    h.xloadflags = o->xlf;
    h.cmdline_size = o->cmdline_size;
    h.pref_address = o->pref;
    h.init_size = o->init_size;
    memcpy(img + LINUX_HDR_OFFSET, &h, sizeof(h));
    for (size_t i = 0; i < o->ksize; i++)
        img[setup + i] = kbyte(i);
    *len = setup + o->ksize;
    return img;
}

/* Byte I of the initrd load_bz writes. */
static uint8_t rdbyte(size_t i)
{
    return (uint8_t)(i ^ 0x5a);
}

/* boot_load with a crafted image O (and an initrd of INITRD bytes when nonzero). */
static int load_bz(struct fixture *f, const struct bz *o, size_t initrd)
{
    size_t len;
    uint8_t *img = make_bz(o, &len);
    int rc = fix_boot_load(f, img, len, initrd, rdbyte);
    free(img);
    return rc;
}

static void bzimage_zero_page(void **state)
{
    struct fixture *f = fix_new(MEM_64M, 2);
    struct bz o = bz_default();
    snprintf(f->vm->cfg.cmdline, CFG_CMDLINE_LEN, "console=ttyS0 root=/dev/vda");
    assert_int_equal(load_bz(f, &o, 300000), 0);

    assert_int_equal(f->vm->boot.mode, BOOT_LINUX64);
    assert_int_equal(f->vm->boot.entry, PREF + 0x200);
    assert_int_equal(f->vm->boot.rsi, BOOT_ZERO_PAGE);
    assert_int_equal(f->vm->boot.cr3, BOOT_PML4);
    const uint8_t *k = fix_gpa(f, PREF, o.ksize);
    for (size_t i = 0; i < o.ksize; i += 997)
        assert_int_equal(k[i], kbyte(i));

    struct linux_boot_params *bp = fix_gpa(f, BOOT_ZERO_PAGE, sizeof(*bp));
    assert_int_equal(bp->hdr.boot_flag, 0xaa55);
    assert_int_equal(bp->hdr.version, 0x020f);
    assert_int_equal(bp->hdr.type_of_loader, 0xff);
    assert_int_equal(bp->hdr.cmd_line_ptr, BOOT_CMDLINE);
    assert_string_equal((char *)fix_gpa(f, BOOT_CMDLINE, 1), "console=ttyS0 root=/dev/vda");
    assert_int_equal(bp->acpi_rsdp_addr, BOOT_ACPI_START);

    /* initrd: page aligned, above the kernel's init_size footprint, ends in RAM */
    uint64_t rd = bp->hdr.ramdisk_image | (uint64_t)bp->ext_ramdisk_image << 32;
    assert_int_equal(bp->hdr.ramdisk_size, 300000);
    assert_int_equal(rd % 4096, 0);
    assert_true(rd >= PREF + o.init_size);
    assert_true(rd + 300000 <= MEM_64M);
    assert_true(MEM_64M - (rd + 300000) < 4096); /* as high as possible */
    const uint8_t *r = fix_gpa(f, rd, 300000);
    for (size_t i = 0; i < 300000; i += 1231)
        assert_int_equal(r[i], (uint8_t)(i ^ 0x5a));

    /* e820 in the zero page equals boot_e820() */
    struct e820_entry map[BOOT_E820_MAX];
    unsigned n = boot_e820(&f->vm->mem, map, BOOT_E820_MAX);
    assert_int_equal(bp->e820_entries, n);
    assert_memory_equal(bp->e820_table, map, n * sizeof(map[0]));
    fix_free(f);
}

static void bzimage_at_1mib_without_pref(void **state)
{
    struct fixture *f = fix_new(MEM_64M, 1);
    struct bz o = bz_default();
    o.pref = 0x12345;   /* unusable: below 1 MiB */
    o.version = 0x020c; /* no acpi_rsdp_addr */
    assert_int_equal(load_bz(f, &o, 0), 0);
    assert_int_equal(f->vm->boot.entry, BOOT_HIMEM + 0x200);
    struct linux_boot_params *bp = fix_gpa(f, BOOT_ZERO_PAGE, sizeof(*bp));
    assert_int_equal(bp->acpi_rsdp_addr, 0);
    assert_int_equal(bp->hdr.ramdisk_size, 0);
    assert_int_equal(bp->hdr.ramdisk_image, 0);
    assert_string_equal((char *)fix_gpa(f, BOOT_CMDLINE, 1), "");
    fix_free(f);
}

/* Check a sorted, non-overlapping map whose RAM adds up to the VM's RAM minus the BIOS hole. */
static void check_e820(uint64_t mem)
{
    struct guest_mem m;
    struct e820_entry map[BOOT_E820_MAX];
    assert_int_equal(guest_mem_init(&m, mem, false), 0);
    unsigned n = boot_e820(&m, map, BOOT_E820_MAX);
    uint64_t ram = 0;
    bool ebda = false, ecam = false, tss = false;
    for (unsigned i = 0; i < n; i++) {
        if (i)
            assert_true(map[i - 1].addr + map[i - 1].size <= map[i].addr);
        if (map[i].type == E820_RAM) {
            ram += map[i].size;
            assert_non_null(gpa_to_hva(&m, map[i].addr, map[i].size));
        }
        ebda |= map[i].type == E820_RESERVED && map[i].addr == BOOT_EBDA_START &&
                map[i].addr + map[i].size == BOOT_HIMEM;
        ecam |= map[i].type == E820_RESERVED && map[i].addr == LAYOUT_PCI_ECAM;
        tss |= map[i].type == E820_RESERVED && map[i].addr == LAYOUT_IDENTITY_MAP;
    }
    assert_true(ebda && ecam && tss);
    assert_int_equal(ram, mem - (BOOT_HIMEM - BOOT_EBDA_START));
    assert_int_equal(map[0].addr, 0);
    assert_int_equal(map[0].type, E820_RAM);
    assert_int_equal(boot_e820(&m, map, 2), 2); /* truncates to MAX */
    guest_mem_free(&m);
}

static void e820_maps(void **state)
{
    check_e820(16 * MiB);
    check_e820(MEM_64M);
    check_e820(5 * GiB); /* RAM above 4 GiB too */
}

static void pci_window_above_ram(void **state)
{
    struct guest_mem m;
    uint64_t base, size;
    assert_int_equal(guest_mem_init(&m, 5 * GiB, false), 0);
    boot_pci_mmio64(&m, &base, &size);
    assert_true(base >= guest_mem_end(&m));
    assert_int_equal(base % GiB, 0);
    assert_true(size > 0 && base + size <= LAYOUT_MAX_GPA);
    guest_mem_free(&m);
}

/* Load the crafted image O and expect RET with WHAT in the error. */
static void expect_bz_fail(struct bz o, size_t initrd, int ret, const char *what)
{
    struct fixture *f = fix_new(MEM_64M, 1);
    fix_expect_fail(f, load_bz(f, &o, initrd), ret, what);
    fix_free(f);
}

static void hostile_headers(void **state)
{
    struct bz o = bz_default();
    o.version = 0x0205;
    expect_bz_fail(o, 0, -EINVAL, "2.05 is too old");
    o = bz_default(), o.version = 0x020a;
    expect_bz_fail(o, 0, -EINVAL, "XLF_KERNEL_64");
    o = bz_default(), o.xlf = 0;
    expect_bz_fail(o, 0, -EINVAL, "64-bit");
    o = bz_default(), o.reloc = 0;
    expect_bz_fail(o, 0, -EINVAL, "not relocatable");
    o = bz_default(), o.loadflags = 0;
    expect_bz_fail(o, 0, -EINVAL, "LOADED_HIGH");
    o = bz_default(), o.setup_sects = 200;
    expect_bz_fail(o, 0, -EINVAL, "setup_sects");
    o = bz_default(), o.align = 0x3000;
    expect_bz_fail(o, 0, -EINVAL, "kernel_alignment");
    o = bz_default(), o.syssize = (uint32_t)(o.ksize / 16 + 1);
    expect_bz_fail(o, 0, -EINVAL, "truncated");
}

static void not_a_kernel(void **state)
{
    struct fixture *f = fix_new(MEM_64M, 1);
    const char text[] = "#!/bin/sh\necho this is not a kernel\n";
    uint8_t *zeros = calloc(1, 8192);
    assert_int_equal(fix_kernel(f, text, sizeof(text), false), 0);
    fix_expect_fail(f, boot_load(f->vm, f->err, sizeof(f->err)), -EINVAL, "not a kernel");
    assert_non_null(strstr(f->err, f->vm->cfg.kernel)); /* names the image */
    assert_int_equal(fix_kernel(f, zeros, 8192, false), 0);
    fix_expect_fail(f, boot_load(f->vm, f->err, sizeof(f->err)), -EINVAL, "not a kernel");
    assert_int_equal(fix_kernel(f, zeros, 0, false), 0);
    fix_expect_fail(f, boot_load(f->vm, f->err, sizeof(f->err)), -EINVAL, "not a kernel");
    snprintf(f->vm->cfg.kernel, PATH_MAX, "/nonexistent/truce/bzImage");
    fix_expect_fail(f, boot_load(f->vm, f->err, sizeof(f->err)), -ENOENT, "No such file");
    f->vm->cfg.kernel[0] = 0;
    fix_expect_fail(f, boot_load(f->vm, f->err, sizeof(f->err)), -EINVAL, "--kernel");
    free(zeros);
    fix_free(f);
}

static void truncated_images(void **state)
{
    struct bz o = bz_default();
    size_t len, cuts[] = {0x100, 0x204, 0x207, 0x230, 0x400, 5 * 512, 5 * 512 + 1000};
    uint8_t *img = make_bz(&o, &len);
    for (size_t i = 0; i < ARRAY_SIZE(cuts); i++) {
        struct fixture *f = fix_new(MEM_64M, 1);
        assert_int_equal(fix_kernel(f, img, cuts[i], false), 0);
        int rc = boot_load(f->vm, f->err, sizeof(f->err));
        fix_expect_fail(f, rc, -EINVAL, cuts[i] < 0x206 ? "not a kernel" : "truncated");
        assert_int_equal(f->vm->boot.mode, 0);
        fix_free(f);
    }
    free(img);
}

static void too_big_for_ram(void **state)
{
    struct bz o = bz_default();
    o.init_size = 60 * MiB; /* 16 MiB + 60 MiB > 64 MiB */
    expect_bz_fail(o, 0, -EFBIG, "--memory");
    /* a relocatable kernel moves up to pref_address: a hostile one cannot fit, no overflow */
    o = bz_default(), o.pref = ~0ULL - 0xfff;
    expect_bz_fail(o, 0, -EFBIG, "--memory");
}

static void initrd_errors(void **state)
{
    struct bz o = bz_default();
    /* kernel footprint ends at 24 MiB; 41 MiB cannot fit below 64 MiB */
    expect_bz_fail(o, 41 * MiB, -EFBIG, "initrd");

    struct fixture *f = fix_new(MEM_64M, 1);
    size_t len;
    uint8_t *img = make_bz(&o, &len);
    assert_int_equal(fix_kernel(f, img, len, false), 0);
    free(img);
    const char *huge = fix_file(f, NULL, 3 * GiB); /* sparse: never read */
    snprintf(f->vm->cfg.initrd, PATH_MAX, "%s", huge);
    fix_expect_fail(f, boot_load(f->vm, f->err, sizeof(f->err)), -EFBIG, "larger than");
    const char *empty = fix_file(f, "", 0);
    snprintf(f->vm->cfg.initrd, PATH_MAX, "%s", empty);
    fix_expect_fail(f, boot_load(f->vm, f->err, sizeof(f->err)), -EINVAL, "empty");
    snprintf(f->vm->cfg.initrd, PATH_MAX, "/nonexistent/initrd.img");
    fix_expect_fail(f, boot_load(f->vm, f->err, sizeof(f->err)), -ENOENT, "initrd");
    fix_free(f);

    o.initrd_max = 20 * MiB - 1; /* below the kernel's footprint: no room */
    expect_bz_fail(o, 4096, -EFBIG, "initrd");
}

static void cmdline_limits(void **state)
{
    struct fixture *f = fix_new(MEM_64M, 1);
    struct bz o = bz_default();
    o.cmdline_size = 16;
    memset(f->vm->cfg.cmdline, 'x', 16);
    assert_int_equal(load_bz(f, &o, 0), 0); /* exactly cmdline_size is fine */
    f->vm->cfg.cmdline[16] = 'y';
    fix_expect_fail(f, boot_load(f->vm, f->err, sizeof(f->err)), -EINVAL, "--cmdline");
    assert_non_null(strstr(f->err, "at most 16"));
    fix_free(f);
}

static void firmware_rom(void **state)
{
    struct fixture *f = fix_new(MEM_64M, 1);
    uint8_t *rom = malloc(256 * KiB);
    for (size_t i = 0; i < 256 * KiB; i++)
        rom[i] = (uint8_t)(i >> 8);
    /* 4 KiB ROM: ends at 1 MiB, ACPI stays at 0xE0000 */
    assert_int_equal(fix_kernel(f, rom + 252 * KiB, 4 * KiB, true), 0);
    assert_int_equal(boot_load(f->vm, f->err, sizeof(f->err)), 0);
    assert_int_equal(f->vm->boot.mode, BOOT_REAL16);
    assert_memory_equal(fix_gpa(f, BOOT_HIMEM - 4 * KiB, 4 * KiB), rom + 252 * KiB, 4 * KiB);
    assert_memory_equal(fix_gpa(f, BOOT_ACPI_START, 8), "RSD PTR ", 8);

    /* 192 KiB ROM: it covers 0xD0000-0xFFFFF, so ACPI moves to the option-ROM area */
    assert_int_equal(fix_kernel(f, rom + 64 * KiB, 192 * KiB, true), 0);
    assert_int_equal(boot_load(f->vm, f->err, sizeof(f->err)), 0);
    assert_memory_equal(fix_gpa(f, 0xd0000, 192 * KiB), rom + 64 * KiB, 192 * KiB);
    assert_memory_equal(fix_gpa(f, BOOT_ACPI_ALT, 8), "RSD PTR ", 8);

    /* 256 KiB ROM (SeaBIOS): the whole legacy window 0xC0000-0xFFFFF, no truce ACPI there */
    memset(fix_gpa(f, BOOT_ACPI_ALT, 256 * KiB), 0, 256 * KiB);
    assert_int_equal(fix_kernel(f, rom, 256 * KiB, true), 0);
    assert_int_equal(boot_load(f->vm, f->err, sizeof(f->err)), 0);
    assert_memory_equal(fix_gpa(f, BOOT_ACPI_ALT, 256 * KiB), rom, 256 * KiB);

    assert_int_equal(fix_kernel(f, rom, 8, true), 0);
    fix_expect_fail(f, boot_load(f->vm, f->err, sizeof(f->err)), -EINVAL, "too small");
    assert_int_equal(fix_kernel(f, NULL, 17 * MiB, true), 0);
    fix_expect_fail(f, boot_load(f->vm, f->err, sizeof(f->err)), -EFBIG, "larger than 16 MiB");
    struct bz o = bz_default();
    size_t len;
    uint8_t *img = make_bz(&o, &len);
    assert_int_equal(fix_kernel(f, img, len, true), 0);
    fix_expect_fail(f, boot_load(f->vm, f->err, sizeof(f->err)), -EINVAL, "--kernel");
    /* --firmware with --kernel: the kernel goes to the firmware through fw_cfg (none here) */
    snprintf(f->vm->cfg.kernel, PATH_MAX, "%s", f->vm->cfg.firmware);
    assert_int_equal(fix_kernel(f, rom, 256 * KiB, true), 0);
    fix_expect_fail(f, boot_load(f->vm, f->err, sizeof(f->err)), -EINVAL, "no fw_cfg device");
    free(img);
    free(rom);
    fix_free(f);
}

static void linux_vcpu_state(void **state)
{
    struct fixture *f = fix_new(MEM_64M, 2);
    struct bz o = bz_default();
    struct kvm_regs r, ap_r;
    struct kvm_sregs s, ap_s;
    assert_int_equal(load_bz(f, &o, 0), 0);

    memset(&r, 0xaa, sizeof(r)), memset(&s, 0, sizeof(s));
    boot_vcpu_regs(f->vm, 0, &r, &s);
    assert_int_equal(r.rip, PREF + 0x200);
    assert_int_equal(r.rsi, BOOT_ZERO_PAGE);
    assert_int_equal(r.rflags, 2);
    assert_int_equal(s.cs.selector, 0x10);
    assert_true(s.cs.l && !s.cs.db && s.cs.present && s.cs.s);
    assert_int_equal(s.ds.selector, 0x18);
    assert_int_equal(s.ss.selector, 0x18);
    assert_int_equal(s.cr0 & 0x80000001ULL, 0x80000001ULL);
    assert_int_equal(s.cr3, BOOT_PML4);
    assert_true(s.cr4 & 0x20);
    assert_int_equal(s.efer & 0x500, 0x500);
    assert_int_equal(s.gdt.base, BOOT_GDT_ADDR);

    /* the GDT entries the selectors name, and identity page tables for 4 GiB */
    const uint64_t *gdt = fix_gpa(f, BOOT_GDT_ADDR, 32);
    assert_int_equal((gdt[2] >> 53) & 1, 1); /* L bit of __BOOT_CS */
    assert_int_equal((gdt[3] >> 41) & 1, 1); /* writable __BOOT_DS */
    const uint64_t *pt = fix_gpa(f, BOOT_PML4, BOOT_PT_END - BOOT_PML4);
    assert_int_equal(pt[0] & ~0xfffULL, BOOT_PML4 + 4096);
    for (uint64_t va = 0; va < LAYOUT_4G; va += 123 * MiB + 4096) {
        uint64_t pdpte = pt[512 + (va >> 30)], pde;
        assert_true(pdpte & 1);
        pde = *(const uint64_t *)fix_gpa(f, (pdpte & ~0xfffULL) + ((va >> 21) & 511) * 8, 8);
        assert_int_equal(pde & 0x81, 0x81);
        assert_int_equal((pde & ~0x1fffffULL) | (va & 0x1fffff), va);
    }

    memset(&ap_r, 0x11, sizeof(ap_r)), memset(&ap_s, 0x22, sizeof(ap_s));
    r = ap_r, s = ap_s;
    boot_vcpu_regs(f->vm, 1, &r, &s);
    assert_memory_equal(&r, &ap_r, sizeof(r));
    assert_memory_equal(&s, &ap_s, sizeof(s));
    fix_free(f);
}

static void real_mode_state(void **state)
{
    struct fixture *f = fix_new(MEM_64M, 1);
    uint8_t rom[4096] = {0};
    struct kvm_regs r = {.rdx = 0x600};
    struct kvm_sregs s = {.cr0 = 0x60000011};
    assert_int_equal(fix_kernel(f, rom, sizeof(rom), true), 0);
    assert_int_equal(boot_load(f->vm, f->err, sizeof(f->err)), 0);
    boot_vcpu_regs(f->vm, 0, &r, &s);
    assert_int_equal(s.cs.selector, 0xf000);
    assert_int_equal(s.cs.base, 0xf0000);
    assert_int_equal(r.rip, 0xfff0);
    assert_int_equal(r.rdx, 0x600); /* reset value kept */
    assert_int_equal(s.ds.base, 0);
    assert_int_equal(s.ds.selector, 0);
    assert_int_equal(s.cr0 & 1, 0);
    assert_int_equal(s.cr0, 0x60000010);
    fix_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bzimage_zero_page), cmocka_unit_test(bzimage_at_1mib_without_pref),
        cmocka_unit_test(e820_maps),         cmocka_unit_test(pci_window_above_ram),
        cmocka_unit_test(hostile_headers),   cmocka_unit_test(not_a_kernel),
        cmocka_unit_test(truncated_images),  cmocka_unit_test(too_big_for_ram),
        cmocka_unit_test(initrd_errors),     cmocka_unit_test(cmdline_limits),
        cmocka_unit_test(firmware_rom),      cmocka_unit_test(linux_vcpu_state),
        cmocka_unit_test(real_mode_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
