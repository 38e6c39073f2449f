/* ahci.c — the AHCI SATA controller: PCI function, HBA and port registers, interrupts, drives
 * attached from the configuration, and the device contract (pause, save, restore, reset). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "dev/ahci.h"
#include "dev/dev.h"
#include "util/state.h"
#include "util/util.h"
#include "vm/vm.h"

/* ---- interrupts ----------------------------------------------------------------------------- */

void ahci_update_irq(struct ahci *h)
{
    for (unsigned i = 0; i < AHCI_PORTS; i++)
        if (h->s.port[i].is & h->s.port[i].ie)
            h->s.is |= 1u << i;
    bool level = (h->s.ghc & AHCI_GHC_IE) && h->s.is;
    bool msi = pci_msi_enabled(&h->pci);
    /* MSI is an edge: one message per new event (callers that raise set irq_level false) */
    if (msi && level && !h->irq_level)
        pci_msi_notify(&h->pci);
    pci_intx_set(&h->pci, level && !msi);
    h->irq_level = level;
}

void ahci_event(struct ahci *h)
{
    if (h->batching) {
        h->batch_event = true;
        return;
    }
    h->irq_level = false; /* a new event: MSI is sent again */
    ahci_update_irq(h);
}

/* ---- resets --------------------------------------------------------------------------------- */

/* Forget a slot whose I/O finished while its port was being stopped. */
static void slot_drop(void *opaque, void *tag, int res)
{
    ((struct ahci_slot *)tag)->busy = false;
}

/* Wait for P's commands in flight and drop their results (ST cleared, resets). Lock held. */
static void port_abort(struct ahci_port *p)
{
    if (p->has_disk)
        disk_drain(&p->disk, slot_drop, p);
    for (unsigned n = 0; p->slot && n < AHCI_SLOTS; n++)
        p->slot[n].busy = false;
    struct ahci_port_state *ps = &p->hba->s.port[p->num];
    ps->ci = ps->sact = 0;
}

/* A port's registers as after power-on or an HBA reset (the attached drive's state stays). */
static void port_reset(struct ahci_port *p)
{
    struct ahci_port_state *ps = &p->hba->s.port[p->num];
    port_abort(p);
    bool media = ps->media, ua = ps->ua;
    uint8_t ev = ps->media_event;
    *ps = (struct ahci_port_state){.media = media, .media_event = ev, .ua = ua};
    ps->cmd = PX_CMD_SUD | PX_CMD_POD | (p->cdrom ? PX_CMD_ATAPI : 0);
    ps->tfd = 0x7f;
    if (p->present)
        ahci_port_signature(p);
}

static void hba_reset(struct ahci *h)
{
    h->s.ghc = AHCI_GHC_AE;
    h->s.is = 0;
    for (unsigned i = 0; i < AHCI_PORTS; i++)
        port_reset(&h->port[i]);
    ahci_update_irq(h);
}

/* ---- registers ------------------------------------------------------------------------------ */

static uint32_t port_read(struct ahci_port *p, unsigned off)
{
    struct ahci_port_state *ps = &p->hba->s.port[p->num];
    switch (off) {
    case PX_CLB:
        return ps->clb;
    case PX_CLBU:
        return ps->clbu;
    case PX_FB:
        return ps->fb;
    case PX_FBU:
        return ps->fbu;
    case PX_IS:
        return ps->is;
    case PX_IE:
        return ps->ie;
    case PX_CMD:
        return ps->cmd;
    case PX_TFD:
        return ps->tfd;
    case PX_SIG:
        return ps->sig;
    case PX_SSTS:
        return ps->ssts;
    case PX_SCTL:
        return ps->sctl;
    case PX_SERR:
        return ps->serr;
    case PX_SACT:
        return ps->sact;
    case PX_CI:
        return ps->ci;
    case PX_SNTF:
        return ps->sntf;
    default:
        return 0;
    }
}

/* PxCMD written: the engines follow ST and FRE at once (CR/FR mirror them). */
static void port_cmd_write(struct ahci_port *p, uint32_t val)
{
    struct ahci_port_state *ps = &p->hba->s.port[p->num];
    uint32_t old = ps->cmd;
    ps->cmd = (old & ~PX_CMD_WMASK) | (val & PX_CMD_WMASK);
    ps->cmd &= ~0xf0000000u; /* ICC: the requested transition is done at once */
    if ((val & PX_CMD_CLO) && !(ps->cmd & PX_CMD_ST))
        ps->tfd &= ~(uint32_t)(ATA_ST_BSY | ATA_ST_DRQ);
    if (!(ps->cmd & PX_CMD_ST) && (old & PX_CMD_ST))
        port_abort(p); /* the HBA clears PxCI and PxSACT */
    ps->cmd &= ~(PX_CMD_CR | PX_CMD_FR);
    if (ps->cmd & PX_CMD_ST)
        ps->cmd |= PX_CMD_CR;
    if (ps->cmd & PX_CMD_FRE)
        ps->cmd |= PX_CMD_FR;
}

/* PxSCTL written: DET 1 holds the link in COMRESET; leaving it brings the drive back reset. */
static void port_sctl_write(struct ahci_port *p, uint32_t val)
{
    struct ahci_port_state *ps = &p->hba->s.port[p->num];
    bool was_reset = (ps->sctl & 0xf) == 1;
    ps->sctl = val & 0xfff;
    if ((val & 0xf) == 1) {
        port_abort(p);
        ps->ssts = 0;
        ps->tfd = 0x80; /* BSY until the drive answers */
    } else if (was_reset && p->present) {
        ahci_port_signature(p);
    }
}

static void port_write(struct ahci_port *p, unsigned off, uint32_t val)
{
    struct ahci *h = p->hba;
    struct ahci_port_state *ps = &h->s.port[p->num];
    switch (off) {
    case PX_CLB:
        ps->clb = val & ~0x3ffu;
        break;
    case PX_CLBU:
        ps->clbu = val;
        break;
    case PX_FB:
        ps->fb = val & ~0xffu;
        break;
    case PX_FBU:
        ps->fbu = val;
        break;
    case PX_IS:
        ps->is &= ~val;
        break;
    case PX_IE:
        ps->ie = val & PX_IS_MASK;
        break;
    case PX_CMD:
        port_cmd_write(p, val);
        break;
    case PX_SCTL:
        port_sctl_write(p, val);
        break;
    case PX_SERR:
        ps->serr &= ~val;
        break;
    case PX_SNTF:
        ps->sntf &= ~val;
        break;
    case PX_SACT:
        if (ps->cmd & PX_CMD_ST)
            ps->sact |= val;
        break;
    case PX_CI:
        if ((ps->cmd & PX_CMD_ST) && p->present && (val & ~ps->ci)) {
            uint32_t new = val & ~ps->ci;
            ps->ci |= new;
            ahci_port_issue(p, new);
        }
        break;
    default:
        break; /* read-only or reserved */
    }
    ahci_update_irq(h);
}

uint32_t ahci_reg_read(struct ahci *h, uint64_t off)
{
    if (off >= AHCI_PORT_BASE) {
        uint64_t i = (off - AHCI_PORT_BASE) / AHCI_PORT_LEN;
        return i < AHCI_PORTS ? port_read(&h->port[i], (off - AHCI_PORT_BASE) % AHCI_PORT_LEN) : 0;
    }
    switch (off) {
    case AHCI_CAP:
        return AHCI_CAP_VAL;
    case AHCI_GHC:
        return h->s.ghc;
    case AHCI_IS:
        return h->s.is;
    case AHCI_PI:
        return (1u << AHCI_PORTS) - 1;
    case AHCI_VS:
        return 0x00010000; /* AHCI 1.0, as QEMU's ICH9 model */
    default:
        return 0;
    }
}

void ahci_reg_write(struct ahci *h, uint64_t off, uint32_t val)
{
    if (off >= AHCI_PORT_BASE) {
        uint64_t i = (off - AHCI_PORT_BASE) / AHCI_PORT_LEN;
        if (i < AHCI_PORTS)
            port_write(&h->port[i], (off - AHCI_PORT_BASE) % AHCI_PORT_LEN, val);
        return;
    }
    if (off == AHCI_GHC) {
        if (val & AHCI_GHC_HR) {
            hba_reset(h);
            return;
        }
        h->s.ghc = AHCI_GHC_AE | (val & AHCI_GHC_IE);
    } else if (off == AHCI_IS) {
        h->s.is &= ~val;
        h->irq_level = false; /* still pending after the write: a new MSI, as real HBAs do */
    }
    ahci_update_irq(h);
}

static void bar_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct ahci *h = opaque;
    pthread_mutex_lock(&h->lock);
    uint32_t v = ahci_reg_read(h, off & ~3ULL);
    pthread_mutex_unlock(&h->lock);
    uint64_t wide = (uint64_t)v >> (8 * (off & 3));
    memcpy(data, &wide, size > 4 ? 4 : size);
    if (size > 4)
        memset(data + 4, 0, size - 4);
}

static void bar_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct ahci *h = opaque;
    if (size != 4 || (off & 3))
        return; /* the registers are dwords */
    uint32_t v;
    memcpy(&v, data, 4);
    pthread_mutex_lock(&h->lock);
    ahci_reg_write(h, off, v);
    pthread_mutex_unlock(&h->lock);
}

static const struct io_ops abar_ops = {.read = bar_read, .write = bar_write};

/* ---- I/O thread ----------------------------------------------------------------------------- */

/* Completions of P's disk: one interrupt for all of them; several at once put the I/O thread in
 * bulk mode (vm/io_bulk.c: the vCPU issuing commands is not preempted by each completion). */
static void port_disk_event(void *opaque, uint32_t events)
{
    struct ahci_port *p = opaque;
    struct ahci *h = p->hba;
    pthread_mutex_lock(&h->lock);
    h->batching = true;
    unsigned n = disk_reap(&p->disk, ahci_disk_done, p);
    h->batching = false;
    if (h->batch_event) {
        h->batch_event = false;
        ahci_event(h);
    }
    int change = io_bulk_batch(&h->bulk, n);
    if (change)
        io_bulk_count(&h->bulk_sched, "ahci", change > 0);
    pthread_mutex_unlock(&h->lock);
}

/* ---- device contract ------------------------------------------------------------------------ */

static void ahci_reset_op(void *opaque)
{
    struct ahci *h = opaque;
    pthread_mutex_lock(&h->lock);
    hba_reset(h);
    pthread_mutex_unlock(&h->lock);
}

/* Pause: vCPUs are out, so no command is issued; every command in flight completes (its FIS and
 * interrupt are posted) before this returns. A snapshot then holds no command in flight. */
static void ahci_pause(void *opaque)
{
    struct ahci *h = opaque;
    pthread_mutex_lock(&h->lock);
    h->paused = true;
    for (unsigned i = 0; i < AHCI_PORTS; i++)
        if (h->port[i].has_disk)
            disk_drain(&h->port[i].disk, ahci_disk_done, &h->port[i]);
    pthread_mutex_unlock(&h->lock);
}

static void ahci_resume(void *opaque)
{
    struct ahci *h = opaque;
    pthread_mutex_lock(&h->lock);
    h->paused = false;
    pthread_mutex_unlock(&h->lock);
}

/* The drives' sizes as saved: a snapshot is not restored onto a disk of another size. */
static void sizes_visit(struct state_visitor *v, struct ahci *h)
{
    if (!state_begin(v, "ahci-drives", 1))
        return;
    for (unsigned i = 0; i < AHCI_PORTS && !state_error(v); i++) {
        struct ahci_port *p = &h->port[i];
        uint64_t sectors = p->cdrom ? 0 : p->sectors;
        STATE_U64(v, sectors);
        if (v->loading && !state_error(v) && sectors != (p->cdrom ? 0 : p->sectors))
            state_fail(v, -EINVAL,
                       "ahci port %u (%s): the image has %llu sectors, the saved "
                       "drive had %llu",
                       i, p->id, (unsigned long long)p->sectors, (unsigned long long)sectors);
    }
    state_end(v);
}

static int ahci_save(void *opaque, struct state_visitor *v)
{
    struct ahci *h = opaque;
    pci_dev_save(&h->pci, v);
    pthread_mutex_lock(&h->lock);
    struct ahci_state s = h->s;
    sizes_visit(v, h);
    pthread_mutex_unlock(&h->lock);
    ahci_state_visit(v, &s);
    return state_error(v);
}

static int ahci_restore(void *opaque, struct state_visitor *v)
{
    struct ahci *h = opaque;
    struct pci_dev_state ps;
    struct ahci_state s;
    pci_dev_state_load(&h->pci, v, &ps);
    pthread_mutex_lock(&h->lock);
    sizes_visit(v, h);
    pthread_mutex_unlock(&h->lock);
    memset(&s, 0, sizeof(s));
    ahci_state_visit(v, &s);
    for (unsigned i = 0; i < AHCI_PORTS && !state_error(v); i++)
        if (s.port[i].media && !h->port[i].has_disk)
            state_fail(v, -EINVAL, "ahci port %u: media saved in a drive that has none", i);
    if (state_error(v))
        return state_error(v);
    pci_dev_state_set(&h->pci, &ps);
    pthread_mutex_lock(&h->lock);
    h->s = s;
    h->irq_level = true; /* the line follows; no MSI is re-sent for old events */
    ahci_update_irq(h);
    pthread_mutex_unlock(&h->lock);
    return 0;
}

static void ahci_stop(void *opaque)
{
    struct ahci *h = opaque;
    pthread_mutex_lock(&h->lock);
    for (unsigned i = 0; i < AHCI_PORTS; i++)
        if (h->port[i].has_disk)
            disk_drain(&h->port[i].disk, slot_drop, &h->port[i]);
    pthread_mutex_unlock(&h->lock);
}

static void ahci_free(struct ahci *h)
{
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        struct ahci_port *p = &h->port[i];
        if (p->watching && h->vm && h->vm->loop)
            evloop_del(h->vm->loop, p->disk.efd);
        if (p->has_disk)
            disk_close(&p->disk);
        free(p->slot);
    }
    pci_dev_remove(&h->pci);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

static void ahci_destroy(void *opaque)
{
    ahci_free(opaque);
}

static const struct device_ops ahci_dev_ops = {
    .name = "ahci",
    .reset = ahci_reset_op,
    .pause = ahci_pause,
    .resume = ahci_resume,
    .save = ahci_save,
    .restore = ahci_restore,
    .stop = ahci_stop,
    .destroy = ahci_destroy,
};

struct ahci *ahci_find(struct vm *vm)
{
    return device_find(vm, &ahci_dev_ops);
}

/* ---- creation ------------------------------------------------------------------------------- */

/* Attach drive DC to port P: open the image, size it, allocate the slots. */
static int port_attach(struct ahci_port *p, const struct disk_config *dc, char *err, size_t errlen)
{
    int rc = disk_open(&p->disk, dc->path, dc->readonly, AHCI_SLOTS, err, errlen);
    if (rc == 0 && dc->direct && (rc = disk_set_direct(&p->disk, dc->path, err, errlen)) < 0)
        disk_close(&p->disk);
    if (rc < 0)
        return rc;
    p->has_disk = true;
    p->present = true;
    p->cdrom = dc->cdrom;
    p->readonly = dc->readonly;
    p->sectors = p->disk.size / (p->cdrom ? CD_BLOCK : DISK_SECTOR);
    if (p->disk.size % (p->cdrom ? CD_BLOCK : DISK_SECTOR))
        log_warn("%s %s: size is not a multiple of %u; the tail is not used",
                 p->cdrom ? "cdrom" : "disk", dc->path, p->cdrom ? CD_BLOCK : DISK_SECTOR);
    snprintf(p->id, sizeof(p->id), "%s", dc->id);
    snprintf(p->path, sizeof(p->path), "%s", dc->path);
    snprintf(p->serial, sizeof(p->serial), "%s", dc->serial);
    p->slot = calloc(AHCI_SLOTS, sizeof(*p->slot));
    if (!p->slot) {
        snprintf(err, errlen, "ahci: out of memory");
        return -ENOMEM;
    }
    p->hba->s.port[p->num].media = p->cdrom;
    if (p->hba->vm->loop) {
        rc = evloop_add(p->hba->vm->loop, p->disk.efd, EPOLLIN, port_disk_event, p);
        if (rc < 0) {
            snprintf(err, errlen, "ahci: cannot watch %s: %s", dc->path, strerror(-rc));
            return rc;
        }
        p->watching = true;
    }
    return 0;
}

/* The PCI function: BAR5 with the registers, MSI, INTA; ICH9's ids. */
static int ahci_pci_setup(struct ahci *h)
{
    pci_dev_init(&h->pci, "ahci", AHCI_VENDOR, AHCI_DEVICE, AHCI_CLASS, 0x02, 0x1af4, 0x1100, NULL,
                 h);
    int rc = pci_bar_init(&h->pci, AHCI_BAR, AHCI_BAR_SIZE, false, false);
    if (!rc)
        rc = pci_bar_add_region(&h->pci, AHCI_BAR, 0, AHCI_BAR_SIZE, &abar_ops, h, "ahci-abar");
    if (!rc)
        rc = pci_msi_init(&h->pci);
    return rc;
}

int ahci_create(struct vm *vm, char *err, size_t errlen)
{
    unsigned n = 0;
    for (unsigned i = 0; i < vm->cfg.ndisks; i++)
        n += vm->cfg.disks[i].iface == DISK_IF_AHCI;
    if (!n)
        return 0;
    struct ahci *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "ahci: out of memory");
        return -ENOMEM;
    }
    h->vm = vm;
    pthread_mutex_init(&h->lock, NULL);
    for (unsigned i = 0; i < AHCI_PORTS; i++)
        h->port[i] = (struct ahci_port){.hba = h, .num = i, .disk = {.fd = -1, .efd = -1}};
    int rc = ahci_pci_setup(h);
    if (rc < 0) {
        snprintf(err, errlen, "ahci: cannot describe the PCI function: %s", strerror(-rc));
        goto fail;
    }
    unsigned port = 0;
    for (unsigned i = 0; i < vm->cfg.ndisks && port < AHCI_PORTS; i++) {
        if (vm->cfg.disks[i].iface != DISK_IF_AHCI)
            continue;
        rc = port_attach(&h->port[port++], &vm->cfg.disks[i], err, errlen);
        if (rc < 0)
            goto fail;
    }
    pthread_mutex_lock(&h->lock);
    hba_reset(h);
    pthread_mutex_unlock(&h->lock);
    rc = pci_dev_add(vm, &h->pci);
    if (rc < 0) {
        snprintf(err, errlen, "ahci: no room on the PCI bus: %s", strerror(-rc));
        goto fail;
    }
    rc = device_add(vm, &ahci_dev_ops, h);
    if (rc < 0) {
        snprintf(err, errlen, "ahci: out of memory");
        goto fail;
    }
    log_info("ahci: %u drive(s) on PCI slot %d, ABAR %#llx", n, h->pci.slot,
             (unsigned long long)h->pci.bar[AHCI_BAR].addr);
    return 0;
fail:
    ahci_free(h);
    return rc;
}

static const struct device_class ahci_class = {
    .name = "ahci",
    .order = DEV_ORDER_PCI,
    .create = ahci_create,
};
DEVICE_CLASS(ahci_class);
