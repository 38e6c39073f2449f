/* test_pvh.c — ELF vmlinux through the PVH note: start info, memory map, initrd module, 32-bit
 * entry state, and hostile ELF images (bad notes, huge phnum, segments outside RAM). */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "boot_fixture.h"

#define MEM_64M   (64 * MiB)
#define SEG_PADDR (2 * MiB)
#define NOTE_OFF  0x200
#define LOAD_OFF  0x1000

/* Shape of a crafted ELF image. */
struct el {
    bool elf32;
    uint16_t machine, phnum;
    uint64_t paddr, note_off, phoff;
    size_t filesz, memsz;
    uint64_t entry;
    uint32_t desc_size; /* 4 or 8: size of the PVH note value */
    bool no_note;
};

static struct el el_default(void)
{
    return (struct el){.machine = EM_X86_64,
                       .phnum = 2,
                       .paddr = SEG_PADDR,
                       .note_off = NOTE_OFF,
                       .filesz = 8192,
                       .memsz = 12288,
                       .entry = SEG_PADDR + 0x40,
                       .desc_size = 8};
}

/* Append a note NAME/TYPE/DESC at P (4-byte aligned). Returns bytes written. */
static size_t put_note(uint8_t *p, const char *name, uint32_t type, const void *desc, uint32_t dsz)
{
    Elf64_Nhdr nh = {.n_namesz = (uint32_t)strlen(name) + 1, .n_descsz = dsz, .n_type = type};
    size_t nsz = ALIGN_UP((size_t)nh.n_namesz, 4);
    memcpy(p, &nh, sizeof(nh));
    memcpy(p + sizeof(nh), name, nh.n_namesz);
    memcpy(p + sizeof(nh) + nsz, desc, dsz);
    return sizeof(nh) + nsz + ALIGN_UP((size_t)dsz, 4);
}

/* Build the image: header, PT_NOTE + PT_LOAD, notes at NOTE_OFF, segment data at LOAD_OFF. */
static uint8_t *make_elf(const struct el *o, size_t *len)
{
    *len = LOAD_OFF + o->filesz;
    uint8_t *img = calloc(1, *len);
    uint8_t notes[128];
    size_t nlen = put_note(notes, "GNU", 3, "\x01\x02\x03\x04", 4);
    assert_non_null(img);
    if (!o->no_note)
        nlen += put_note(notes + nlen, "Xen", PVH_NOTE_PHYS32, &o->entry, o->desc_size);
    memcpy(img + NOTE_OFF, notes, nlen);
    for (size_t i = 0; i < o->filesz; i++)
        img[LOAD_OFF + i] = (uint8_t)(i * 13 + 1);

    memcpy(img, ELFMAG, SELFMAG);
    img[EI_CLASS] = o->elf32 ? ELFCLASS32 : ELFCLASS64;
    img[EI_DATA] = ELFDATA2LSB;
    img[EI_VERSION] = EV_CURRENT;
    if (o->elf32) {
        Elf32_Ehdr h = {.e_type = ET_EXEC,
                        .e_machine = o->machine,
                        .e_phoff = 52,
                        .e_phentsize = sizeof(Elf32_Phdr),
                        .e_phnum = o->phnum};
        Elf32_Phdr p[2] = {
            {.p_type = PT_NOTE,
             .p_offset = (uint32_t)o->note_off,
             .p_filesz = (uint32_t)nlen,
             .p_align = 4},
            {.p_type = PT_LOAD,
             .p_offset = LOAD_OFF,
             .p_paddr = (uint32_t)o->paddr,
             .p_filesz = (uint32_t)o->filesz,
             .p_memsz = (uint32_t)o->memsz},
        };
        memcpy(h.e_ident, img, EI_NIDENT);
        memcpy(img, &h, sizeof(h));
        memcpy(img + 52, p, sizeof(p));
        return img;
    }
    Elf64_Ehdr h = {.e_type = ET_EXEC,
                    .e_machine = o->machine,
                    .e_phoff = o->phoff ? o->phoff : 64,
                    .e_phentsize = sizeof(Elf64_Phdr),
                    .e_phnum = o->phnum};
    Elf64_Phdr p[2] = {
        {.p_type = PT_NOTE, .p_offset = o->note_off, .p_filesz = nlen, .p_align = 4},
        {.p_type = PT_LOAD,
         .p_offset = LOAD_OFF,
         .p_paddr = o->paddr,
         .p_filesz = o->filesz,
         .p_memsz = o->memsz},
    };
    memcpy(h.e_ident, img, EI_NIDENT);
    memcpy(img, &h, sizeof(h));
    memcpy(img + 64, p, sizeof(p));
    return img;
}

/* Byte I of the initrd load_elf writes. */
static uint8_t rdbyte(size_t i)
{
    (void)i;
    return 0xc3;
}

/* boot_load a crafted image O (with an initrd of INITRD bytes when nonzero). */
static int load_elf(struct fixture *f, const struct el *o, size_t initrd)
{
    size_t len;
    uint8_t *img = make_elf(o, &len);
    int rc = fix_boot_load(f, img, len, initrd, rdbyte);
    free(img);
    return rc;
}

static void start_info(void **state)
{
    struct fixture *f = fix_new(MEM_64M, 2);
    struct el o = el_default();
    snprintf(f->vm->cfg.cmdline, CFG_CMDLINE_LEN, "console=hvc0");
    assert_int_equal(load_elf(f, &o, 100000), 0);
    assert_int_equal(f->vm->boot.mode, BOOT_PVH32);
    assert_int_equal(f->vm->boot.entry, SEG_PADDR + 0x40);
    assert_int_equal(f->vm->boot.rbx, BOOT_PVH_INFO);

    const struct hvm_start_info *si = fix_gpa(f, BOOT_PVH_INFO, sizeof(*si));
    assert_int_equal(si->magic, 0x336ec578);
    assert_int_equal(si->version, 1);
    assert_int_equal(si->rsdp_paddr, BOOT_ACPI_START);
    assert_string_equal((char *)fix_gpa(f, si->cmdline_paddr, 1), "console=hvc0");

    /* memory map: the same map as e820 */
    struct e820_entry map[BOOT_E820_MAX];
    unsigned n = boot_e820(&f->vm->mem, map, BOOT_E820_MAX);
    assert_int_equal(si->memmap_entries, n);
    const struct hvm_memmap_table_entry *mm = fix_gpa(f, si->memmap_paddr, n * sizeof(*mm));
    assert_non_null(mm);
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(mm[i].addr, map[i].addr);
        assert_int_equal(mm[i].size, map[i].size);
        assert_int_equal(mm[i].type, map[i].type);
        assert_int_equal(mm[i].reserved, 0);
    }

    /* module 0 is the initrd, page aligned, above the kernel, in RAM */
    assert_int_equal(si->nr_modules, 1);
    const struct hvm_modlist_entry *mod = fix_gpa(f, si->modlist_paddr, sizeof(*mod));
    assert_int_equal(mod->size, 100000);
    assert_int_equal(mod->paddr % 4096, 0);
    assert_true(mod->paddr >= SEG_PADDR + o.memsz);
    const uint8_t *rd = fix_gpa(f, mod->paddr, mod->size);
    assert_non_null(rd);
    assert_int_equal(rd[0], 0xc3);
    assert_int_equal(rd[99999], 0xc3);

    /* segment copied, the bss part zeroed */
    const uint8_t *seg = fix_gpa(f, SEG_PADDR, o.memsz);
    assert_int_equal(seg[0], 1);
    assert_int_equal(seg[100], (uint8_t)(100 * 13 + 1));
    for (size_t i = o.filesz; i < o.memsz; i++)
        assert_int_equal(seg[i], 0);
    fix_free(f);
}

static void pvh_vcpu_state(void **state)
{
    struct fixture *f = fix_new(MEM_64M, 1);
    struct el o = el_default();
    struct kvm_regs r;
    struct kvm_sregs s = {.efer = 0x500, .cr4 = 0x20};
    assert_int_equal(load_elf(f, &o, 0), 0);
    const struct hvm_start_info *si = fix_gpa(f, BOOT_PVH_INFO, sizeof(*si));
    assert_int_equal(si->nr_modules, 0);

    memset(&r, 0x5a, sizeof(r));
    boot_vcpu_regs(f->vm, 0, &r, &s);
    assert_int_equal(r.rip, SEG_PADDR + 0x40);
    assert_int_equal(r.rbx, BOOT_PVH_INFO);
    assert_int_equal(r.rflags, 2);
    assert_int_equal(s.cs.selector, 0x8);
    assert_true(s.cs.db && !s.cs.l && s.cs.g && s.cs.limit == 0xffffffff && s.cs.base == 0);
    assert_int_equal(s.ds.selector, 0x10);
    assert_int_equal(s.ss.selector, 0x10);
    assert_true(s.ds.db && s.ds.type == 3);
    assert_int_equal(s.cr0 & 0x80000001ULL, 1); /* PE, no paging */
    assert_int_equal(s.cr4, 0);
    assert_int_equal(s.efer, 0);
    const uint64_t *gdt = fix_gpa(f, s.gdt.base, 24);
    assert_int_equal((gdt[1] >> 40) & 0xff, 0x9b); /* 0x08: present code */
    assert_int_equal((gdt[2] >> 40) & 0xff, 0x93); /* 0x10: present data */
    assert_int_equal((gdt[1] >> 54) & 1, 1);       /* 32-bit */
    fix_free(f);
}

static void elf32_and_4byte_note(void **state)
{
    struct fixture *f = fix_new(MEM_64M, 1);
    struct el o = el_default();
    uint32_t entry = 0;
    o.elf32 = true, o.machine = EM_386, o.desc_size = 4;
    assert_int_equal(load_elf(f, &o, 0), 0);
    assert_int_equal(f->vm->boot.entry, SEG_PADDR + 0x40);

    size_t len;
    uint8_t *img = make_elf(&o, &len);
    assert_int_equal(pvh_find_entry(img, len, &entry, f->err, sizeof(f->err)), 0);
    assert_int_equal(entry, SEG_PADDR + 0x40);
    free(img);
    fix_free(f);
}

/* Expect the crafted image O to fail with RET and WHAT in the error line. */
static void expect_elf_fail(struct el o, uint64_t mem, int ret, const char *what)
{
    struct fixture *f = fix_new(mem, 1);
    fix_expect_fail(f, load_elf(f, &o, 0), ret, what);
    assert_int_equal(f->vm->boot.mode, 0);
    fix_free(f);
}

static void hostile_elves(void **state)
{
    struct el o = el_default();
    o.no_note = true;
    expect_elf_fail(o, MEM_64M, -EINVAL, "CONFIG_PVH");
    o = el_default(), o.note_off = 1ULL << 40; /* PT_NOTE past the end */
    expect_elf_fail(o, MEM_64M, -EINVAL, "past the end");
    o = el_default(), o.phnum = 0xffff;
    expect_elf_fail(o, MEM_64M, -EINVAL, "program headers");
    o = el_default(), o.phnum = 0;
    expect_elf_fail(o, MEM_64M, -EINVAL, "program headers");
    o = el_default(), o.phoff = ~0ULL - 8; /* overflow bait */
    expect_elf_fail(o, MEM_64M, -EINVAL, "past the end");
    o = el_default(), o.paddr = 1 * GiB, o.entry = GiB; /* outside 64 MiB of RAM */
    expect_elf_fail(o, MEM_64M, -EFBIG, "outside guest RAM");
    o = el_default(), o.paddr = MEM_64M - 4096, o.entry = o.paddr; /* straddles the end */
    expect_elf_fail(o, MEM_64M, -EFBIG, "outside guest RAM");
    o = el_default(), o.paddr = 0x8000, o.entry = 0x8000;
    expect_elf_fail(o, MEM_64M, -EINVAL, "below 1 MiB");
    o = el_default(), o.memsz = 100;
    expect_elf_fail(o, MEM_64M, -EINVAL, "more file bytes");
    o = el_default(), o.filesz = o.memsz = 1 << 20; /* segment data past the end of the file */
    struct fixture *f = fix_new(MEM_64M, 1);
    size_t len;
    uint8_t *img = make_elf(&o, &len);
    assert_int_equal(fix_kernel(f, img, len - 1, false), 0);
    assert_int_equal(boot_load(f->vm, f->err, sizeof(f->err)), -EINVAL);
    assert_non_null(strstr(f->err, "truncated: PT_LOAD 1"));
    free(img);
    fix_free(f);
    o = el_default(), o.entry = 0x300000;
    expect_elf_fail(o, MEM_64M, -EINVAL, "not inside a loaded segment");
    o = el_default(), o.entry = 0x123456789ULL;
    expect_elf_fail(o, MEM_64M, -EINVAL, "above 4 GiB");
    o = el_default(), o.desc_size = 2;
    expect_elf_fail(o, MEM_64M, -EINVAL, "2-byte");
    o = el_default(), o.machine = 40; /* ARM */
    expect_elf_fail(o, MEM_64M, -EINVAL, "not x86");
}

/* A vmlinux whose program headers, notes and segment lie past the first 64 KiB truce reads
 * ahead: the headers are read where they are, the segment straight from the file into guest RAM
 * (the image buffer never holds it), and the guest gets the same bytes. */
static void far_parts_read_from_file(void **state)
{
    enum { PH = 0x11000, NOTES = 0x12000, DATA = 0x30000 };
    struct el o = el_default();
    o.filesz = 200000, o.memsz = 210000;
    size_t len;
    uint8_t *img = make_elf(&o, &len);
    size_t big_len = DATA + o.filesz;
    uint8_t *big = calloc(1, big_len);
    assert_non_null(big);
    Elf64_Ehdr h;
    Elf64_Phdr p[2];
    memcpy(&h, img, sizeof(h));
    memcpy(p, img + 64, sizeof(p));
    h.e_phoff = PH;
    memcpy(big + NOTES, img + NOTE_OFF, p[0].p_filesz);
    memcpy(big + DATA, img + LOAD_OFF, o.filesz);
    p[0].p_offset = NOTES, p[1].p_offset = DATA;
    memcpy(big, &h, sizeof(h));
    memcpy(big + PH, p, sizeof(p));

    struct fixture *f = fix_new(MEM_64M, 1);
    assert_int_equal(fix_kernel(f, big, big_len, false), 0);
    struct boot_image im;
    assert_int_equal(boot_image_open(&im, f->vm->cfg.kernel, (64 * MiB)), 0);
    assert_true(im.fd >= 0); /* sparse: the segment is read later, into guest RAM */
    assert_int_equal(im.len, big_len);
    assert_int_equal(im.buf[DATA + 100], 0);
    boot_image_close(&im);

    assert_int_equal(boot_load(f->vm, f->err, sizeof(f->err)), 0);
    assert_int_equal(f->vm->boot.entry, SEG_PADDR + 0x40);
    const uint8_t *seg = fix_gpa(f, SEG_PADDR, o.memsz);
    for (size_t i = 0; i < o.filesz; i += 613)
        assert_int_equal(seg[i], (uint8_t)(i * 13 + 1));
    assert_int_equal(seg[o.filesz - 1], (uint8_t)((o.filesz - 1) * 13 + 1));
    for (size_t i = o.filesz; i < o.memsz; i++)
        assert_int_equal(seg[i], 0);
    free(big);
    free(img);
    fix_free(f);
}

/* An ELF without a PVH note (e.g. a multiboot one) is read whole, as before. */
static void non_pvh_elf_read_whole(void **state)
{
    struct el o = el_default();
    o.no_note = true;
    size_t len;
    uint8_t *img = make_elf(&o, &len);
    struct fixture *f = fix_new(MEM_64M, 1);
    assert_int_equal(fix_kernel(f, img, len, false), 0);
    struct boot_image im;
    assert_int_equal(boot_image_open(&im, f->vm->cfg.kernel, (64 * MiB)), 0);
    assert_int_equal(im.fd, -1);
    assert_memory_equal(im.buf, img, len);
    boot_image_close(&im);
    assert_int_equal(boot_image_open(&im, "/nonexistent/vmlinux", (64 * MiB)), -ENOENT);
    assert_int_equal(boot_image_open(&im, f->vm->cfg.kernel, len - 1), -EFBIG);
    assert_int_equal(boot_image_open(&im, "/tmp", (64 * MiB)), -EINVAL);
    free(img);
    fix_free(f);
}

static void malformed_headers(void **state)
{
    struct el o = el_default();
    size_t len;
    uint32_t entry;
    char err[256];
    uint8_t *img = make_elf(&o, &len);

    for (size_t cut = 4; cut < 64 + 2 * 56; cut += 9) /* truncated headers */
        assert_int_equal(pvh_find_entry(img, cut, &entry, err, sizeof(err)), -EINVAL);
    img[EI_DATA] = ELFDATA2MSB;
    assert_int_equal(pvh_find_entry(img, len, &entry, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "little-endian"));
    img[EI_DATA] = ELFDATA2LSB;
    ((Elf64_Ehdr *)img)->e_phentsize = 40;
    assert_int_equal(pvh_find_entry(img, len, &entry, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "e_phentsize"));
    ((Elf64_Ehdr *)img)->e_phentsize = sizeof(Elf64_Phdr);

    /* a note whose sizes run past its segment ends the walk: no entry found, no overread */
    Elf64_Nhdr *nh = (Elf64_Nhdr *)(img + NOTE_OFF);
    nh->n_namesz = 0xfffffff0;
    assert_int_equal(pvh_find_entry(img, len, &entry, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "no PVH entry note"));
    nh->n_namesz = 4, nh->n_descsz = 0xffffffff;
    assert_int_equal(pvh_find_entry(img, len, &entry, err, sizeof(err)), -EINVAL);
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(start_info),
        cmocka_unit_test(pvh_vcpu_state),
        cmocka_unit_test(elf32_and_4byte_note),
        cmocka_unit_test(hostile_elves),
        cmocka_unit_test(malformed_headers),
        cmocka_unit_test(far_parts_read_from_file),
        cmocka_unit_test(non_pvh_elf_read_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
