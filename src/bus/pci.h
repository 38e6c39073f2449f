/* pci.h — contracts of the PCI host bridge: config space, BARs, MSI-X and INTx for PCI functions.
 */
#ifndef TRUCE_PCI_H
#define TRUCE_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm/iobus.h"

struct vm;

/* One bus (0), 32 slots. Slot 0 is the host bridge. Devices are function 0 of their slot; the
 * chipset adds functions 1-7 of a slot with pci_dev_add_at (a multi-function device). Config space
 * is 256 bytes through mechanism #1 (PORT_PCI_CONFIG) and 4 KiB per function through ECAM
 * (LAYOUT_PCI_ECAM; bytes above 255 read as zero). */
#define PCI_SLOTS        32
#define PCI_FUNCS        8
#define PCI_CFG_SIZE     256
#define PCI_NUM_BARS     6
#define PCI_MAX_REGIONS  8 /* io_bus ranges inside the BARs of one function, all BARs */
#define PCI_MSIX_MAX_VEC 64
#define PCI_INT_PIN      0x3d /* config space: interrupt pin (1 = INTA, 0 = none) */

/* The 64-bit BAR window is the one the DSDT describes (layout_pci_mmio64, platform/layout.h): from
 * the first 1 GiB boundary at or above max(4 GiB, end of RAM), below LAYOUT_MAX_GPA. */

/* A range of a BAR handled by a device (e.g. virtio common config) or by pci.c (MSI-X). */
struct pci_region {
    uint64_t off, len; /* inside BAR bar */
    const struct io_ops *ops;
    void *opaque;
    const char *name;
    unsigned bar;
};

struct pci_bar {
    uint64_t size; /* power of 2 >= 4 KiB; 0: BAR unused */
    bool mem64;    /* 64-bit memory BAR (occupies this and the next BAR register) */
    bool prefetch;
    uint64_t addr;   /* address programmed by the guest (or assigned at creation) */
    uint64_t mapped; /* address the regions are registered at on vm->mmio; 0: not mapped */
};

/* MSI-X state (table and PBA live in a BAR of the same function). */
struct pci_msix_entry {
    uint32_t addr_lo, addr_hi, data, ctrl; /* ctrl bit 0: vector masked */
};
_Static_assert(sizeof(struct pci_msix_entry) == 16, "MSI-X table entry is 16 bytes");

/* Plain MSI (one vector; bus/pci_msi.c): mirrors of the capability's registers. */
struct pci_msi {
    uint8_t cap; /* config offset of the capability; 0: none */
    bool enabled;
    uint64_t addr;
    uint16_t data;
};

struct pci_msix {
    unsigned nvec; /* 0: no MSI-X capability */
    uint8_t cap;   /* config offset of the capability */
    unsigned bar;
    uint64_t table_off, pba_off;
    struct pci_msix_entry *table; /* nvec entries, the owner's storage (pci_msix_init) */
    uint64_t pba;                 /* pending bits */
    bool enabled, masked;         /* Message Control: MSI-X Enable, Function Mask */
};

/* Hooks of the function's owner; may be NULL. Called on the vCPU thread that did the config
 * write, with the bus lock held (do not call back into pci config from them). */
struct pci_dev_ops {
    /* BAR moved: regions are already re-registered at NEW (0 = unmapped, e.g. decoding off);
     * OLD is the previous mapping (0 = none). The transport moves its ioeventfds here. */
    void (*bar_moved)(void *opaque, unsigned bar, uint64_t old_gpa, uint64_t new_gpa);
    /* MSI-X Enable or Function Mask changed (after the change), or an MSI-X table entry was
     * written (an MMIO write, the bus lock not held; irq_lock released). */
    void (*msix_changed)(void *opaque);
    /* Config bytes [OFF, OFF + SIZE) were written (after the write mask was applied). */
    void (*cfg_written)(void *opaque, unsigned off, unsigned size);
    /* An access of SIZE bytes at OFF (0-3) of the function's config window (pci_dev.window: 4
     * bytes whose value the device computes, e.g. virtio's PCI configuration access data), after
     * the config write landed and with the bus lock released. A read returns the value. */
    uint32_t (*window_access)(void *opaque, unsigned off, unsigned size, bool write, uint32_t val);
};

struct pci_dev {
    struct pci_bus *bus;
    const char *name;
    int slot;    /* -1 until pci_dev_add */
    unsigned fn; /* function number (pci_dev_add_at) */
    uint8_t cfg[PCI_CFG_SIZE];
    uint8_t wmask[PCI_CFG_SIZE]; /* bits the guest may write (BARs handled separately) */
    uint8_t cap_end;             /* next free config offset for capabilities */
    uint8_t window;              /* config offset of the ops->window_access window; 0: none */
    struct pci_bar bar[PCI_NUM_BARS];
    /* the BARs' regions, in the order added: one table for the function (most use one BAR) */
    struct pci_region region[PCI_MAX_REGIONS];
    unsigned nregion;
    struct pci_msix msix;
    struct pci_msi msi;
    bool intx_level;          /* current INTx line level (as driven by the device) */
    pthread_mutex_t irq_lock; /* msix state and intx_level: vCPU threads vs the I/O thread */
    const struct pci_dev_ops *ops;
    void *opaque;
};

/* Interrupt delivery used by the bus; defaults to irq_msi/irq_line. Unit tests may replace them
 * to observe what would reach the irqchip without /dev/kvm. */
struct pci_irq_ops {
    int (*msi)(struct vm *vm, uint64_t addr, uint32_t data);
    int (*line)(struct vm *vm, uint32_t gsi, int level);
};

struct pci_bus {
    struct vm *vm;
    pthread_mutex_t lock; /* config space of every function, the 0xCF8 latch */
    uint32_t cf8;         /* mechanism #1 address register */
    struct pci_dev *dev[PCI_SLOTS];
    struct pci_dev *fn[PCI_SLOTS][PCI_FUNCS]; /* functions 1-7 ([s][0] unused: dev[s]) */
    struct pci_dev host;                      /* 00:00.0 */
    uint64_t mmio32_next;                     /* next free address in the 32-bit window */
    uint64_t mmio64_base, mmio64_size, mmio64_next;
    struct pci_irq_ops irq;
};

/* Create VM's bus: host bridge at slot 0, mechanism #1 ports and ECAM registered. Sets vm->pci.
 * Called by the host bridge DEVICE_CLASS; unit tests call it directly. Returns 0 or -errno. */
int pci_bus_create(struct vm *vm);
/* Unregister nothing (the io_buses die with the VM), free the bus. Idempotent. */
void pci_bus_destroy(struct vm *vm);
/* The 64-bit BAR window for VM (see above). */
void pci_mmio64_window(const struct vm *vm, uint64_t *base, uint64_t *size);

/* Describe a new function in D (zeroed first): IDs, class code 0xCCSSPP, revision, subsystem,
 * interrupt pin A, capability list start. OPS/OPAQUE may be NULL. */
void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device,
                  uint32_t class_code, uint8_t revision, uint16_t subsys_vendor, uint16_t subsys,
                  const struct pci_dev_ops *ops, void *opaque);
/* Declare memory BAR N of SIZE bytes (power of 2, >= 4 KiB); MEM64 uses BAR N+1 too. Returns 0
 * or -EINVAL. */
int pci_bar_init(struct pci_dev *d, unsigned n, uint64_t size, bool mem64, bool prefetch);
/* Let OPS handle [OFF, OFF + LEN) of BAR N (OFF relative to the BAR). Returns 0 or -EINVAL /
 * -ENOSPC. Must be called before pci_dev_add. */
int pci_bar_add_region(struct pci_dev *d, unsigned n, uint64_t off, uint64_t len,
                       const struct io_ops *ops, void *opaque, const char *name);
/* Append a capability of LEN bytes (BODY starts with the ID byte; the next pointer at BODY[1]
 * is filled in). Returns the capability's config offset, or -ENOSPC. */
int pci_add_cap(struct pci_dev *d, const void *body, size_t len);
/* Add an MSI-X capability with NVEC vectors, table at TABLE_OFF and PBA at PBA_OFF of BAR N
 * (both regions registered by pci.c). TABLE: NVEC zeroed entries that live as long as D (the
 * owner's, sized to what it uses). Returns 0 or -EINVAL / -ENOSPC. */
int pci_msix_init(struct pci_dev *d, unsigned nvec, unsigned n, uint64_t table_off,
                  uint64_t pba_off, struct pci_msix_entry *table);

/* Put D on VM's bus in the first free slot, assign its BARs (32-bit window while room, else the
 * 64-bit window), enable memory decoding as firmware would, and map the regions. Returns 0 or
 * -ENOSPC (no slot / window full) / -errno. */
int pci_dev_add(struct vm *vm, struct pci_dev *d);
/* Put D, a function without BARs, at SLOT and function FN (chipset devices at fixed places).
 * Returns 0, -EINVAL (D has BARs, bad SLOT/FN) or -EEXIST. */
int pci_dev_add_at(struct vm *vm, struct pci_dev *d, unsigned slot, unsigned fn);
/* Take D off the bus and unmap its regions (error paths and teardown). */
void pci_dev_remove(struct pci_dev *d);

/* True when MSI-X is enabled in D's capability. */
bool pci_msix_enabled(struct pci_dev *d);
/* Vector VEC's message into ADDR/DATA when it is deliverable now (MSI-X enabled, neither the
 * function nor the vector masked, nothing pending); false otherwise. Any thread. */
bool pci_msix_message(struct pci_dev *d, unsigned vec, uint64_t *addr, uint32_t *data);
/* Signal vector VEC of D: sent now, or left pending in the PBA while masked (sent on unmask).
 * Out-of-range vectors are ignored. Returns 0 or -errno from the irqchip. Any thread. */
int pci_msix_notify(struct pci_dev *d, unsigned vec);
/* Add a plain MSI capability (one vector, 64-bit address) to D (bus/pci_msi.c). Returns 0 or
 * -EINVAL / -ENOSPC. */
int pci_msi_init(struct pci_dev *d);
/* True when the guest enabled D's MSI. Any thread. */
bool pci_msi_enabled(struct pci_dev *d);
/* Send D's MSI message. Returns 0, -EINVAL (MSI not enabled) or -errno from the irqchip. Any
 * thread. */
int pci_msi_notify(struct pci_dev *d);
/* Internal to bus/: the MSI capability's registers changed (bus lock held). */
void pci_msi_written(struct pci_dev *d);
/* Drive D's INTx line (pin A, level-triggered, routed per PCI_INTX_GSI). Any thread. */
void pci_intx_set(struct pci_dev *d, bool level);

/* Config space access as the guest sees it (used by the port/ECAM handlers and unit tests).
 * SLOT selects the function, OFF < 4096, SIZE 1, 2 or 4 and naturally aligned. Absent functions
 * read as all-ones. */
uint32_t pci_cfg_read(struct pci_bus *bus, unsigned slot, unsigned off, unsigned size);
void pci_cfg_write(struct pci_bus *bus, unsigned slot, unsigned off, unsigned size, uint32_t val);
/* The same for function FN of SLOT. */
uint32_t pci_cfg_read_fn(struct pci_bus *bus, unsigned slot, unsigned fn, unsigned off,
                         unsigned size);
void pci_cfg_write_fn(struct pci_bus *bus, unsigned slot, unsigned fn, unsigned off, unsigned size,
                      uint32_t val);

/* ---- state (bus/pci_state.c) -----------------------------------------------------------------
 * The guest-visible state of a function is its config space (BAR registers, command, MSI-X
 * control included), the MSI-X table and pending bits, and the INTx level its device drives;
 * everything else in struct pci_dev is layout fixed at creation, or follows from those (BAR
 * mappings, MSI-X enable/mask). Save appends one "pci-fn" section; restore checks it against
 * D's layout (read-only bytes unchanged, BAR flags and alignment, vector counts), then remaps
 * the BARs (bar_moved hooks run) and redrives INTx. Return 0 or V's error. */
struct state_visitor;
int pci_dev_save(struct pci_dev *d, struct state_visitor *v);
int pci_dev_restore(struct pci_dev *d, struct state_visitor *v);
/* The same in steps, for owners that restore several sections all or nothing: read and check
 * the section into S (D unchanged), later make S D's state. */
struct pci_dev_state {
    uint8_t cfg[PCI_CFG_SIZE];
    struct pci_msix_entry table[PCI_MSIX_MAX_VEC];
    uint64_t pba;
    bool intx_level;
};
void pci_dev_state_load(struct pci_dev *d, struct state_visitor *v, struct pci_dev_state *s);
void pci_dev_state_set(struct pci_dev *d, const struct pci_dev_state *s);

/* Internal to bus/pci.c, pci_irq.c and pci_state.c: BAR mappings follow the BAR registers of
 * D's config image (bus lock held). */
void pci_bars_refresh(struct pci_dev *d);
/* Internal to bus/pci.c and bus/pci_irq.c: the command register's INTx Disable changed (irq_lock
 * held); the MSI-X Message Control was written (bus lock held). */
void pci_intx_apply(struct pci_dev *d);
void pci_msix_ctrl_written(struct pci_dev *d);

#endif
