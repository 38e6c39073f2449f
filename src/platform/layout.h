/* layout.h — the platform: every guest physical address, I/O port and interrupt line truce uses.
 * Devices, loaders and the firmware tables that describe them take their numbers from here. */
#ifndef TRUCE_LAYOUT_H
#define TRUCE_LAYOUT_H

#include <stdint.h>

/* ---- guest physical layout ------------------------------------------------------------------
 * RAM [0, min(mem, 3 GiB)) and, for larger guests, [4 GiB, 4 GiB + rest). The 1 GiB hole below
 * 4 GiB holds Firecracker's platform devices, 32-bit PCI BARs, ECAM, the IOAPIC and LAPIC. 64-bit
 * BARs go above the end of RAM. */
#define LAYOUT_MMIO_HOLE 0xC0000000ULL /* 3 GiB */
/* The first MiB of the hole is laid out as Firecracker lays out x86_64 (arch/x86_64/layout.rs,
 * since v1.13): its boot-timer device (--boot-timer) on the first page, where Firecracker's
 * guests write, then virtio-mmio device N of the VM at LAYOUT_VIRTIO_MMIO + N * 4 KiB, its
 * interrupt on VIRTIO_MMIO_GSI(N). */
#define LAYOUT_PLATFORM_MMIO      0xC0000000ULL
#define LAYOUT_PLATFORM_MMIO_SIZE 0x100000ULL
#define LAYOUT_BOOT_TIMER         0xC0000000ULL
#define LAYOUT_BOOT_TIMER_SIZE    0x1000ULL
#define LAYOUT_VIRTIO_MMIO        0xC0001000ULL
#define LAYOUT_VIRTIO_MMIO_DEV    0x1000ULL
#define LAYOUT_VIRTIO_MMIO_SIZE   (VIRTIO_MMIO_MAX * LAYOUT_VIRTIO_MMIO_DEV)
/* 32-bit BAR window: after the platform devices, up to ECAM */
#define LAYOUT_PCI_MMIO32      (LAYOUT_PLATFORM_MMIO + LAYOUT_PLATFORM_MMIO_SIZE)
#define LAYOUT_PCI_MMIO32_SIZE (LAYOUT_PCI_ECAM - LAYOUT_PCI_MMIO32)
#define LAYOUT_PCI_ECAM        0xE0000000ULL /* ECAM, bus 0 only: 1 MiB used, 256 MiB reserved */
#define LAYOUT_PCI_ECAM_SIZE   0x10000000ULL
#define LAYOUT_IOAPIC          0xFEC00000ULL
#define LAYOUT_LAPIC           0xFEE00000ULL
#define LAYOUT_4G              0x100000000ULL
#define LAYOUT_TSS_ADDR        0xFEFFD000ULL /* KVM_SET_TSS_ADDR: 3 pages, below the flash */
#define LAYOUT_IDENTITY_MAP    0xFEFFC000ULL /* KVM_SET_IDENTITY_MAP_ADDR: 1 page */
#define LAYOUT_MAX_GPA         (1ULL << 43)  /* PVM limit; respected everywhere */
#define LAYOUT_PCI_MMIO64_SIZE (64ULL << 30) /* 64-bit BAR window, at most */

/* Fixed platform: ports and interrupts that devices use and ACPI/MP tables describe. */
#define PORT_COM1       0x3f8 /* 16550A, GSI 4 */
#define GSI_COM1        4
#define PORT_I8042_DATA 0x60 /* i8042 data, GSI 1; command/status at 0x64 */
#define PORT_I8042_CMD  0x64
#define GSI_I8042_KBD   1
#define GSI_I8042_AUX   12 /* PS/2 mouse (with a display), ACPI PNP0F13 */
/* KVM memory slots: RAM 0 and 1, the firmware ROM 8 and OVMF's flash 9 (boot/firmware.c), the
 * display's VRAM (dev/vga.c) 16, device memory (virtio-pmem, virtio-mem: vm_add_device_memory)
 * KVM_SLOT_DEVMEM + 0 .. 8 */
#define KVM_SLOT_VGA        16
#define KVM_SLOT_DEVMEM     20
#define PORT_CMOS           0x70 /* 0x70 index, 0x71 data */
#define PORT_POST           0x80
#define PORT_DEBUG_EXIT     0xf4  /* QEMU isa-debug-exit compatible */
#define PORT_PVPANIC        0x505 /* QEMU pvpanic ISA (ACPI _HID QEMU0001) */
#define PORT_DEBUGCON       0x402 /* QEMU debugcon: firmware debug output (with --firmware) */
#define PORT_FW_CFG         0x510 /* QEMU fw_cfg: 0x510 selector, 0x511 data, 0x514-0x51b DMA */
#define PORT_ACPI_SLEEP_CTL 0x600 /* HW-reduced ACPI SLEEP_CONTROL_REG (1 byte) */
#define PORT_ACPI_SLEEP_STS 0x601 /* HW-reduced ACPI SLEEP_STATUS_REG (1 byte) */
#define ACPI_S5_SLP_TYP     5     /* _S5 package value written by the guest to power off */
#define PORT_RESET          0xcf9 /* reset control: write 0x06 (also FADT RESET_REG) */
#define PORT_PCI_CONFIG     0xcf8 /* config mechanism #1: 0xcf8 address, 0xcfc-0xcff data */
/* Legacy interrupts. The IOAPIC has IOAPIC_PINS inputs, the two 8259 PICs 16. A GSI below 16 is
 * the ISA IRQ of the same number and reaches IOAPIC pin GSI, except the PIT's: on a PC the 8254
 * (ISA IRQ 0) is wired to IOAPIC pin 2, the MADT's interrupt source override and the MP table's
 * IRQ 0 entry say so, and vm/irq.c routes KVM's GSI 0 (where its in-kernel PIT fires) there. No
 * GSI reaches pin 0 or PIC input 2 (the cascade). Tables and routing read these, nothing else. */
#define IOAPIC_PINS    24
#define GSI_PIT        0
#define IOAPIC_PIN_PIT 2
#define ISA_IRQS       16
static inline unsigned layout_isa_irq_pin(unsigned irq)
{
    return irq == GSI_PIT ? IOAPIC_PIN_PIT : irq;
}
/* PCI INTx: slot S pin P (0 = INTA) -> GSI PCI_INTX_GSI_BASE + (S + P) % 4, level, active low
 * (IOAPIC pins 16-19). ACPI _PRT and the MP table are generated from this same rule. */
#define PCI_INTX_GSI_BASE       16
#define PCI_INTX_GSI(slot, pin) (PCI_INTX_GSI_BASE + ((slot) + (pin)) % 4)
/* virtio-mmio device N: GSIs 5-15 as Firecracker (IRQ 5 upward), then 20-23 where Firecracker goes
 * on with 16-19 (truce's PCI INTx pins), so at most VIRTIO_MMIO_MAX devices. The MP table names
 * every one of these pins (ISA bus, edge, active high), as Firecracker's names 0-23. */
#define VIRTIO_MMIO_GSI_BASE 5
#define VIRTIO_MMIO_MAX      15
#define VIRTIO_MMIO_GSI(n)   ((n) < 11 ? VIRTIO_MMIO_GSI_BASE + (n) : 20 + (n)-11)

_Static_assert(LAYOUT_BOOT_TIMER + LAYOUT_BOOT_TIMER_SIZE <= LAYOUT_VIRTIO_MMIO &&
                   LAYOUT_VIRTIO_MMIO + LAYOUT_VIRTIO_MMIO_SIZE <= LAYOUT_PCI_MMIO32,
               "the platform devices fit below the 32-bit BAR window");
_Static_assert(VIRTIO_MMIO_GSI(VIRTIO_MMIO_MAX - 1) < IOAPIC_PINS,
               "virtio-mmio GSIs on the IOAPIC");

/* ---- low-memory map (guest physical) -------------------------------------------------------- */
#define BOOT_GDT_ADDR     0x500ULL
#define BOOT_IDT_ADDR     0x520ULL
#define BOOT_PVH_INFO     0x6000ULL /* hvm_start_info + memmap + modules */
#define BOOT_ZERO_PAGE    0x7000ULL /* struct boot_params */
#define BOOT_PML4         0x9000ULL /* identity page tables (first 4 GiB), 0x9000-0xEFFF */
#define BOOT_PT_END       0xf000ULL /* end of the page tables */
#define BOOT_STACK        0x8ff0ULL
#define BOOT_CMDLINE      0x20000ULL /* up to CFG_CMDLINE_LEN bytes */
#define BOOT_MPTABLE      0x9fc00ULL /* EBDA: MP floating pointer + table */
#define BOOT_EBDA_START   0x9fc00ULL
#define BOOT_BIOS_START   0xe0000ULL /* ACPI RSDP + tables live in 0xE0000-0xFFFFF */
#define BOOT_ACPI_START   0xe0000ULL
#define BOOT_ACPI_ALT     0xc0000ULL /* ACPI when a firmware ROM covers 0xE0000 (option-ROM area) */
#define BOOT_RESET_VECTOR 0xffff0ULL /* F000:FFF0 */
#define BOOT_HIMEM        0x100000ULL /* 1 MiB: bzImage protected-mode code */

/* ---- the 64-bit PCI window ---------------------------------------------------------------------
 * From the first 1 GiB boundary at or above max(4 GiB, RAM_END) (the end of guest RAM), at most
 * LAYOUT_PCI_MMIO64_SIZE and below MAX_GPA (the guest CPU's reach, at most LAYOUT_MAX_GPA; SIZE 0
 * when no room is left: Linux ignores a window the CPU cannot address). The host bridge places
 * BARs there and the DSDT describes the same window. */
static inline void layout_pci_mmio64(uint64_t ram_end, uint64_t max_gpa, uint64_t *base,
                                     uint64_t *size)
{
    uint64_t lo = ram_end > LAYOUT_4G ? ram_end : LAYOUT_4G;
    uint64_t b = (lo + (1ULL << 30) - 1) & ~((1ULL << 30) - 1);
    *base = b;
    *size = b < max_gpa
                ? (max_gpa - b < LAYOUT_PCI_MMIO64_SIZE ? max_gpa - b : LAYOUT_PCI_MMIO64_SIZE)
                : 0;
}

/* ---- device memory ------------------------------------------------------------------------------
 * virtio-pmem regions and the virtio-mem region live above the largest 64-bit PCI window (so
 * neither moves a BAR), out of the e820/PVH memory map: Linux adds them itself (nvdimm region,
 * add_memory_driver_managed). Regions follow each other in device creation order, each on a
 * LAYOUT_DEVMEM_ALIGN boundary (a multiple of Linux's x86 memory block and of the 2 MiB that
 * pmem's memremap_pages needs), all below LAYOUT_MAX_GPA. */
#define LAYOUT_DEVMEM_ALIGN (1ULL << 30)
static inline uint64_t layout_devmem_base(uint64_t ram_end)
{
    uint64_t base, size;
    layout_pci_mmio64(ram_end, LAYOUT_MAX_GPA, &base, &size);
    return base + LAYOUT_PCI_MMIO64_SIZE;
}

#endif
