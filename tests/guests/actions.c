/* actions.c — test guest that does what its command line names: reset, power off, panic, echo,
 * shell, signal the boot timer. */
#include "lib.h"

/* Does the space-separated command line contain WORD? */
static int has_word(const char *cmdline, const char *word)
{
    for (const char *p = cmdline; *p;) {
        const char *w = word;
        const char *q = p;
        while (*w && *q == *w)
            q++, w++;
        if (!*w && (*q == ' ' || !*q))
            return 1;
        while (*p && *p != ' ')
            p++;
        while (*p == ' ')
            p++;
    }
    return 0;
}

/* Echo UART input as hex until 'q' arrives, then exit through debug-exit (status 193). */
static void echo(void)
{
    puts_("truce-guest: echo ready\n");
    for (;;) {
        while (!(inb(COM1 + 5) & 0x01)) /* LSR.DR */
            __asm__ volatile("pause");
        uint8_t c = inb(COM1);
        puthex(c, 2);
        putc_(' ');
        if (c == 'q') {
            putc_('\n');
            debug_exit(0x60);
        }
    }
}

/* A one-command shell on the UART for the console tests: echoes what is typed; on Enter, a line
 * "echo WORDS" answers WORDS; "exit" leaves through debug-exit (status 193). */
static void shell(void)
{
    char line[80];
    unsigned n = 0;
    puts_("truce-guest: shell ready\n$ ");
    for (;;) {
        while (!(inb(COM1 + 5) & 0x01)) /* LSR.DR */
            __asm__ volatile("pause");
        char c = (char)inb(COM1);
        if (c != '\r' && c != '\n') {
            if (n < sizeof(line) - 1)
                line[n++] = c;
            putc_(c);
            continue;
        }
        line[n] = 0;
        putc_('\n');
        if (n >= 5 && line[0] == 'e' && line[1] == 'c' && line[2] == 'h' && line[3] == 'o' &&
            line[4] == ' ') {
            puts_(line + 5);
            putc_('\n');
        } else if (n == 4 && line[0] == 'e' && line[1] == 'x' && line[2] == 'i' && line[3] == 't') {
            debug_exit(0x60);
        }
        n = 0;
        puts_("$ ");
    }
}

/* Count ticks 1..40, about 100 ms apart (2.5 * 10^8 TSC cycles), keeping a running sum in memory;
 * print the sum at the end and exit through debug-exit (status 67). A snapshot taken mid-count and
 * restored must continue the count and end with the same sum (registers, RAM, UART restored). */
static volatile uint32_t count_sum;

static void count(void)
{
    for (uint32_t i = 1; i <= 40; i++) {
        tsc_delay(250000000);
        count_sum += i;
        puts_("truce-guest: tick ");
        putdec(i);
        putc_('\n');
    }
    puts_("truce-guest: count done, sum ");
    putdec(count_sum);
    putc_('\n');
    debug_exit(0x21);
}

/* Print "s" and a 7-digit line number, lines 0, 1, 2, ... forever, as fast as the UART takes
 * them: every character is two I/O exits (LSR, THR), so a pause nearly always lands right after
 * one. Snapshots restored one after another must neither repeat nor drop a character (the lab's
 * snapshot-io-exit: under nested SVM KVM finishes an IN or OUT only at the next KVM_RUN; this
 * host's PVM-backed KVM emulates the instruction whole, so the tier here cannot see it). */
static void stream(void)
{
    for (uint32_t i = 0;; i++) {
        putc_('s');
        for (uint32_t d = 1000000; d; d /= 10)
            putc_((char)('0' + i / d % 10));
        putc_('\n');
    }
}

/* Rewrite the first word of each page of [8 MiB, 9 MiB) with the pass number, pass after pass,
 * slowly (TSC-paced), checking each page still holds the previous pass's number: a snapshot (Diff,
 * merged onto its base) or a pre-copy migration that loses a written page is caught at the next
 * pass. Ends with "dirty done" and debug-exit (67); a lost page prints FAIL and exits 1 (status 3).
 */
#define DIRTY_BASE   0x800000u
#define DIRTY_PAGES  256u
#define DIRTY_PASSES 12u

static void dirty(void)
{
    for (uint32_t pass = 1; pass <= DIRTY_PASSES; pass++) {
        for (uint32_t i = 0; i < DIRTY_PAGES; i++) {
            volatile uint32_t *w = (volatile uint32_t *)(uintptr_t)(DIRTY_BASE + i * 4096u);
            if (*w != pass - 1) {
                puts_("truce-guest: FAIL dirty page ");
                putdec(i);
                puts_(" holds ");
                putdec(*w);
                puts_(" in pass ");
                putdec(pass);
                putc_('\n');
                debug_exit(0x01);
            }
            *w = pass;
            tsc_delay(2500000); /* a pass in about 0.25 s */
        }
        puts_("truce-guest: pass ");
        putdec(pass);
        putc_('\n');
    }
    puts_("truce-guest: dirty done\n");
    debug_exit(0x21);
}

/* Print CPUID leaf 1 ECX/EDX and leaf 7 EBX (what a CPU template changes), then exit (67). */
static void show_cpuid(void)
{
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    puts_("truce-guest: cpuid 1 ecx ");
    puthex(c, 8);
    puts_(" edx ");
    puthex(d, 8);
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    puts_(" 7 ebx ");
    puthex(b, 8);
    putc_('\n');
    debug_exit(0x21);
}

void main32(const struct hvm_start_info *si)
{
    const char *cmd = (const char *)(uintptr_t)si->cmdline_paddr;
    puts_("truce-guest: actions '");
    puts_(cmd);
    puts_("'\n");
    if (has_word(cmd, "boot-timer")) /* Firecracker's boot-timer page; then the next action */
        *(volatile uint8_t *)0xc0000000u = 123;
    if (has_word(cmd, "i8042-reset"))
        outb(0x64, 0xfe);
    else if (has_word(cmd, "cf9-reset"))
        outb(0xcf9, 0x06);
    else if (has_word(cmd, "acpi-poweroff"))
        outb(0x600, (5 << 2) | (1 << 5)); /* SLP_TYP = 5 (S5), SLP_EN */
    else if (has_word(cmd, "pvpanic")) {
        if (!(inb(0x505) & 1))
            puts_("truce-guest: FAIL pvpanic does not offer PANICKED\n");
        outb(0x505, 1);
    } else if (has_word(cmd, "echo"))
        echo();
    else if (has_word(cmd, "shell"))
        shell();
    else if (has_word(cmd, "spin"))
        for (;;)
            __asm__ volatile("sti; hlt"); /* idle with interrupts on: only the host ends it */
    else if (has_word(cmd, "cpuid"))
        show_cpuid();
    else if (has_word(cmd, "count"))
        count();
    else if (has_word(cmd, "busy"))
        for (;;)
            __asm__ volatile("pause"); /* all the CPU it is given, no exit (cgroup limits) */
    else if (has_word(cmd, "stream"))
        stream();
    else if (has_word(cmd, "dirty"))
        dirty();
    else if (has_word(cmd, "exit"))
        debug_exit(0x7f);
    puts_("truce-guest: still running after the action\n");
    halt_forever();
}
