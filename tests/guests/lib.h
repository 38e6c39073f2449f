/* lib.h — freestanding helpers shared by the test guests: port I/O, UART output, debug exit. */
#ifndef GUEST_LIB_H
#define GUEST_LIB_H

#include <stdint.h>

#define COM1       0x3f8
#define DEBUG_EXIT 0xf4

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline void putc_(char c)
{
    while (!(inb(COM1 + 5) & 0x20)) /* LSR.THRE */
        ;
    outb(COM1, (uint8_t)c);
}

static inline void puts_(const char *s)
{
    while (*s)
        putc_(*s++);
}

static inline void puthex(uint64_t v, int digits)
{
    for (int i = digits - 1; i >= 0; i--)
        putc_("0123456789abcdef"[(v >> (i * 4)) & 0xf]);
}

static inline void putdec(uint32_t v)
{
    char buf[11];
    int n = 0;
    do {
        buf[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        putc_(buf[--n]);
}

/* QEMU isa-debug-exit: the VMM exits with (code << 1) | 1. */
static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

/* Spin for CYCLES of the time stamp counter: a pace set by time, not by how fast the guest's
 * instructions run (KVM's emulator on a PVM host, hardware or nested SVM elsewhere). */
static inline void tsc_delay(uint64_t cycles)
{
    uint64_t end = rdtsc() + cycles;
    while (rdtsc() < end)
        ;
}

static inline __attribute__((noreturn)) void debug_exit(uint8_t code)
{
    outb(DEBUG_EXIT, code);
    for (;;)
        __asm__ volatile("cli; hlt");
}

static inline __attribute__((noreturn)) void halt_forever(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c,
                         uint32_t *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

/* True when WORD occurs anywhere in S (NULL: no), even inside a longer word (actions.c has a
 * whole-word has_word). */
static inline int contains(const char *s, const char *word)
{
    for (; s && *s; s++) {
        const char *a = s, *b = word;
        while (*b && *a == *b)
            a++, b++;
        if (!*b)
            return 1;
    }
    return 0;
}

static inline int streq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* hvm_start_info (PVH boot ABI, version 1). */
struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};

struct hvm_memmap_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};

#define HVM_START_MAGIC 0x336ec578

#endif
