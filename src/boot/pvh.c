/* pvh.c — ELF vmlinux through the PVH entry note: defensive ELF parsing, segments, start info. */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/boot_priv.h"
#include "util/util.h"
#include "vm/vm.h"

#define PVH_MAX_PHDRS 128

int boot_elf_parse(const uint8_t *img, size_t len, struct elf_info *e, char *err, size_t errlen)
{
    uint16_t machine, phentsize;
    if (len < EI_NIDENT || memcmp(img, ELFMAG, SELFMAG) != 0) {
        snprintf(err, errlen, "not an ELF file");
        return -EINVAL;
    }
    e->is64 = img[EI_CLASS] == ELFCLASS64;
    if ((img[EI_CLASS] != ELFCLASS64 && img[EI_CLASS] != ELFCLASS32) ||
        img[EI_DATA] != ELFDATA2LSB) {
        snprintf(err, errlen, "ELF class %u / data encoding %u is not little-endian 32/64-bit",
                 img[EI_CLASS], img[EI_DATA]);
        return -EINVAL;
    }
    if (len < (e->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr))) {
        snprintf(err, errlen, "truncated: ELF header needs %zu bytes, the file has %zu",
                 e->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr), len);
        return -EINVAL;
    }
    if (e->is64) {
        Elf64_Ehdr h;
        memcpy(&h, img, sizeof(h));
        machine = h.e_machine, phentsize = h.e_phentsize;
        e->phoff = h.e_phoff, e->phnum = h.e_phnum, e->entry = h.e_entry;
    } else {
        Elf32_Ehdr h;
        memcpy(&h, img, sizeof(h));
        machine = h.e_machine, phentsize = h.e_phentsize;
        e->phoff = h.e_phoff, e->phnum = h.e_phnum, e->entry = h.e_entry;
    }
    if (machine != EM_X86_64 && machine != EM_386) {
        snprintf(err, errlen, "ELF machine %u is not x86", machine);
        return -EINVAL;
    }
    if (phentsize != (e->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr))) {
        snprintf(err, errlen, "ELF e_phentsize %u is wrong for this class", phentsize);
        return -EINVAL;
    }
    if (e->phnum == 0 || e->phnum > PVH_MAX_PHDRS) {
        snprintf(err, errlen, "ELF has %u program headers (1 to %u accepted)", e->phnum,
                 PVH_MAX_PHDRS);
        return -EINVAL;
    }
    if (e->phoff > len || (uint64_t)e->phnum * phentsize > len - e->phoff) {
        snprintf(err, errlen,
                 "truncated: ELF program headers at 0x%llx lie past the end (%zu "
                 "bytes)",
                 (unsigned long long)e->phoff, len);
        return -EINVAL;
    }
    return 0;
}

Elf64_Phdr boot_elf_phdr(const uint8_t *img, const struct elf_info *e, unsigned i)
{
    Elf64_Phdr p;
    if (e->is64) {
        memcpy(&p, img + e->phoff + (uint64_t)i * sizeof(p), sizeof(p));
        return p;
    }
    Elf32_Phdr q;
    memcpy(&q, img + e->phoff + (uint64_t)i * sizeof(q), sizeof(q));
    return (Elf64_Phdr){.p_type = q.p_type,
                        .p_flags = q.p_flags,
                        .p_offset = q.p_offset,
                        .p_vaddr = q.p_vaddr,
                        .p_paddr = q.p_paddr,
                        .p_filesz = q.p_filesz,
                        .p_memsz = q.p_memsz,
                        .p_align = q.p_align};
}

/* Do the file bytes of segment P (program header I, named WHAT in the message) lie within the
 * LEN-byte image? Returns 0, or -EINVAL with ERR. */
static int segment_in_file(const Elf64_Phdr *p, unsigned i, const char *what, size_t len, char *err,
                           size_t errlen)
{
    if (p->p_offset <= len && p->p_filesz <= len - p->p_offset)
        return 0;
    snprintf(err, errlen,
             "%s %u (offset 0x%llx, 0x%llx bytes) lies past the end of the file (%zu bytes)", what,
             i, (unsigned long long)p->p_offset, (unsigned long long)p->p_filesz, len);
    return -EINVAL;
}

/* Walk the notes in N[0..len). Returns 1 with *ENTRY set on a PVH note, 0 when there is none,
 * or -EINVAL with ERR for a malformed PVH note. */
static int scan_notes(const uint8_t *n, uint64_t len, uint64_t align, uint32_t *entry, char *err,
                      size_t errlen)
{
    while (len >= sizeof(Elf64_Nhdr)) {
        Elf64_Nhdr nh; /* same layout as Elf32_Nhdr */
        memcpy(&nh, n, sizeof(nh));
        uint64_t name_sz = ALIGN_UP((uint64_t)nh.n_namesz, align);
        uint64_t desc_sz = ALIGN_UP((uint64_t)nh.n_descsz, align);
        if (name_sz > len - sizeof(nh) || desc_sz > len - sizeof(nh) - name_sz)
            return 0; /* a note running past its segment ends the walk */
        const uint8_t *name = n + sizeof(nh), *desc = name + name_sz;
        if (nh.n_type == PVH_NOTE_PHYS32 && nh.n_namesz == 4 && memcmp(name, "Xen", 4) == 0) {
            uint64_t v = 0;
            if (nh.n_descsz != 4 && nh.n_descsz != 8) {
                snprintf(err, errlen, "PVH entry note has a %u-byte value (4 or 8 expected)",
                         nh.n_descsz);
                return -EINVAL;
            }
            memcpy(&v, desc, nh.n_descsz);
            if (v >= LAYOUT_4G) {
                snprintf(err, errlen, "PVH entry 0x%llx is above 4 GiB", (unsigned long long)v);
                return -EINVAL;
            }
            *entry = (uint32_t)v;
            return 1;
        }
        n += sizeof(nh) + name_sz + desc_sz;
        len -= sizeof(nh) + name_sz + desc_sz;
    }
    return 0;
}

int pvh_find_entry(const uint8_t *img, size_t len, uint32_t *entry, char *err, size_t errlen)
{
    struct elf_info e;
    int ret = boot_elf_parse(img, len, &e, err, errlen);
    if (ret < 0)
        return ret;
    for (unsigned i = 0; i < e.phnum; i++) {
        Elf64_Phdr p = boot_elf_phdr(img, &e, i);
        if (p.p_type != PT_NOTE)
            continue;
        ret = segment_in_file(&p, i, "PT_NOTE", len, err, errlen);
        if (ret < 0)
            return ret;
        ret = scan_notes(img + p.p_offset, p.p_filesz, p.p_align == 8 ? 8 : 4, entry, err, errlen);
        if (ret != 0)
            return ret < 0 ? ret : 0;
    }
    snprintf(err, errlen,
             "ELF has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): build the "
             "kernel with CONFIG_PVH=y");
    return -EINVAL;
}

int boot_elf_load(struct vm *vm, const uint8_t *img, size_t len, int fd, uint32_t entry,
                  uint64_t *end, bool *has_entry, char *err, size_t errlen)
{
    struct elf_info e;
    int ret = boot_elf_parse(img, len, &e, err, errlen);
    if (ret < 0)
        return ret;
    *end = BOOT_HIMEM;
    *has_entry = false;
    for (unsigned i = 0; i < e.phnum; i++) {
        Elf64_Phdr p = boot_elf_phdr(img, &e, i);
        if (p.p_type != PT_LOAD || p.p_memsz == 0)
            continue;
        if (p.p_filesz > p.p_memsz) {
            snprintf(err, errlen,
                     "PT_LOAD %u has more file bytes (0x%llx) than memory bytes "
                     "(0x%llx)",
                     i, (unsigned long long)p.p_filesz, (unsigned long long)p.p_memsz);
            return -EINVAL;
        }
        ret = segment_in_file(&p, i, "truncated: PT_LOAD", len, err, errlen);
        if (ret < 0)
            return ret;
        if (p.p_paddr < BOOT_HIMEM) {
            snprintf(err, errlen, "PT_LOAD %u at 0x%llx overlaps the boot area below 1 MiB", i,
                     (unsigned long long)p.p_paddr);
            return -EINVAL;
        }
        uint8_t *dst = gpa_to_hva(&vm->mem, p.p_paddr, p.p_memsz);
        if (!dst) {
            snprintf(err, errlen,
                     "PT_LOAD %u [0x%llx, +0x%llx) is outside guest RAM; raise "
                     "--memory",
                     i, (unsigned long long)p.p_paddr, (unsigned long long)p.p_memsz);
            return -EFBIG;
        }
        /* read now, not behind the guest's back (lazyload.c): the kernel runs in place, from
         * pages the host may back with huge pages */
        if ((ret = boot_image_copy(dst, fd, img, p.p_offset, p.p_filesz)) < 0) {
            snprintf(err, errlen, "PT_LOAD %u: reading the file: %s", i, strerror(-ret));
            return ret;
        }
        memset(dst + p.p_filesz, 0, p.p_memsz - p.p_filesz);
        *end = MAX(*end, p.p_paddr + p.p_memsz);
        if (entry >= p.p_paddr && entry - p.p_paddr < p.p_memsz)
            *has_entry = true;
    }
    return 0;
}

/* Write hvm_start_info, its module list and memory map at BOOT_PVH_INFO. Returns 0/-EFAULT. */
static int write_start_info(struct vm *vm, uint64_t initrd, uint64_t initrd_size, uint64_t rsdp)
{
    struct e820_entry map[PVH_MEMMAP_MAX];
    struct hvm_memmap_table_entry mm[PVH_MEMMAP_MAX];
    unsigned n = boot_e820(&vm->mem, map, PVH_MEMMAP_MAX);
    for (unsigned i = 0; i < n; i++)
        mm[i] = (struct hvm_memmap_table_entry){map[i].addr, map[i].size, map[i].type, 0};

    struct hvm_modlist_entry mod = {.paddr = initrd, .size = initrd_size};
    struct hvm_start_info si = {
        .magic = PVH_START_MAGIC,
        .version = 1,
        .nr_modules = initrd_size ? 1 : 0,
        .modlist_paddr = initrd_size ? PVH_MODLIST_ADDR : 0,
        .cmdline_paddr = BOOT_CMDLINE,
        .rsdp_paddr = rsdp,
        .memmap_paddr = PVH_MEMMAP_ADDR,
        .memmap_entries = n,
    };
    if (guest_mem_write(&vm->mem, BOOT_PVH_INFO, &si, sizeof(si)) < 0 ||
        guest_mem_write(&vm->mem, PVH_MODLIST_ADDR, &mod, sizeof(mod)) < 0 ||
        guest_mem_write(&vm->mem, PVH_MEMMAP_ADDR, mm, n * sizeof(mm[0])) < 0)
        return -EFAULT;
    return 0;
}

int pvh_load(struct vm *vm, const struct boot_image *im, uint64_t rsdp, char *err, size_t errlen)
{
    const uint8_t *img = im->buf;
    size_t len = im->len;
    uint32_t entry = 0;
    uint64_t end, initrd, initrd_size;
    bool has_entry;
    int ret = pvh_find_entry(img, len, &entry, err, errlen);
    if (ret < 0)
        return ret;
    ret = boot_elf_load(vm, img, len, im->fd, entry, &end, &has_entry, err, errlen);
    if (ret < 0)
        return ret;
    if (!has_entry) {
        snprintf(err, errlen, "PVH entry 0x%x is not inside a loaded segment", entry);
        return -EINVAL;
    }
    const struct mem_region *low = &vm->mem.r[0];
    ret = boot_place_initrd(vm, end, low->gpa + low->size, &initrd, &initrd_size, err, errlen);
    if (ret < 0)
        return ret;
    if (boot_write_cmdline(vm) < 0 || write_start_info(vm, initrd, initrd_size, rsdp) < 0 ||
        boot_setup_gdt32(vm) < 0) {
        snprintf(err, errlen, "cannot write the PVH start info");
        return -EFAULT;
    }
    vm->boot.mode = BOOT_PVH32;
    vm->boot.entry = entry;
    vm->boot.rbx = BOOT_PVH_INFO;
    return 0;
}
