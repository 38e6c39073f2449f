/* multiboot.c — Multiboot v1 kernels: header checks, ELF or a.out-kludge loading, entry state. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/boot_priv.h"
#include "boot/multiboot.h"
#include "util/modlist.h"
#include "util/util.h"
#include "vm/vm.h"

/* Where the kernel landed: [start, end) including bss, and its physical entry point. */
struct mb_kernel {
    uint64_t start, end;
    uint32_t entry;
};

long multiboot_find(const uint8_t *img, size_t len, char *err, size_t errlen)
{
    long bad = -1;
    size_t limit = MIN(len, (size_t)MB_SEARCH);

    /* the whole 12-byte header lies in the first 8 KiB, 4-byte aligned */
    for (size_t off = 0; off + 4 <= limit && off + MB_HEADER_MIN <= MB_SEARCH; off += 4) {
        uint32_t w[3];
        memcpy(&w[0], img + off, 4);
        if (w[0] != MB_HEADER_MAGIC)
            continue;
        if (len - off < MB_HEADER_MIN) {
            snprintf(err, errlen,
                     "truncated: the multiboot header at offset 0x%zx needs %d bytes, "
                     "the file ends after %zu",
                     off, MB_HEADER_MIN, len - off);
            return -EINVAL;
        }
        memcpy(w, img + off, sizeof(w));
        if ((uint32_t)(w[0] + w[1] + w[2]) == 0)
            return (long)off;
        if (bad < 0)
            bad = (long)off;
    }
    if (bad < 0)
        return -ENOENT;
    uint32_t flags, sum;
    memcpy(&flags, img + bad + 4, 4);
    memcpy(&sum, img + bad + 8, 4);
    snprintf(err, errlen,
             "multiboot header at offset 0x%lx has a bad checksum: magic + flags 0x%x + "
             "checksum 0x%x is 0x%x, not 0",
             bad, flags, sum, MB_HEADER_MAGIC + flags + sum);
    return -EINVAL;
}

/* Is [ADDR, ADDR + SIZE) loadable: at or above 1 MiB, below 4 GiB, inside guest RAM? WHAT names
 * it in ERR. Returns 0, -EINVAL or -EFBIG. */
static int mb_check_range(struct vm *vm, const char *what, uint64_t addr, uint64_t size, char *err,
                          size_t errlen)
{
    if (addr < BOOT_HIMEM) {
        snprintf(err, errlen, "%s at 0x%llx overlaps the boot area below 1 MiB", what,
                 (unsigned long long)addr);
        return -EINVAL;
    }
    if (addr >= LAYOUT_4G || size > LAYOUT_4G - addr) {
        snprintf(err, errlen, "%s [0x%llx, +0x%llx) reaches above 4 GiB", what,
                 (unsigned long long)addr, (unsigned long long)size);
        return -EINVAL;
    }
    if (!gpa_to_hva(&vm->mem, addr, size)) {
        snprintf(err, errlen, "%s [0x%llx, +0x%llx) is outside guest RAM; raise --memory", what,
                 (unsigned long long)addr, (unsigned long long)size);
        return -EFBIG;
    }
    return 0;
}

/* a.out kludge: load the file from the header's addresses. OFF is the header's file offset. */
static int mb_load_aout(struct vm *vm, const uint8_t *img, size_t len, size_t off,
                        const struct mb_header *h, struct mb_kernel *k, char *err, size_t errlen)
{
    if (len - off < MB_HEADER_AOUT) {
        snprintf(err, errlen, "truncated: the multiboot a.out fields at offset 0x%zx need %d bytes",
                 off, MB_HEADER_AOUT);
        return -EINVAL;
    }
    if (h->header_addr < h->load_addr || h->header_addr - h->load_addr > off) {
        snprintf(err, errlen,
                 "multiboot header_addr 0x%x and load_addr 0x%x put the load start "
                 "outside the file (header at offset 0x%zx)",
                 h->header_addr, h->load_addr, off);
        return -EINVAL;
    }
    size_t foff = off - (h->header_addr - h->load_addr);
    uint64_t load_end = h->load_end_addr ? h->load_end_addr : h->load_addr + (uint64_t)(len - foff);
    uint64_t bss_end = h->bss_end_addr ? h->bss_end_addr : load_end;
    if (load_end <= h->load_addr || bss_end < load_end) {
        snprintf(err, errlen,
                 "multiboot addresses out of order: load_addr 0x%x, load_end_addr 0x%x, "
                 "bss_end_addr 0x%x",
                 h->load_addr, h->load_end_addr, h->bss_end_addr);
        return -EINVAL;
    }
    if (load_end - h->load_addr > len - foff) {
        snprintf(err, errlen,
                 "truncated: load_end_addr 0x%llx needs %llu bytes from offset 0x%zx, the file "
                 "has %zu",
                 (unsigned long long)load_end, (unsigned long long)(load_end - h->load_addr), foff,
                 len - foff);
        return -EINVAL;
    }
    int ret = mb_check_range(vm, "multiboot load area", h->load_addr, bss_end - h->load_addr, err,
                             errlen);
    if (ret < 0)
        return ret;
    if (h->entry_addr < h->load_addr || h->entry_addr >= load_end) {
        snprintf(err, errlen, "multiboot entry_addr 0x%x is outside the loaded [0x%x, 0x%llx)",
                 h->entry_addr, h->load_addr, (unsigned long long)load_end);
        return -EINVAL;
    }
    uint8_t *dst = gpa_to_hva(&vm->mem, h->load_addr, bss_end - h->load_addr);
    memcpy(dst, img + foff, load_end - h->load_addr);
    memset(dst + (load_end - h->load_addr), 0, bss_end - load_end);
    *k = (struct mb_kernel){.start = h->load_addr, .end = bss_end, .entry = h->entry_addr};
    return 0;
}

/* ELF: segments at their physical addresses, non-overlapping, below 4 GiB; the entry point
 * translated from its virtual address through the segment holding it. */
static int mb_load_elf(struct vm *vm, const uint8_t *img, size_t len, struct mb_kernel *k,
                       char *err, size_t errlen)
{
    struct elf_info e;
    uint64_t entry = UINT64_MAX, start = UINT64_MAX, end;
    bool has_entry;
    int ret;

    if (len < SELFMAG || memcmp(img, ELFMAG, SELFMAG) != 0) {
        snprintf(err, errlen,
                 "multiboot header without the a.out kludge (flag bit 16) needs an ELF kernel");
        return -EINVAL;
    }
    if ((ret = boot_elf_parse(img, len, &e, err, errlen)) < 0)
        return ret;
    for (unsigned i = 0; i < e.phnum; i++) {
        Elf64_Phdr p = boot_elf_phdr(img, &e, i);
        if (p.p_type != PT_LOAD || p.p_memsz == 0)
            continue;
        char what[32];
        snprintf(what, sizeof(what), "PT_LOAD %u", i);
        if ((ret = mb_check_range(vm, what, p.p_paddr, p.p_memsz, err, errlen)) < 0)
            return ret;
        for (unsigned j = 0; j < i; j++) {
            Elf64_Phdr q = boot_elf_phdr(img, &e, j);
            if (q.p_type == PT_LOAD && q.p_memsz && p.p_paddr < q.p_paddr + q.p_memsz &&
                q.p_paddr < p.p_paddr + p.p_memsz) {
                snprintf(err, errlen, "PT_LOAD %u [0x%llx, +0x%llx) overlaps PT_LOAD %u", i,
                         (unsigned long long)p.p_paddr, (unsigned long long)p.p_memsz, j);
                return -EINVAL;
            }
        }
        if (e.entry >= p.p_vaddr && e.entry - p.p_vaddr < p.p_memsz)
            entry = p.p_paddr + (e.entry - p.p_vaddr);
        start = MIN(start, p.p_paddr);
    }
    if (start == UINT64_MAX) {
        snprintf(err, errlen, "ELF has no loadable segment");
        return -EINVAL;
    }
    if (entry == UINT64_MAX) {
        snprintf(err, errlen, "ELF entry 0x%llx is not inside a loaded segment",
                 (unsigned long long)e.entry);
        return -EINVAL;
    }
    if ((ret = boot_elf_load(vm, img, len, -1, (uint32_t)entry, &end, &has_entry, err, errlen)) < 0)
        return ret;
    *k = (struct mb_kernel){.start = start, .end = end, .entry = (uint32_t)entry};
    return 0;
}

/* Check the header at OFF and load the kernel. Returns 0 or -EINVAL / -EFBIG with ERR. */
static int mb_load_kernel(struct vm *vm, const uint8_t *img, size_t len, size_t off,
                          struct mb_kernel *k, uint32_t *hflags, char *err, size_t errlen)
{
    struct mb_header h = {0};
    memcpy(&h, img + off, MIN(len - off, sizeof(h)));
    if (h.flags & MB_HF_REQUIRED & ~MB_HF_KNOWN_REQ) {
        snprintf(err, errlen, "multiboot header requires features 0x%x that truce does not know",
                 h.flags & MB_HF_REQUIRED & ~MB_HF_KNOWN_REQ);
        return -EINVAL;
    }
    *hflags = h.flags;
    if (h.flags & MB_HF_AOUT)
        return mb_load_aout(vm, img, len, off, &h, k, err, errlen);
    return mb_load_elf(vm, img, len, k, err, errlen);
}

/* The boot information being built: the string area's cursor, the module list. */
struct mb_build {
    struct mb_info info;
    struct mb_module mods[MODLIST_MAX];
    uint64_t strings; /* next free byte in [MB_STRINGS_ADDR, MB_STRINGS_END) */
};

/* Copy the NUL-terminated S into the string area. Returns its guest address, 0 when full. */
static uint32_t mb_put_string(struct vm *vm, struct mb_build *b, const char *s)
{
    size_t n = strlen(s) + 1;
    uint64_t at = b->strings;
    if (n > MB_STRINGS_END - at || guest_mem_write(&vm->mem, at, s, n) < 0)
        return 0;
    b->strings += n;
    return (uint32_t)at;
}

/* Load the modules of vm->cfg.initrd page-aligned from *NEXT up to the end of low RAM. */
static int mb_load_modules(struct vm *vm, struct mb_build *b, uint64_t next, char *err,
                           size_t errlen)
{
    char item[PATH_MAX], path[PATH_MAX];
    const char *cur = vm->cfg.initrd;
    uint64_t top = vm->mem.r[0].gpa + vm->mem.r[0].size;
    unsigned n = 0;
    int rc;

    while ((rc = modlist_next(&cur, item, sizeof(item))) > 0) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (n == MODLIST_MAX) {
            snprintf(err, errlen, "--initrd: more than %d modules", MODLIST_MAX);
            return -EINVAL;
        }
        if (modlist_path(item, path, sizeof(path)) < 0) {
            snprintf(err, errlen, "--initrd: module %u: path too long", n + 1);
            return -EINVAL;
        }
        next = ALIGN_UP(next, 4 * KiB);
        rc = next < top ? read_file(path, top - next, &buf, &len) : -EFBIG;
        if (rc < 0) {
            snprintf(err, errlen, "multiboot module %s: %s", path,
                     rc == -EFBIG ? "does not fit in guest RAM below 3 GiB; raise --memory"
                                  : strerror(-rc));
            return rc == -EFBIG ? -EFBIG : -EINVAL;
        }
        rc = guest_mem_write(&vm->mem, next, buf, len);
        free(buf);
        b->mods[n].string = mb_put_string(vm, b, item);
        if (rc < 0 || !b->mods[n].string) {
            snprintf(err, errlen, "multiboot module %s: no room for it or its command line", path);
            return -EFBIG;
        }
        b->mods[n].mod_start = (uint32_t)next;
        b->mods[n].mod_end = (uint32_t)(next + len);
        next += len;
        n++;
    }
    if (rc < 0) {
        snprintf(err, errlen, "--initrd: module %u is empty or too long", n + 1);
        return -EINVAL;
    }
    b->info.mods_count = n;
    b->info.mods_addr = n ? (uint32_t)MB_MODS_ADDR : 0;
    b->info.flags |= n ? MB_INFO_MODS : 0;
    return guest_mem_write(&vm->mem, MB_MODS_ADDR, b->mods, n * sizeof(b->mods[0]));
}

/* Memory sizes and the memory map from the e820 table truce gives every guest. */
static int mb_memory(struct vm *vm, struct mb_build *b)
{
    struct e820_entry map[BOOT_E820_MAX];
    struct mb_mmap_entry mm[BOOT_E820_MAX];
    unsigned n = boot_e820(&vm->mem, map, BOOT_E820_MAX);

    for (unsigned i = 0; i < n; i++) {
        mm[i] = (struct mb_mmap_entry){20, map[i].addr, map[i].size, map[i].type};
        if (map[i].type == E820_RAM && map[i].addr == 0)
            b->info.mem_lower = (uint32_t)MIN(map[i].size / KiB, 640);
        if (map[i].type == E820_RAM && map[i].addr == BOOT_HIMEM)
            b->info.mem_upper = (uint32_t)MIN(map[i].size / KiB, UINT32_MAX);
    }
    b->info.mmap_addr = (uint32_t)MB_MMAP_ADDR;
    b->info.mmap_length = n * (uint32_t)sizeof(mm[0]);
    b->info.flags |= MB_INFO_MEMORY | MB_INFO_MEM_MAP;
    return guest_mem_write(&vm->mem, MB_MMAP_ADDR, mm, n * sizeof(mm[0]));
}

/* The kernel's command line: its path, a space, then --cmdline (as GRUB and QEMU pass it). */
static int mb_cmdline(struct vm *vm, struct mb_build *b)
{
    char line[PATH_MAX + CFG_CMDLINE_LEN + 2];
    snprintf(line, sizeof(line), "%s%s%s", vm->cfg.kernel, vm->cfg.cmdline[0] ? " " : "",
             vm->cfg.cmdline);
    b->info.flags |= MB_INFO_CMDLINE;
    b->info.cmdline = mb_put_string(vm, b, line);
    return b->info.cmdline ? 0 : -EFBIG;
}

int multiboot_load(struct vm *vm, const uint8_t *img, size_t len, size_t off, char *err,
                   size_t errlen)
{
    struct mb_build b = {.strings = MB_STRINGS_ADDR};
    struct mb_kernel k;
    uint32_t hflags;
    int ret = mb_load_kernel(vm, img, len, off, &k, &hflags, err, errlen);
    if (ret < 0)
        return ret;
    if (hflags & MB_HF_VIDEO)
        log_info("multiboot: the kernel asks for a video mode; truce has no display and gives "
                 "no video information");
    if (vm->cfg.initrd[0] && (ret = mb_load_modules(vm, &b, k.end, err, errlen)) < 0)
        return ret;
    if (mb_memory(vm, &b) < 0 || mb_cmdline(vm, &b) < 0 ||
        guest_mem_write(&vm->mem, MB_LOADER_ADDR, "truce", 6) < 0) {
        snprintf(err, errlen, "cannot write the multiboot information (command line too long?)");
        return -EFBIG;
    }
    b.info.boot_loader_name = (uint32_t)MB_LOADER_ADDR;
    b.info.flags |= MB_INFO_LOADER;
    if (guest_mem_write(&vm->mem, MB_INFO_ADDR, &b.info, sizeof(b.info)) < 0 ||
        boot_setup_gdt32(vm) < 0) {
        snprintf(err, errlen, "cannot write the multiboot information");
        return -EFAULT;
    }
    vm->boot.mode = BOOT_MULTIBOOT32;
    vm->boot.entry = k.entry;
    vm->boot.rbx = MB_INFO_ADDR;
    log_debug("multiboot: kernel [0x%llx, 0x%llx), entry 0x%x, %u modules",
              (unsigned long long)k.start, (unsigned long long)k.end, k.entry, b.info.mods_count);
    return 0;
}
