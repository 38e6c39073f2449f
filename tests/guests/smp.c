/* smp.c — 2-vCPU test guest: the BSP starts the AP with INIT/SIPI; both report over COM1. */
#include "lib.h"

#define LAPIC       0xfee00000u
#define LAPIC_SVR   0x0f0
#define LAPIC_ICRLO 0x300
#define LAPIC_ICRHI 0x310

extern volatile uint8_t ap_flag;
extern volatile uint8_t ap_apic_id;
extern uint8_t tramp_start[], tramp_load[], tramp_size[];

static void lapic_write(uint32_t reg, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)(LAPIC + reg) = v;
}

static uint32_t lapic_read(uint32_t reg)
{
    return *(volatile uint32_t *)(uintptr_t)(LAPIC + reg);
}

static void send_ipi(uint32_t apic, uint32_t lo)
{
    lapic_write(LAPIC_ICRHI, apic << 24);
    lapic_write(LAPIC_ICRLO, lo);
    for (int i = 0; i < 1000 && (lapic_read(LAPIC_ICRLO) & (1u << 12)); i++)
        ; /* delivery status */
}

void main32(const struct hvm_start_info *si)
{
    uint32_t a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    puts_("truce-guest: cpu0 apic id ");
    putdec(b >> 24);
    puts_(", logical cpus ");
    putdec((b >> 16) & 0xff);
    putc_('\n');
    for (uintptr_t i = 0; i < (uintptr_t)tramp_size; i++)
        tramp_start[i] = tramp_load[i]; /* the AP's real-mode code, down to 0x8000 */
    lapic_write(LAPIC_SVR, 0x1ff);
    send_ipi(1, 0x4500);        /* INIT, assert */
    send_ipi(1, 0x4600 | 0x08); /* SIPI: AP starts at 0x8000 */
    for (uint32_t i = 0; i < 300000 && !ap_flag; i++)
        __asm__ volatile("pause");
    if (!ap_flag) {
        puts_("truce-guest: FAIL cpu1 did not start\n");
        debug_exit(0x31);
    }
    puts_("truce-guest: cpu0 saw cpu1 (apic id ");
    putdec(ap_apic_id);
    puts_(")\n");
    debug_exit(ap_apic_id == 1 ? 0x30 : 0x32); /* 97 on success */
}
