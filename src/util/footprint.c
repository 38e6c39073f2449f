/* footprint.c — what a running VM keeps resident: start-up's leftovers given back, stack sizes. */
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/util.h"

struct trim_ctx {
    uintptr_t vdso;
    size_t page;
    size_t bytes;
};

/* Does OBJ have text relocations (its "read-only" segments written by the dynamic linker)? */
static bool has_textrel(const struct dl_phdr_info *obj)
{
    for (unsigned i = 0; i < obj->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &obj->dlpi_phdr[i];
        if (ph->p_type != PT_DYNAMIC)
            continue;
        for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)(obj->dlpi_addr + ph->p_vaddr);
             d->d_tag != DT_NULL; d++)
            if (d->d_tag == DT_TEXTREL || (d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_TEXTREL)))
                return true;
    }
    return false;
}

/* Drop the page-table entries of OBJ's read-only segments (code, read-only data, symbol tables).
 * A segment without PF_W is never written (no text relocations on x86-64), so its pages are the
 * file's pages in the page cache: MADV_DONTNEED unmaps them from this process and a later use
 * maps them again. Only whole pages inside the segment: nothing of a writable one is touched. */
static int trim_object(struct dl_phdr_info *obj, size_t size, void *opaque)
{
    struct trim_ctx *t = opaque;
    (void)size;
    if (obj->dlpi_addr == t->vdso && t->vdso)
        return 0;
    if (has_textrel(obj)) /* relocated code: its pages were written, leave them */
        return 0;
    for (unsigned i = 0; i < obj->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &obj->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W))
            continue;
        uintptr_t lo = obj->dlpi_addr + ph->p_vaddr;
        uintptr_t hi = lo + ph->p_memsz;
        lo = (lo + t->page - 1) & ~(uintptr_t)(t->page - 1);
        hi &= ~(uintptr_t)(t->page - 1);
        if (hi > lo && madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0)
            t->bytes += hi - lo;
    }
    return 0;
}

/* The calling thread's stack below its current frame: the pages start-up went through (parsing,
 * building the VM, loading libraries) and nothing uses now. Page by page down from the page
 * under the one holding this function's stack pointer less 256 bytes (the madvise call's return
 * address and the 128-byte red zone a leaf function may use are within that) to the first page
 * that is not mapped: a stack's mapping ends at the lowest page it ever touched, and the kernel
 * keeps a guard gap below it. A page dropped here that is used again later comes back as a zero
 * page. */
static __attribute__((noinline)) size_t trim_stack_below(size_t page)
{
    uintptr_t sp;
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
    uintptr_t p = (sp - 256) & ~(uintptr_t)(page - 1);
    size_t bytes = 0;
    for (unsigned n = 0; n < (8u << 20) / page && p > page; n++) {
        p -= page;
        if (madvise((void *)p, page, MADV_DONTNEED))
            break; /* ENOMEM: below the stack's mapping */
        bytes += page;
    }
    return bytes;
}

size_t footprint_trim(void)
{
    struct trim_ctx t = {.vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR),
                         .page = (size_t)sysconf(_SC_PAGESIZE)};
    /* under ASan glibc's malloc is not used: trimming it would only set it up, after the
     * filters (getrandom) */
#ifndef __SANITIZE_ADDRESS__
    malloc_trim(0);
#endif
    dl_iterate_phdr(trim_object, &t);
    trim_stack_below(t.page);
    return t.bytes;
}

void *page_zalloc(size_t size)
{
    void *p =
        mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void page_free(void *p, size_t size)
{
    if (p)
        munmap(p, size ? size : 1);
}

/* The calling thread's stack, noted at its start (pthread_getattr_np makes syscalls that a
 * thread's seccomp list need not allow later). */
static __thread void *stack_lo;
static __thread size_t stack_size;

struct thread_start {
    void *(*fn)(void *);
    void *arg;
};

static void *thread_trampoline(void *opaque)
{
    struct thread_start st = *(struct thread_start *)opaque;
    free(opaque);
    pthread_attr_t a;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        if (pthread_attr_getstack(&a, &stack_lo, &stack_size))
            stack_lo = NULL;
        pthread_attr_destroy(&a);
    }
    return st.fn(st.arg);
}

int thread_create(pthread_t *t, size_t stack, void *(*fn)(void *), void *arg)
{
    struct thread_start *st = malloc(sizeof(*st));
    pthread_attr_t a;
    if (!st)
        return -ENOMEM;
    *st = (struct thread_start){fn, arg};
    int rc = pthread_attr_init(&a);
    if (!rc) {
        rc = pthread_attr_setstacksize(&a, stack);
        if (!rc)
            rc = pthread_create(t, &a, thread_trampoline, st);
        pthread_attr_destroy(&a);
    }
    if (rc)
        free(st);
    return -rc;
}

size_t thread_stack_used(void)
{
    /* A thread's stack starts as zero pages (or a reused stack's old contents, which can only
     * make the figure larger): the lowest non-zero word is as deep as it went. Reading needs no
     * syscall, so a thread under its seccomp list can measure itself as it leaves. */
    const uint64_t *w = stack_lo, *end = (const uint64_t *)((const char *)stack_lo + stack_size);
    if (!w)
        return 0;
    while (w < end && *w == 0)
        w++;
    return (size_t)((const char *)end - (const char *)w);
}
