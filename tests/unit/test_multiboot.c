/* test_multiboot.c — multiboot v1 kernels: header search, a.out-kludge and ELF loading, boot
 * information (memory, map, command lines, modules), entry state, and hostile headers. */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "boot/multiboot.h"
#include "boot_fixture.h"
#include "util/modlist.h"

#define MEM_64M  (64 * MiB)
#define LOAD     (2 * MiB) /* where the crafted kernels load */
#define HDR_OFF  0x40      /* the a.out image's header offset */
#define FILE_LEN 0x3000

/* A flat a.out-kludge image of FILE_LEN bytes loading at LOAD with header H (checksum fixed up
 * unless BAD_SUM). Byte i of the file is (i * 7 + 3) outside the header. */
static uint8_t *make_aout(struct mb_header h, bool bad_sum)
{
    uint8_t *img = malloc(FILE_LEN);
    assert_non_null(img);
    for (size_t i = 0; i < FILE_LEN; i++)
        img[i] = (uint8_t)(i * 7 + 3);
    h.magic = MB_HEADER_MAGIC;
    h.checksum = -(h.magic + h.flags) + (bad_sum ? 1 : 0);
    memcpy(img + HDR_OFF, &h, MB_HEADER_AOUT);
    return img;
}

static struct mb_header aout_default(void)
{
    return (struct mb_header){.flags = MB_HF_AOUT | MB_HF_PAGE_ALIGN | MB_HF_MEMORY,
                              .header_addr = LOAD + HDR_OFF,
                              .load_addr = LOAD,
                              .load_end_addr = LOAD + FILE_LEN,
                              .bss_end_addr = LOAD + FILE_LEN + 0x2000,
                              .entry_addr = LOAD + 0x100};
}

/* boot_load the image IMG of LEN bytes into a fresh 64 MiB fixture; the fixture is returned. */
static struct fixture *load(const uint8_t *img, size_t len, const char *initrd, int *rc)
{
    struct fixture *f = fix_new(MEM_64M, 1);
    assert_non_null(f);
    snprintf(f->vm->cfg.cmdline, CFG_CMDLINE_LEN, "console=ttyS0 x=1");
    if (initrd)
        snprintf(f->vm->cfg.initrd, PATH_MAX, "%s", initrd);
    *rc = fix_boot_load(f, img, len, 0, NULL);
    return f;
}

static void expect_aout_fail(struct mb_header h, bool bad_sum, size_t len, int ret,
                             const char *what)
{
    int rc;
    uint8_t *img = make_aout(h, bad_sum);
    struct fixture *f = load(img, len, NULL, &rc);
    fix_expect_fail(f, rc, ret, what);
    assert_int_equal(f->vm->boot.mode, 0);
    free(img);
    fix_free(f);
}

static void aout_boot_info_and_entry(void **state)
{
    int rc;
    uint8_t *img = make_aout(aout_default(), false);
    struct fixture *f = load(img, FILE_LEN, NULL, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(f->vm->boot.mode, BOOT_MULTIBOOT32);
    assert_int_equal(f->vm->boot.entry, LOAD + 0x100);

    /* the file at load_addr, the bss zeroed */
    const uint8_t *k = fix_gpa(f, LOAD, FILE_LEN + 0x2000);
    assert_memory_equal(k, img, FILE_LEN);
    for (size_t i = FILE_LEN; i < FILE_LEN + 0x2000; i++)
        assert_int_equal(k[i], 0);

    const struct mb_info *mi = fix_gpa(f, MB_INFO_ADDR, sizeof(*mi));
    assert_int_equal(mi->flags,
                     MB_INFO_MEMORY | MB_INFO_CMDLINE | MB_INFO_MEM_MAP | MB_INFO_LOADER);
    assert_int_equal(mi->mem_lower, 639);
    assert_int_equal(mi->mem_upper, 63 * 1024);
    assert_non_null(strstr((char *)fix_gpa(f, mi->cmdline, 1), " console=ttyS0 x=1"));
    assert_string_equal((char *)fix_gpa(f, mi->boot_loader_name, 6), "truce");

    /* the memory map is the e820 map */
    struct e820_entry map[BOOT_E820_MAX];
    unsigned n = boot_e820(&f->vm->mem, map, BOOT_E820_MAX);
    assert_int_equal(mi->mmap_length, n * sizeof(struct mb_mmap_entry));
    const struct mb_mmap_entry *mm = fix_gpa(f, mi->mmap_addr, mi->mmap_length);
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(mm[i].size, 20);
        assert_int_equal(mm[i].addr, map[i].addr);
        assert_int_equal(mm[i].len, map[i].size);
        assert_int_equal(mm[i].type, map[i].type);
    }

    struct kvm_regs r;
    struct kvm_sregs s = {.efer = 0x500, .cr4 = 0x20};
    memset(&r, 0x5a, sizeof(r));
    boot_vcpu_regs(f->vm, 0, &r, &s);
    assert_int_equal(r.rax, MB_BOOTLOADER_MAGIC);
    assert_int_equal(r.rbx, MB_INFO_ADDR);
    assert_int_equal(r.rip, LOAD + 0x100);
    assert_int_equal(r.rflags, 2); /* IF and VM clear */
    assert_true(s.cs.db && !s.cs.l && s.cs.limit == 0xffffffff && s.cs.base == 0);
    assert_true(s.ds.db && s.ss.limit == 0xffffffff && s.es.base == 0);
    assert_int_equal(s.cr0 & 0x80000001ULL, 1); /* PE, paging off */
    assert_int_equal(s.efer, 0);
    free(img);
    fix_free(f);
}

static void the_cmdline_starts_with_the_kernel_path(void **state)
{
    int rc;
    uint8_t *img = make_aout(aout_default(), false);
    struct fixture *f = load(img, FILE_LEN, NULL, &rc);
    assert_int_equal(rc, 0);
    const struct mb_info *mi = fix_gpa(f, MB_INFO_ADDR, sizeof(*mi));
    char want[PATH_MAX + 32];
    snprintf(want, sizeof(want), "%s console=ttyS0 x=1", f->vm->cfg.kernel);
    assert_string_equal((char *)fix_gpa(f, mi->cmdline, 1), want);
    free(img);
    fix_free(f);
}

static void modules_with_command_lines(void **state)
{
    struct fixture *f = fix_new(MEM_64M, 1);
    const char *a = fix_file(f, "alpha", 5), *b = fix_file(f, "bravo-module", 12);
    const char *c = fix_file(f, "", 0); /* an empty module is allowed */
    char spec[512];
    snprintf(spec, sizeof(spec), "%s one two,%s x,,y,%s", a, b, c);
    snprintf(f->vm->cfg.initrd, PATH_MAX, "%s", spec);
    uint8_t *img = make_aout(aout_default(), false);
    assert_int_equal(fix_boot_load(f, img, FILE_LEN, 0, NULL), 0);

    const struct mb_info *mi = fix_gpa(f, MB_INFO_ADDR, sizeof(*mi));
    assert_true(mi->flags & MB_INFO_MODS);
    assert_int_equal(mi->mods_count, 3);
    const struct mb_module *m = fix_gpa(f, mi->mods_addr, 3 * sizeof(*m));
    char want[300];
    snprintf(want, sizeof(want), "%s one two", a);
    assert_string_equal((char *)fix_gpa(f, m[0].string, 1), want);
    snprintf(want, sizeof(want), "%s x,y", b);
    assert_string_equal((char *)fix_gpa(f, m[1].string, 1), want);
    assert_string_equal((char *)fix_gpa(f, m[2].string, 1), c);
    assert_true(m[0].mod_start >= LOAD + FILE_LEN + 0x2000); /* above the kernel's bss */
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(m[i].mod_start % 4096, 0);
    assert_true(m[1].mod_start >= m[0].mod_end);
    assert_int_equal(m[0].mod_end - m[0].mod_start, 5);
    assert_memory_equal(fix_gpa(f, m[0].mod_start, 5), "alpha", 5);
    assert_memory_equal(fix_gpa(f, m[1].mod_start, 12), "bravo-module", 12);
    assert_int_equal(m[2].mod_end, m[2].mod_start);
    free(img);
    fix_free(f);
}

static void module_errors(void **state)
{
    uint8_t *img = make_aout(aout_default(), false);
    struct fixture *f = fix_new(16 * MiB, 1);
    const char *big = fix_file(f, NULL, 20 * MiB); /* larger than RAM */
    snprintf(f->vm->cfg.initrd, PATH_MAX, "%s", big);
    fix_expect_fail(f, fix_boot_load(f, img, FILE_LEN, 0, NULL), -EFBIG, "raise --memory");
    fix_free(f);

    f = fix_new(MEM_64M, 1);
    snprintf(f->vm->cfg.initrd, PATH_MAX, "/nonexistent/module arg");
    fix_expect_fail(f, fix_boot_load(f, img, FILE_LEN, 0, NULL), -EINVAL, "/nonexistent/module");
    fix_free(f);

    f = fix_new(MEM_64M, 1);
    const char *one = fix_file(f, "m", 1);
    char *spec = f->vm->cfg.initrd;
    spec[0] = 0;
    for (unsigned i = 0; i <= MODLIST_MAX; i++) /* one module too many */
        snprintf(spec + strlen(spec), PATH_MAX - strlen(spec), "%s%s", i ? "," : "", one);
    fix_expect_fail(f, fix_boot_load(f, img, FILE_LEN, 0, NULL), -EINVAL, "more than");
    fix_free(f);
    free(img);
}

static void hostile_aout_headers(void **state)
{
    struct mb_header h = aout_default();
    expect_aout_fail(h, true, FILE_LEN, -EINVAL, "bad checksum");
    expect_aout_fail(h, false, HDR_OFF + 20, -EINVAL, "truncated: the multiboot a.out fields");
    expect_aout_fail(h, false, HDR_OFF + 8, -EINVAL, "truncated: the multiboot header");
    expect_aout_fail(h, false, FILE_LEN - 1, -EINVAL, "truncated: load_end_addr");
    h = aout_default(), h.header_addr = LOAD - 4; /* header before load_addr */
    expect_aout_fail(h, false, FILE_LEN, -EINVAL, "outside the file");
    h = aout_default(), h.load_addr = LOAD - 0x1000; /* load start before the file */
    expect_aout_fail(h, false, FILE_LEN, -EINVAL, "outside the file");
    h = aout_default(), h.bss_end_addr = LOAD + 0x10;
    expect_aout_fail(h, false, FILE_LEN, -EINVAL, "out of order");
    h = aout_default(), h.load_end_addr = LOAD;
    expect_aout_fail(h, false, FILE_LEN, -EINVAL, "out of order");
    h = aout_default(), h.bss_end_addr = 0xfffff000; /* bss past RAM */
    expect_aout_fail(h, false, FILE_LEN, -EFBIG, "outside guest RAM");
    h = aout_default(), h.bss_end_addr = MEM_64M + 4096; /* straddles the end of RAM */
    expect_aout_fail(h, false, FILE_LEN, -EFBIG, "outside guest RAM");
    h = aout_default(), h.entry_addr = LOAD + FILE_LEN + 8; /* in the bss */
    expect_aout_fail(h, false, FILE_LEN, -EINVAL, "entry_addr");
    h = aout_default(), h.header_addr = 0x8040, h.load_addr = 0x8000, h.load_end_addr = 0xb000,
    h.bss_end_addr = 0xc000, h.entry_addr = 0x8100;
    expect_aout_fail(h, false, FILE_LEN, -EINVAL, "below 1 MiB");
    h = aout_default(), h.flags |= 0x20; /* an unknown required feature */
    expect_aout_fail(h, false, FILE_LEN, -EINVAL, "requires features 0x20");
    h = aout_default(), h.flags &= ~MB_HF_AOUT; /* no kludge and not an ELF */
    expect_aout_fail(h, false, FILE_LEN, -EINVAL, "needs an ELF kernel");
}

static void load_to_the_end_of_the_file(void **state)
{
    /* load_end_addr 0: the rest of the file; bss_end_addr 0: no bss */
    int rc;
    struct mb_header h = aout_default();
    h.load_end_addr = 0, h.bss_end_addr = 0;
    uint8_t *img = make_aout(h, false);
    struct fixture *f = load(img, FILE_LEN, NULL, &rc);
    assert_int_equal(rc, 0);
    assert_memory_equal(fix_gpa(f, LOAD, FILE_LEN), img, FILE_LEN);
    free(img);
    fix_free(f);
}

/* An ELF32 multiboot kernel with NSEG PT_LOAD segments at PADDR[i] (0x1000 bytes each, vaddr =
 * paddr + VOFF) and entry ENTRY (virtual). The header sits at file offset 0x100. */
static uint8_t *make_mb_elf(const uint64_t *paddr, unsigned nseg, uint64_t voff, uint64_t entry,
                            size_t *len)
{
    *len = 0x1000 + nseg * 0x1000;
    uint8_t *img = calloc(1, *len);
    assert_non_null(img);
    Elf32_Ehdr eh = {.e_type = ET_EXEC,
                     .e_machine = EM_386,
                     .e_entry = (uint32_t)entry,
                     .e_phoff = sizeof(Elf32_Ehdr),
                     .e_phentsize = sizeof(Elf32_Phdr),
                     .e_phnum = (uint16_t)nseg};
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS32, eh.e_ident[EI_DATA] = ELFDATA2LSB;
    memcpy(img, &eh, sizeof(eh));
    for (unsigned i = 0; i < nseg; i++) {
        Elf32_Phdr p = {.p_type = PT_LOAD,
                        .p_offset = 0x1000 + i * 0x1000,
                        .p_vaddr = (uint32_t)(paddr[i] + voff),
                        .p_paddr = (uint32_t)paddr[i],
                        .p_filesz = 0x800,
                        .p_memsz = 0x1000};
        memcpy(img + sizeof(eh) + i * sizeof(p), &p, sizeof(p));
        memset(img + p.p_offset, 0xa0 + i, 0x800);
    }
    uint32_t mh[3] = {MB_HEADER_MAGIC, MB_HF_PAGE_ALIGN, -(MB_HEADER_MAGIC + MB_HF_PAGE_ALIGN)};
    memcpy(img + 0x100, mh, sizeof(mh));
    return img;
}

static void elf_kernels(void **state)
{
    const uint64_t good[2] = {LOAD, LOAD + 0x10000};
    size_t len;
    int rc;
    /* linked at 3 GiB + paddr: the entry is translated through its segment */
    uint8_t *img = make_mb_elf(good, 2, 0xc0000000, 0xc0000000 + LOAD + 0x10010, &len);
    struct fixture *f = load(img, len, NULL, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(f->vm->boot.mode, BOOT_MULTIBOOT32);
    assert_int_equal(f->vm->boot.entry, LOAD + 0x10010);
    const uint8_t *s1 = fix_gpa(f, LOAD + 0x10000, 0x1000);
    assert_int_equal(s1[0], 0xa1);
    assert_int_equal(s1[0x7ff], 0xa1);
    assert_int_equal(s1[0x800], 0);
    free(img);
    fix_free(f);

    const uint64_t overlap[2] = {LOAD, LOAD + 0x800};
    img = make_mb_elf(overlap, 2, 0, LOAD, &len);
    f = load(img, len, NULL, &rc);
    fix_expect_fail(f, rc, -EINVAL, "overlaps PT_LOAD 0");
    free(img);
    fix_free(f);

    const uint64_t outside[1] = {512 * MiB};
    img = make_mb_elf(outside, 1, 0, 512 * MiB, &len);
    f = load(img, len, NULL, &rc);
    fix_expect_fail(f, rc, -EFBIG, "outside guest RAM");
    free(img);
    fix_free(f);

    const uint64_t low[1] = {0x7000};
    img = make_mb_elf(low, 1, 0, 0x7000, &len);
    f = load(img, len, NULL, &rc);
    fix_expect_fail(f, rc, -EINVAL, "below 1 MiB");
    free(img);
    fix_free(f);

    img = make_mb_elf(good, 2, 0, 0x500000, &len); /* entry in no segment */
    f = load(img, len, NULL, &rc);
    fix_expect_fail(f, rc, -EINVAL, "not inside a loaded segment");
    free(img);
    fix_free(f);

    img = make_mb_elf(good, 2, 0, LOAD, &len); /* segment data cut off */
    f = load(img, len - 0x900, NULL, &rc);
    fix_expect_fail(f, rc, -EINVAL, "truncated: PT_LOAD 1");
    free(img);
    fix_free(f);
}

static void header_search(void **state)
{
    uint8_t img[MB_SEARCH + 64] = {0};
    uint32_t mh[3] = {MB_HEADER_MAGIC, 0, -MB_HEADER_MAGIC};
    char err[256];
    assert_int_equal(multiboot_find(img, sizeof(img), err, sizeof(err)), -ENOENT);
    memcpy(img + MB_SEARCH - 12, mh, sizeof(mh)); /* the last place it fits in 8 KiB */
    assert_int_equal(multiboot_find(img, sizeof(img), err, sizeof(err)), MB_SEARCH - 12);
    memset(img, 0, sizeof(img));
    memcpy(img + MB_SEARCH - 8, mh, sizeof(mh)); /* runs past the first 8 KiB: not a header */
    assert_int_equal(multiboot_find(img, sizeof(img), err, sizeof(err)), -ENOENT);
    memset(img, 0, sizeof(img));
    memcpy(img + 6, mh, sizeof(mh)); /* not 4-byte aligned */
    assert_int_equal(multiboot_find(img, sizeof(img), err, sizeof(err)), -ENOENT);
    memcpy(img + 16, mh, 4); /* a broken header first, a good one after it */
    memcpy(img + 32, mh, sizeof(mh));
    assert_int_equal(multiboot_find(img, sizeof(img), err, sizeof(err)), 32);
}

static void module_list_syntax(void **state)
{
    char item[16], path[8];
    const char *cur = "a b,,c,d,,,e";
    assert_int_equal(modlist_next(&cur, item, sizeof(item)), 1);
    assert_string_equal(item, "a b,c");
    assert_int_equal(modlist_path(item, path, sizeof(path)), 0);
    assert_string_equal(path, "a");
    assert_int_equal(modlist_next(&cur, item, sizeof(item)), 1);
    assert_string_equal(item, "d,");
    assert_int_equal(modlist_next(&cur, item, sizeof(item)), 1);
    assert_string_equal(item, "e");
    assert_int_equal(modlist_next(&cur, item, sizeof(item)), 0);
    cur = ",a";
    assert_int_equal(modlist_next(&cur, item, sizeof(item)), -EINVAL);
    cur = " a";
    assert_int_equal(modlist_next(&cur, item, sizeof(item)), -EINVAL);
    cur = "0123456789abcdefXYZ";
    assert_int_equal(modlist_next(&cur, item, sizeof(item)), -ENAMETOOLONG);
    assert_int_equal(modlist_path("0123456789", path, sizeof(path)), -ENAMETOOLONG);
    assert_false(modlist_is_list("/boot/initrd.img"));
    assert_false(modlist_is_list("/a,,b"));
    assert_true(modlist_is_list("/a,/b"));
    assert_true(modlist_is_list("/a arg"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(aout_boot_info_and_entry),
        cmocka_unit_test(the_cmdline_starts_with_the_kernel_path),
        cmocka_unit_test(modules_with_command_lines),
        cmocka_unit_test(module_errors),
        cmocka_unit_test(hostile_aout_headers),
        cmocka_unit_test(load_to_the_end_of_the_file),
        cmocka_unit_test(elf_kernels),
        cmocka_unit_test(header_search),
        cmocka_unit_test(module_list_syntax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
