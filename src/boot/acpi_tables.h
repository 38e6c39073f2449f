/* acpi_tables.h — guest-visible ACPI table layouts (ACPI 6.5) shared by acpi.c, dsdt.c, tests. */
#ifndef TRUCE_ACPI_TABLES_H
#define TRUCE_ACPI_TABLES_H

#include <stddef.h>
#include <stdint.h>

struct vm;

#define ACPI_OEM_ID       "TRUCE "
#define ACPI_OEM_TABLE_ID "TRUCEVM "
#define ACPI_CREATOR_ID   "TRCE"
#define ACPI_RSDP_V1_LEN  20 /* bytes covered by the RSDP's first checksum */

#define ACPI_GAS_IO              1
#define ACPI_FADT_WBINVD         (1u << 0)
#define ACPI_FADT_PROC_C1        (1u << 2)
#define ACPI_FADT_SLP_BUTTON     (1u << 5) /* set: no sleep button */
#define ACPI_FADT_RESET_REG_SUP  (1u << 10)
#define ACPI_FADT_HW_REDUCED     (1u << 20)
#define ACPI_FADT_C2_NONE        101  /* P_LVL2_LAT above 100: no C2 */
#define ACPI_FADT_C3_NONE        1001 /* P_LVL3_LAT above 1000: no C3 */
#define ACPI_CMOS_CENTURY        0x32 /* the century byte of truce's CMOS (dev/cmos.c) */
#define ACPI_IAPC_LEGACY_DEVICES (1u << 0)
#define ACPI_IAPC_8042           (1u << 1)
#define ACPI_IAPC_NO_VGA         (1u << 2)
#define ACPI_FACS_LEN            64
#define ACPI_FACS_ALIGN          64
#define ACPI_MADT_PCAT_COMPAT    1u
#define ACPI_MADT_ENABLED        1u
#define ACPI_MADT_LAPIC          0
#define ACPI_MADT_IOAPIC         1
#define ACPI_MADT_ISO            2
#define ACPI_MADT_LAPIC_NMI      4
#define ACPI_MPS_CONFORM         0x0
#define ACPI_MPS_HIGH            0x1 /* polarity: active high */
#define ACPI_MPS_EDGE            0x4 /* trigger mode: edge */
#define ACPI_MPS_LEVEL           0xc /* trigger mode: level */
#define ACPI_XSDT_ENTRIES        3   /* FADT, MADT, MCFG */

struct acpi_header {
    char signature[4];
    uint32_t length;
    uint8_t revision;
    uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    char creator_id[4];
    uint32_t creator_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_header) == 36, "ACPI table header");

struct acpi_rsdp {
    char signature[8]; /* "RSD PTR " */
    uint8_t checksum;  /* over the first 20 bytes */
    char oem_id[6];
    uint8_t revision; /* 2: ACPI 2.0+ */
    uint32_t rsdt_addr;
    uint32_t length;
    uint64_t xsdt_addr;
    uint8_t ext_checksum; /* over all 36 bytes */
    uint8_t reserved[3];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP v2");

struct acpi_gas {
    uint8_t space_id;
    uint8_t bit_width;
    uint8_t bit_offset;
    uint8_t access_size; /* 1 = byte */
    uint64_t address;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_gas) == 12, "generic address structure");

struct acpi_xsdt {
    struct acpi_header h;
    uint64_t entry[ACPI_XSDT_ENTRIES];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_xsdt) == 36 + 8 * ACPI_XSDT_ENTRIES, "XSDT");

struct acpi_fadt {
    struct acpi_header h;
    uint32_t firmware_ctrl;
    uint32_t dsdt;
    uint8_t reserved0;
    uint8_t preferred_pm_profile;
    uint16_t sci_int;
    uint32_t smi_cmd;
    uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
    uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk;
    uint32_t pm2_cnt_blk, pm_tmr_blk, gpe0_blk, gpe1_blk;
    uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len;
    uint8_t gpe0_blk_len, gpe1_blk_len, gpe1_base, cst_cnt;
    uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
    uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
    uint16_t iapc_boot_arch;
    uint8_t reserved1;
    uint32_t flags;
    struct acpi_gas reset_reg;
    uint8_t reset_value;
    uint16_t arm_boot_arch;
    uint8_t minor_revision;
    uint64_t x_firmware_ctrl;
    uint64_t x_dsdt;
    struct acpi_gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk;
    struct acpi_gas x_pm2_cnt_blk, x_pm_tmr_blk, x_gpe0_blk, x_gpe1_blk;
    struct acpi_gas sleep_control;
    struct acpi_gas sleep_status;
    uint64_t hypervisor_id;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT revision 6");
_Static_assert(offsetof(struct acpi_fadt, sci_int) == 46, "SCI_INT");
_Static_assert(offsetof(struct acpi_fadt, pm1a_evt_blk) == 56, "PM1a_EVT_BLK");
_Static_assert(offsetof(struct acpi_fadt, pm_tmr_blk) == 76, "PM_TMR_BLK");
_Static_assert(offsetof(struct acpi_fadt, pm1_evt_len) == 88, "PM1_EVT_LEN");
_Static_assert(offsetof(struct acpi_fadt, century) == 108, "CENTURY");
_Static_assert(offsetof(struct acpi_fadt, iapc_boot_arch) == 109, "IAPC_BOOT_ARCH");
_Static_assert(offsetof(struct acpi_fadt, flags) == 112, "FADT flags");
_Static_assert(offsetof(struct acpi_fadt, reset_reg) == 116, "RESET_REG");
_Static_assert(offsetof(struct acpi_fadt, x_firmware_ctrl) == 132, "X_FIRMWARE_CTRL");
_Static_assert(offsetof(struct acpi_fadt, x_dsdt) == 140, "X_DSDT");
_Static_assert(offsetof(struct acpi_fadt, x_pm1a_evt_blk) == 148, "X_PM1a_EVT_BLK");
_Static_assert(offsetof(struct acpi_fadt, x_pm_tmr_blk) == 208, "X_PM_TMR_BLK");
_Static_assert(offsetof(struct acpi_fadt, sleep_control) == 244, "SLEEP_CONTROL_REG");
_Static_assert(offsetof(struct acpi_fadt, sleep_status) == 256, "SLEEP_STATUS_REG");

/* The Firmware ACPI Control Structure (no header checksum; 64-byte aligned). Only full ACPI (the
 * firmware machine) has one: the OS keeps its waking vector and global lock there. */
struct acpi_facs {
    char signature[4]; /* "FACS" */
    uint32_t length;
    uint32_t hardware_signature;
    uint32_t firmware_waking_vector;
    uint32_t global_lock;
    uint32_t flags;
    uint64_t x_firmware_waking_vector;
    uint8_t version;
    uint8_t reserved0[3];
    uint32_t ospm_flags;
    uint8_t reserved1[24];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_facs) == ACPI_FACS_LEN, "FACS");

struct acpi_madt {
    struct acpi_header h;
    uint32_t lapic_addr;
    uint32_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT header");

struct acpi_madt_lapic {
    uint8_t type, length, processor_uid, apic_id;
    uint32_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_lapic) == 8, "MADT processor local APIC");

struct acpi_madt_ioapic {
    uint8_t type, length, id, reserved;
    uint32_t addr;
    uint32_t gsi_base;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_ioapic) == 12, "MADT I/O APIC");

struct acpi_madt_iso {
    uint8_t type, length, bus, source;
    uint32_t gsi;
    uint16_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_iso) == 10, "MADT interrupt source override");

struct acpi_madt_nmi {
    uint8_t type, length, processor_uid;
    uint16_t flags;
    uint8_t lint;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt_nmi) == 6, "MADT local APIC NMI");

/* Bytes of the MADT for NCPUS processors: header, LAPICs, IOAPIC, 2 overrides, LAPIC NMI. */
static inline size_t acpi_madt_size(unsigned ncpus)
{
    return sizeof(struct acpi_madt) + ncpus * sizeof(struct acpi_madt_lapic) +
           sizeof(struct acpi_madt_ioapic) + 2 * sizeof(struct acpi_madt_iso) +
           sizeof(struct acpi_madt_nmi);
}

struct acpi_mcfg_alloc {
    uint64_t base;
    uint16_t segment;
    uint8_t start_bus, end_bus;
    uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_mcfg_alloc) == 16, "MCFG allocation");

struct acpi_mcfg {
    struct acpi_header h;
    uint8_t reserved[8];
    struct acpi_mcfg_alloc alloc;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_mcfg) == 60, "MCFG with one segment");

/* Fill a table header (checksum 0; the caller seals the finished table). */
void acpi_header(struct acpi_header *h, const char *sig, uint32_t len, uint8_t rev);
/* Build the DSDT for VM into BUF (CAP bytes), its \_S5 naming sleep type S5_TYP (what the
 * platform's sleep register takes for soft-off). Returns its length, or -ENOSPC / -EINVAL.
 * dsdt_build is the hardware-reduced platform's: S5_TYP ACPI_S5_SLP_TYP. */
int dsdt_build_s5(const struct vm *vm, unsigned s5_typ, uint8_t *buf, size_t cap);
int dsdt_build(const struct vm *vm, uint8_t *buf, size_t cap);

/* Where acpi_layout put each table: offsets from the RSDP at 0; END is the bytes used. FACS is
 * 0 on the hardware-reduced platform (no FACS). */
struct acpi_offsets {
    size_t xsdt, facs, fadt, madt, mcfg, dsdt, end;
};
/* Lay out every table (RSDP first) in BUF (SIZE bytes) as if it lived at guest BASE; *O (may be
 * NULL) gets the offsets. Two platforms: direct boots get hardware-reduced ACPI (a FADT with
 * sleep registers, no FACS); a VM with the PIIX4 chipset (firmware boots) gets full ACPI as a PC
 * has it: FACS, and a FADT naming the PIIX4 PM1 blocks and timer at the base the firmware
 * programmed (piix_pm_base), SCI on IRQ 9, no SMI command port. BASE must then be
 * ACPI_FACS_ALIGN-aligned. Returns the bytes used, -ENOSPC or -EINVAL. */
long acpi_layout(struct vm *vm, uint8_t *buf, size_t size, uint64_t base, struct acpi_offsets *o);

#endif
