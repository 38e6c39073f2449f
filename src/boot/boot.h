/* boot.h — contracts for loading guests: bzImage, PVH ELF, raw firmware; firmware tables. */
#ifndef TRUCE_BOOT_H
#define TRUCE_BOOT_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/layout.h"

struct vm;
struct guest_mem;

enum boot_mode {
    BOOT_LINUX64 = 1,     /* bzImage, 64-bit boot protocol: long mode, RSI = zero page */
    BOOT_PVH32 = 2,       /* ELF PVH entry: 32-bit protected mode, paging off, EBX = start info */
    BOOT_REAL16 = 3,      /* raw firmware image: real mode at F000:FFF0 */
    BOOT_MULTIBOOT32 = 4, /* multiboot v1: as PVH32 with EAX = 0x2BADB002, EBX = boot info */
};
#define BOOT_RESET_ARCH 0xfffffff0ULL /* BOOT_REAL16 entry: the flash's reset vector (UEFI) */

/* Load the configured kernel (bzImage or PVH ELF, detected from its bytes) or firmware into
 * guest memory, place initrd, command line, e820/memmap, and fill vm->boot. Builds the MP table
 * and ACPI tables. Returns 0 or <0 with one line in ERR naming the image and what is wrong. */
int boot_load(struct vm *vm, char *err, size_t errlen);
/* For a VM restored from a snapshot or a migration: what stays outside guest RAM of the boot, the
 * configured firmware mapped below 4 GiB again (and OVMF's variable flash, whose registers the
 * snapshot then restores); RAM and the vCPUs come from the snapshot. The firmware file must be
 * the one the VM booted. Nothing without firmware. Returns 0 or <0 with one line in ERR. */
int boot_restore(struct vm *vm, char *err, size_t errlen);

/* Registers and segment state for vCPU ID at power-on, according to vm->boot. For ID 0 the boot
 * protocol's entry state; APs are left in wait-for-SIPI by KVM and need nothing. REGS and SREGS
 * must hold the vCPU's reset state (KVM_GET_REGS/KVM_GET_SREGS): only what the mode defines is
 * changed (segments, descriptor tables, CR0/CR3/CR4/EFER, RIP/RFLAGS and the protocol registers).
 */
void boot_vcpu_regs(const struct vm *vm, unsigned id, struct kvm_regs *regs,
                    struct kvm_sregs *sregs);

/* ---- pure builders (unit-tested without KVM) ------------------------------------------------ */
struct e820_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
} __attribute__((packed));
_Static_assert(sizeof(struct e820_entry) == 20, "e820 entry is 20 bytes");

#define E820_RAM      1
#define E820_RESERVED 2
#define E820_ACPI     3

/* Fill OUT (room for MAX entries) with the guest's memory map. Returns the count. */
unsigned boot_e820(const struct guest_mem *m, struct e820_entry *out, unsigned max);

/* bzImage: validate the setup header of IMG. Returns 0 or -EINVAL with ERR naming the field. */
int linux_check_bzimage(const uint8_t *img, size_t len, char *err, size_t errlen);
/* ELF: find the PVH entry (XEN_ELFNOTE_PHYS32_ENTRY). Returns 0 or -EINVAL with ERR. */
int pvh_find_entry(const uint8_t *img, size_t len, uint32_t *entry, char *err, size_t errlen);

/* MP table (mptable.c) and ACPI (acpi.c), written into guest memory. Return 0 or -errno. */
int mptable_build(struct vm *vm);
/* Writes RSDP/XSDT/MADT/FADT/DSDT (+ MCFG once PCI exists); *rsdp gets the RSDP address. */
int acpi_build(struct vm *vm, uint64_t *rsdp);
/* As acpi_build, with the tables placed inside guest [BASE, LIMIT). */
int acpi_build_at(struct vm *vm, uint64_t base, uint64_t limit, uint64_t *rsdp);
/* ACPI checksum helper: the byte that makes SUM(buf) == 0. */
uint8_t acpi_checksum(const void *buf, size_t len);

/* The 64-bit PCI MMIO window the DSDT describes: it starts at the first 1 GiB boundary above RAM
 * and stays below LAYOUT_MAX_GPA. PCI BAR allocation must use the same window. */
void boot_pci_mmio64(const struct guest_mem *m, uint64_t *base, uint64_t *size);

#endif
