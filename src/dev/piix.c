/* piix.c — the i440FX chipset's south bridge for firmware boots: PIIX3 ISA bridge (00:01.0),
 * PIIX4 power management (00:01.3) with its ACPI PM timer, PM1 registers and SCI at the I/O base
 * the firmware programs, and port 0x92 (fast A20 and reset). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus/device.h"
#include "bus/pci.h"
#include "dev/dev.h"
#include "util/state.h"
#include "util/util.h"
#include "vm/vm.h"

#define PIIX_SLOT          1
#define PIIX3_FN           0
#define PIIX4_PM_FN        3
#define PIIX4_PMBA         0x40 /* PM I/O base: bits 15-6, bit 0 reads 1 (I/O space) */
#define PIIX4_DEVACTB      0x58 /* byte 0x5b bit 1 = APMC_EN: "SMI on APM port enabled" */
#define PIIX4_PMREGMISC    0x80 /* bit 0: PM I/O space enabled */
#define PM_IO_LEN          0x40
#define PM_TIMER_HZ        3579545ULL
#define PM1_CNT_SCI_EN     (1u << 0) /* always 1: no SMM, so the chipset is always in ACPI mode */
#define PM1_CNT_SLP_EN     (1u << 13)
#define PM1_CNT_SLP_TYP(v) (((v) >> 10) & 7)
#define PM1_PWRBTN         (1u << 8) /* PWRBTN_STS in PM1_STS, PWRBTN_EN in PM1_EN */
#define PM1_EN_MASK        0x0721u   /* TMR_EN, GBL_EN, PWRBTN_EN, SLPBTN_EN, RTC_EN */
#define PM1_STS_MASK       0x8731u   /* the status bits of those, BM_STS and WAK_STS */
#define PORT_92            0x92      /* bit 0: fast reset, bit 1: A20 */

/* The PM I/O block, PIIX4 layout. Pieces are registered one by one at the programmed base, so
 * that a piece landing on a port something else already uses is skipped (and logged), not fatal.
 * The FADT names PM1 event, PM1 control and the timer (piix_pm_base); the GPE piece reads 0. */
enum pm_piece { PM_EVT, PM_CNT, PM_TMR, PM_GPE, PM_PIECES };
static const struct {
    unsigned off, len;
    const char *name;
} pm_pieces[PM_PIECES] = {
    [PM_EVT] = {PIIX4_PM1_EVT_OFF, PIIX4_PM1_EVT_LEN, "piix4-pm1-evt"},
    [PM_CNT] = {PIIX4_PM1_CNT_OFF, PIIX4_PM1_CNT_LEN, "piix4-pm1-cnt"},
    [PM_TMR] = {PIIX4_PM_TMR_OFF, PIIX4_PM_TMR_LEN, "piix4-pm-tmr"},
    [PM_GPE] = {0x0c, PM_IO_LEN - 0x0c, "piix4-gpe"},
};

/* Guest-visible registers besides config space (version 1). */
struct piix_regs {
    uint16_t pm1_sts, pm1_en, pm1_cnt;
    uint8_t port92;
};

struct piix {
    struct vm *vm;
    struct pci_dev isa, pm;
    pthread_mutex_t lock; /* regs, mapped, sci */
    struct piix_regs regs;
    bool sci;                 /* the level last put on the SCI line (derived from regs) */
    uint16_t mapped;          /* base the block is registered at (0: none) */
    bool piece_on[PM_PIECES]; /* which pieces are registered there */
};

/* ---- the PM I/O block ------------------------------------------------------------------------ */

static uint32_t pm_timer_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned __int128 ns = (unsigned __int128)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    return (uint32_t)(ns * PM_TIMER_HZ / 1000000000u) & 0xffffff;
}

static void put_bytes(uint8_t *data, unsigned size, uint32_t v)
{
    for (unsigned i = 0; i < size; i++)
        data[i] = i < 4 ? (uint8_t)(v >> (8 * i)) : 0;
}

static uint32_t get_bytes(const uint8_t *data, unsigned size)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size && i < 4; i++)
        v |= (uint32_t)data[i] << (8 * i);
    return v;
}

/* Put the SCI (ISA IRQ 9, level, active high: the MADT's override) at what PM1_STS & PM1_EN
 * say; PM1_CNT.SCI_EN is always set (p->lock held). */
static void sci_update(struct piix *p)
{
    bool level = (p->regs.pm1_sts & p->regs.pm1_en & PM1_EN_MASK) != 0;
    if (level == p->sci)
        return;
    p->sci = level;
    irq_line(p->vm, PIIX4_SCI_IRQ, level); /* fails only without a VM fd (unit tests) */
}

static void evt_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct piix *p = opaque;
    pthread_mutex_lock(&p->lock);
    uint32_t v = p->regs.pm1_sts | (uint32_t)p->regs.pm1_en << 16;
    pthread_mutex_unlock(&p->lock);
    put_bytes(data, size, v >> (8 * off));
}

static void evt_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct piix *p = opaque;
    uint32_t v = get_bytes(data, size) << (8 * off);
    uint32_t mask = (size >= 4 ? 0xffffffffu : ((1u << (8 * size)) - 1)) << (8 * off);
    pthread_mutex_lock(&p->lock);
    if (mask & 0xffff)
        p->regs.pm1_sts &= (uint16_t) ~(v & mask); /* write 1 to clear */
    if (mask >> 16) {
        uint32_t en = (p->regs.pm1_en & ~(mask >> 16)) | ((v & mask) >> 16);
        p->regs.pm1_en = (uint16_t)(en & PM1_EN_MASK);
    }
    sci_update(p);
    pthread_mutex_unlock(&p->lock);
}

static void cnt_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct piix *p = opaque;
    pthread_mutex_lock(&p->lock);
    uint32_t v = p->regs.pm1_cnt | PM1_CNT_SCI_EN;
    pthread_mutex_unlock(&p->lock);
    put_bytes(data, size, v >> (8 * off));
}

/* PM1_CNT: SLP_EN with sleep type PIIX4_S5_SLP_TYP (0) is PIIX4's soft-off (the DSDT's _S5 under
 * firmware, as QEMU's), as OVMF's ResetSystem(EfiResetShutdown) and Linux's poweroff do it;
 * other sleep types are not supported. */
static void cnt_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct piix *p = opaque;
    uint32_t v = get_bytes(data, size) << (8 * off);
    uint32_t mask = (size >= 2 ? 0xffffu : 0xffu) << (8 * off);
    pthread_mutex_lock(&p->lock);
    p->regs.pm1_cnt = (uint16_t)(((p->regs.pm1_cnt & ~mask) | (v & mask)) & ~PM1_CNT_SLP_EN);
    pthread_mutex_unlock(&p->lock);
    if (!(v & mask & PM1_CNT_SLP_EN))
        return;
    if (PM1_CNT_SLP_TYP(v) == PIIX4_S5_SLP_TYP)
        vm_request_stop(p->vm, TRUCE_EXIT_POWEROFF, "guest powered off (PIIX4 PM1_CNT)");
    else
        log_warn("piix4-pm: sleep type %u is not supported", PM1_CNT_SLP_TYP(v));
}

static void tmr_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    put_bytes(data, size, pm_timer_now() >> (8 * off));
}

static void ignore_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
}

static void zero_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    memset(data, 0, size);
}

static const struct io_ops pm_piece_ops[PM_PIECES] = {
    [PM_EVT] = {.read = evt_read, .write = evt_write},
    [PM_CNT] = {.read = cnt_read, .write = cnt_write},
    [PM_TMR] = {.read = tmr_read, .write = ignore_write},
    [PM_GPE] = {.read = zero_read, .write = ignore_write}, /* no GPE sources */
};

/* Unregister the block (p->lock held). */
static void pm_unmap(struct piix *p)
{
    for (unsigned i = 0; i < PM_PIECES; i++)
        if (p->piece_on[i])
            io_bus_unregister(&p->vm->pio, p->mapped + pm_pieces[i].off);
    memset(p->piece_on, 0, sizeof(p->piece_on));
    p->mapped = 0;
}

/* Make the registration follow PMBA and PMREGMISC (p->lock held). */
static void pm_remap(struct piix *p)
{
    uint16_t base = (uint16_t)(get_le32(p->pm.cfg + PIIX4_PMBA) & 0xffc0);
    bool on = (p->pm.cfg[PIIX4_PMREGMISC] & 1) && base;
    if (on && base == p->mapped)
        return;
    pm_unmap(p);
    if (!on)
        return;
    for (unsigned i = 0; i < PM_PIECES; i++) {
        int rc = io_bus_register(&p->vm->pio, base + pm_pieces[i].off, pm_pieces[i].len,
                                 &pm_piece_ops[i], p, pm_pieces[i].name);
        p->piece_on[i] = rc == 0;
        if (rc)
            log_debug("piix4-pm: %s not at port 0x%x: %s", pm_pieces[i].name,
                      base + pm_pieces[i].off, strerror(-rc));
    }
    p->mapped = base;
    log_debug("piix4-pm: PM I/O block at port 0x%x", base);
}

static void pm_cfg_written(void *opaque, unsigned off, unsigned size)
{
    struct piix *p = opaque;
    if ((off < PIIX4_PMBA + 4 && off + size > PIIX4_PMBA) ||
        (off <= PIIX4_PMREGMISC && off + size > PIIX4_PMREGMISC)) {
        pthread_mutex_lock(&p->lock);
        pm_remap(p);
        pthread_mutex_unlock(&p->lock);
    }
}

static const struct pci_dev_ops pm_pci_ops = {.cfg_written = pm_cfg_written};

/* ---- port 0x92 ------------------------------------------------------------------------------ */

static void port92_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct piix *p = opaque;
    pthread_mutex_lock(&p->lock);
    data[0] = p->regs.port92;
    pthread_mutex_unlock(&p->lock);
}

static void port92_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct piix *p = opaque;
    pthread_mutex_lock(&p->lock);
    p->regs.port92 = data[0] & 0x02; /* A20 is always on in a KVM guest; the bit reads back */
    pthread_mutex_unlock(&p->lock);
    if (data[0] & 0x01)
        vm_request_stop(p->vm, TRUCE_EXIT_REBOOT, "guest reset through port 0x92");
}

static const struct io_ops port92_ops = {.read = port92_read, .write = port92_write};

/* ---- the device ----------------------------------------------------------------------------- */

static void piix_regs_visit(struct state_visitor *v, struct piix_regs *r)
{
    if (!state_begin(v, "piix", 1))
        return;
    STATE_U16(v, r->pm1_sts);
    STATE_U16(v, r->pm1_en);
    STATE_U16(v, r->pm1_cnt);
    STATE_U8(v, r->port92);
    state_end(v);
}

static int piix_save(void *dev, struct state_visitor *v)
{
    struct piix *p = dev;
    pthread_mutex_lock(&p->lock);
    struct piix_regs r = p->regs;
    pthread_mutex_unlock(&p->lock);
    piix_regs_visit(v, &r);
    if (!state_error(v))
        pci_dev_save(&p->isa, v);
    if (!state_error(v))
        pci_dev_save(&p->pm, v);
    return state_error(v);
}

static int piix_restore(void *dev, struct state_visitor *v)
{
    struct piix *p = dev;
    struct piix_regs r = {0};
    struct pci_dev_state isa, pm;
    piix_regs_visit(v, &r);
    pci_dev_state_load(&p->isa, v, &isa);
    pci_dev_state_load(&p->pm, v, &pm);
    if (state_error(v))
        return state_error(v);
    pci_dev_state_set(&p->isa, &isa);
    pci_dev_state_set(&p->pm, &pm);
    pthread_mutex_lock(&p->lock);
    p->regs = r;
    p->regs.pm1_sts &= PM1_STS_MASK;
    p->regs.pm1_en &= PM1_EN_MASK;
    pm_remap(p);
    p->sci = false; /* a fresh VM's line is low: raised again only if the state says so */
    sci_update(p);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

static void piix_destroy(void *dev)
{
    struct piix *p = dev; /* its port ranges die with the VM's io_bus */
    pci_dev_remove(&p->pm);
    pci_dev_remove(&p->isa);
    pthread_mutex_destroy(&p->isa.irq_lock);
    pthread_mutex_destroy(&p->pm.irq_lock);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static const struct device_ops piix_ops = {
    .name = "piix",
    .save = piix_save,
    .restore = piix_restore,
    .destroy = piix_destroy,
};

/* Describe the two functions (config space as QEMU's i440FX machine shows them). */
static void piix_init_functions(struct piix *p)
{
    pci_dev_init(&p->isa, "piix3-isa", 0x8086, 0x7000, 0x060100, 0, 0x1af4, 0x1100, NULL, NULL);
    p->isa.cfg[0x0e] = 0x80; /* multi-function: firmware looks for function 3 */
    p->isa.cfg[PCI_INT_PIN] = 0;
    memset(p->isa.wmask + 0x40, 0xff, PCI_CFG_SIZE - 0x40); /* PIRQ routing etc.: kept */
    pci_dev_init(&p->pm, "piix4-pm", 0x8086, 0x7113, 0x068000, 3, 0x1af4, 0x1100, &pm_pci_ops, p);
    p->pm.cfg[PCI_INT_PIN] = 1;
    memset(p->pm.wmask + 0x44, 0xff, PCI_CFG_SIZE - 0x44);
    put_le32(p->pm.cfg + PIIX4_PMBA, 1); /* I/O space indicator */
    p->pm.wmask[PIIX4_PMBA] = 0xc0;
    p->pm.wmask[PIIX4_PMBA + 1] = 0xff;
    p->pm.cfg[PIIX4_DEVACTB + 3] = 0x02; /* APMC_EN: no SMM, so SeaBIOS skips its SMI set-up */
    p->pm.wmask[PIIX4_DEVACTB + 3] = 0xfd;
    p->pm.wmask[PIIX4_PMREGMISC] = 0x01;
}

/* Only firmware boots get the chipset (the host bridge is then an i440FX, bus/pci_host.c):
 * direct kernel boots keep the minimal machine. */
static int piix_create(struct vm *vm, char *err, size_t errlen)
{
    if (!vm->cfg.firmware[0] || !vm->pci)
        return 0;
    struct piix *p = calloc(1, sizeof(*p));
    if (!p)
        return snprintf(err, errlen, "piix: out of memory"), -ENOMEM;
    p->vm = vm;
    pthread_mutex_init(&p->lock, NULL);
    piix_init_functions(p);
    int rc = pci_dev_add_at(vm, &p->isa, PIIX_SLOT, PIIX3_FN);
    if (!rc)
        rc = pci_dev_add_at(vm, &p->pm, PIIX_SLOT, PIIX4_PM_FN);
    if (!rc)
        rc = io_bus_register(&vm->pio, PORT_92, 1, &port92_ops, p, "port92");
    if (!rc && (rc = device_add(vm, &piix_ops, p)))
        io_bus_unregister(&vm->pio, PORT_92);
    if (rc) {
        pci_dev_remove(&p->pm);
        pci_dev_remove(&p->isa);
        pthread_mutex_destroy(&p->lock);
        free(p);
        snprintf(err, errlen, "piix: cannot add the chipset at 00:01: %s", strerror(-rc));
    }
    return rc;
}

static const struct device_class piix_class = {
    .name = "piix",
    .order = DEV_ORDER_BUS + 1, /* 00:01 before any device takes the first free slot */
    .create = piix_create,
};
DEVICE_CLASS(piix_class);

/* ---- what the ACPI tables and the API ask ---------------------------------------------------- */

int piix_pm_base(struct vm *vm)
{
    struct piix *p = device_find(vm, &piix_ops);
    if (!p)
        return -ENODEV;
    pthread_mutex_lock(&p->lock);
    int base = p->mapped ? p->mapped : PIIX4_PM_DEFAULT_BASE;
    pthread_mutex_unlock(&p->lock);
    return base;
}

int piix_power_button(struct vm *vm)
{
    struct piix *p = device_find(vm, &piix_ops);
    if (!p)
        return -ENODEV;
    pthread_mutex_lock(&p->lock);
    p->regs.pm1_sts |= PM1_PWRBTN;
    bool listening = p->regs.pm1_en & PM1_PWRBTN;
    sci_update(p);
    pthread_mutex_unlock(&p->lock);
    return listening ? 0 : -EAGAIN;
}

int piix_sci_level(struct vm *vm)
{
    struct piix *p = device_find(vm, &piix_ops);
    if (!p)
        return -ENODEV;
    pthread_mutex_lock(&p->lock);
    int level = p->sci;
    pthread_mutex_unlock(&p->lock);
    return level;
}
