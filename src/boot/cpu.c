/* cpu.c — boot CPU state per boot mode: identity page tables, GDTs, and boot_vcpu_regs(). */
#include <errno.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/boot_priv.h"
#include "boot/multiboot.h"
#include "util/util.h"
#include "vm/vm.h"

#define PTE_P  (1ULL << 0)
#define PTE_RW (1ULL << 1)
#define PTE_PS (1ULL << 7) /* 2 MiB page in a page directory */

#define CR0_PE    (1ULL << 0)
#define CR0_ET    (1ULL << 4)
#define CR0_NE    (1ULL << 5)
#define CR0_PG    (1ULL << 31)
#define CR4_PAE   (1ULL << 5)
#define EFER_LME  (1ULL << 8)
#define EFER_LMA  (1ULL << 10)
#define RFLAGS_RS 0x2ULL /* bit 1 always reads as one */

/* GDT descriptors: flat 4 GiB, base 0. */
#define GDT_CODE64  0x00af9b000000ffffULL /* present, DPL 0, execute/read, L, G */
#define GDT_CODE32  0x00cf9b000000ffffULL /* present, DPL 0, execute/read, D, G */
#define GDT_DATA    0x00cf93000000ffffULL /* present, DPL 0, read/write, B, G */
#define GDT_ENTRIES 4
_Static_assert(BOOT_GDT_ADDR + GDT_ENTRIES * 8 <= BOOT_IDT_ADDR, "GDT fits below the IDT");

/* Selectors: the 64-bit Linux protocol wants __BOOT_CS 0x10 / __BOOT_DS 0x18. */
#define SEL_LINUX_CS 0x10
#define SEL_LINUX_DS 0x18
#define SEL_PVH_CS   0x08
#define SEL_PVH_DS   0x10

#define PT_PAGES 6 /* PML4, PDPT, 4 page directories: 4 GiB in 2 MiB pages */
_Static_assert(BOOT_PT_END - BOOT_PML4 == PT_PAGES * 4096, "page table area");
_Static_assert(BOOT_PT_END <= BOOT_MPTABLE, "page tables below the EBDA");

/* Write the 4-entry GDT GDT and an empty IDT. Returns 0 or -EFAULT. */
static int write_gdt(struct vm *vm, const uint64_t gdt[GDT_ENTRIES])
{
    uint64_t idt = 0;
    if (guest_mem_write(&vm->mem, BOOT_GDT_ADDR, gdt, GDT_ENTRIES * 8) < 0 ||
        guest_mem_write(&vm->mem, BOOT_IDT_ADDR, &idt, sizeof(idt)) < 0)
        return -EFAULT;
    vm->boot.gdt = BOOT_GDT_ADDR;
    return 0;
}

int boot_setup_long_mode(struct vm *vm)
{
    const uint64_t gdt[GDT_ENTRIES] = {0, 0, GDT_CODE64, GDT_DATA};
    uint64_t *pt = gpa_to_hva(&vm->mem, BOOT_PML4, BOOT_PT_END - BOOT_PML4);
    if (!pt)
        return -EFAULT;
    memset(pt, 0, BOOT_PT_END - BOOT_PML4);

    uint64_t *pml4 = pt, *pdpt = pt + 512, *pd = pt + 1024;
    pml4[0] = (BOOT_PML4 + 4096) | PTE_P | PTE_RW;
    for (unsigned i = 0; i < 4; i++)
        pdpt[i] = (BOOT_PML4 + (2 + i) * 4096) | PTE_P | PTE_RW;
    for (uint64_t i = 0; i < 4 * 512; i++)
        pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
    vm->boot.cr3 = BOOT_PML4;
    return write_gdt(vm, gdt);
}

int boot_setup_gdt32(struct vm *vm)
{
    const uint64_t gdt[GDT_ENTRIES] = {0, GDT_CODE32, GDT_DATA, 0};
    return write_gdt(vm, gdt);
}

/* A present, flat segment register. TYPE is the descriptor type (11 code, 3 data). */
static struct kvm_segment flat_seg(uint16_t sel, uint8_t type, bool db, bool l, uint64_t base,
                                   uint32_t limit, bool g)
{
    return (struct kvm_segment){
        .base = base,
        .limit = limit,
        .selector = sel,
        .type = type,
        .present = 1,
        .dpl = 0,
        .db = db,
        .s = 1,
        .l = l,
        .g = g,
    };
}

/* Task register and LDT as after reset: present busy TSS, present LDT, both at 0. */
static void system_segs(struct kvm_sregs *s)
{
    s->tr = (struct kvm_segment){.limit = 0xffff, .type = 11, .present = 1};
    s->ldt = (struct kvm_segment){.limit = 0xffff, .type = 2, .present = 1};
}

/* Set DS, ES, FS, GS and SS to DATA. */
static void data_segs(struct kvm_sregs *s, struct kvm_segment data)
{
    s->ds = s->es = s->fs = s->gs = s->ss = data;
}

static void regs_linux64(const struct vm *vm, struct kvm_regs *r, struct kvm_sregs *s)
{
    memset(r, 0, sizeof(*r));
    r->rip = vm->boot.entry;
    r->rsi = vm->boot.rsi;
    r->rsp = r->rbp = BOOT_STACK;
    r->rflags = RFLAGS_RS;

    s->cs = flat_seg(SEL_LINUX_CS, 11, false, true, 0, 0xffffffff, true);
    data_segs(s, flat_seg(SEL_LINUX_DS, 3, true, false, 0, 0xffffffff, true));
    system_segs(s);
    s->gdt = (struct kvm_dtable){.base = vm->boot.gdt, .limit = GDT_ENTRIES * 8 - 1};
    s->idt = (struct kvm_dtable){.base = BOOT_IDT_ADDR, .limit = 0};
    s->cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
    s->cr3 = vm->boot.cr3;
    s->cr4 = CR4_PAE;
    s->efer = EFER_LME | EFER_LMA;
}

static void regs_pvh32(const struct vm *vm, struct kvm_regs *r, struct kvm_sregs *s)
{
    memset(r, 0, sizeof(*r));
    r->rip = vm->boot.entry;
    r->rbx = vm->boot.rbx;
    r->rflags = RFLAGS_RS;

    s->cs = flat_seg(SEL_PVH_CS, 11, true, false, 0, 0xffffffff, true);
    data_segs(s, flat_seg(SEL_PVH_DS, 3, true, false, 0, 0xffffffff, true));
    system_segs(s);
    s->gdt = (struct kvm_dtable){.base = vm->boot.gdt, .limit = GDT_ENTRIES * 8 - 1};
    s->idt = (struct kvm_dtable){.base = BOOT_IDT_ADDR, .limit = 0};
    s->cr0 = CR0_PE | CR0_ET;
    s->cr3 = 0;
    s->cr4 = 0;
    s->efer = 0;
}

/* ENTRY 0xffff0 runs the copy below 1 MiB (SeaBIOS); BOOT_RESET_ARCH the flash at the top of
 * 4 GiB, as after a real reset (CS base 0xffff0000: UEFI). */
static void regs_real16(uint64_t entry, struct kvm_regs *r, struct kvm_sregs *s)
{
    r->rip = 0xfff0; /* other registers keep their reset values (EDX: CPU signature) */
    r->rflags = RFLAGS_RS;

    uint64_t base = entry == BOOT_RESET_ARCH ? 0xffff0000 : 0xf0000;
    s->cs = flat_seg(0xf000, 11, false, false, base, 0xffff, false);
    data_segs(s, flat_seg(0, 3, false, false, 0, 0xffff, false));
    system_segs(s);
    s->gdt = (struct kvm_dtable){.base = 0, .limit = 0xffff};
    s->idt = (struct kvm_dtable){.base = 0, .limit = 0xffff};
    s->cr0 &= ~(CR0_PE | CR0_PG);
    s->cr4 = 0;
    s->efer = 0;
}

void boot_vcpu_regs(const struct vm *vm, unsigned id, struct kvm_regs *regs,
                    struct kvm_sregs *sregs)
{
    if (id != 0)
        return; /* APs wait for INIT/SIPI in KVM's reset state */
    switch (vm->boot.mode) {
    case BOOT_LINUX64:
        regs_linux64(vm, regs, sregs);
        break;
    case BOOT_PVH32:
        regs_pvh32(vm, regs, sregs);
        break;
    case BOOT_REAL16:
        regs_real16(vm->boot.entry, regs, sregs);
        break;
    case BOOT_MULTIBOOT32:
        regs_pvh32(vm, regs, sregs);
        regs->rax = MB_BOOTLOADER_MAGIC;
        break;
    default:
        break; /* no image loaded: leave the reset state */
    }
}
