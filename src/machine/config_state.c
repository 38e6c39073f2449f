/* config_state.c — the VM configuration as a state section, so a snapshot carries its machine. */
#include <errno.h>
#include <string.h>

#include "platform/config.h"
#include "machine/snapshot.h"
#include "util/state.h"

/* A string held in a fixed char array, stored as its length (u16) and bytes: loading refuses a
 * length that does not fit the array with its NUL, or a NUL inside. */
static void str_visit(struct state_visitor *v, char *a, size_t size, const char *what)
{
    uint16_t len = (uint16_t)strnlen(a, size - 1);
    state_u16(v, &len, what);
    state_check(v, len < size, what);
    if (state_error(v))
        return;
    state_bytes(v, a, len, what);
    if (v->loading && !state_error(v)) {
        state_check(v, memchr(a, 0, len) == NULL, what);
        a[len] = 0;
    }
}
#define STATE_STR(v, a) str_visit((v), (a), sizeof(a), #a)

static void disk_visit(struct state_visitor *v, struct disk_config *d)
{
    STATE_STR(v, d->id);
    STATE_STR(v, d->path);
    STATE_STR(v, d->serial);
    STATE_BOOL(v, d->readonly);
    STATE_BOOL(v, d->is_root);
}

static void net_visit(struct state_visitor *v, struct net_config *n)
{
    uint32_t kind = n->kind;
    STATE_STR(v, n->id);
    STATE_U32_MAX(v, kind, NET_USER);
    n->kind = (enum net_kind)kind;
    STATE_STR(v, n->tap);
    STATE_BYTES(v, n->mac);
    STATE_BOOL(v, n->mac_set);
    STATE_U32_MAX(v, n->nfwd, CFG_MAX_HOSTFWD);
    for (unsigned i = 0; i < n->nfwd && !state_error(v); i++) {
        STATE_BOOL(v, n->fwd[i].udp);
        STATE_U16(v, n->fwd[i].host_port);
        STATE_U16(v, n->fwd[i].guest_port);
    }
}

static void pmem_visit(struct state_visitor *v, struct pmem_config *p)
{
    STATE_STR(v, p->id);
    STATE_STR(v, p->path);
    STATE_BOOL(v, p->readonly);
    STATE_BOOL(v, p->is_root);
}

/* The memory devices (version 3): pmem files and the hotplug region's shape. */
static void memdev_visit(struct state_visitor *v, struct vm_config *c)
{
    STATE_U32_MAX(v, c->npmem, CFG_MAX_PMEM);
    for (unsigned i = 0; i < c->npmem && !state_error(v); i++)
        pmem_visit(v, &c->pmem[i]);
    STATE_U64(v, c->memhp.total_bytes);
    STATE_U64(v, c->memhp.block_bytes);
    STATE_U64(v, c->memhp.slot_bytes);
    STATE_U64(v, c->memhp.requested_bytes);
    if (v->loading && !state_error(v) && c->memhp.total_bytes) {
        char why[160];
        if (config_check_memhp(&c->memhp, why, sizeof(why)))
            state_fail(v, -EINVAL, "%s", why);
    }
}

/* The CPU template (reported again by GET /vm/config after a restore; the vCPUs' own state
 * carries the CPUID and MSR values it produced). */
static void template_visit(struct state_visitor *v, struct cpu_template *t)
{
    STATE_U32_MAX(v, t->ncpuid, CPU_TMPL_MAX_CPUID);
    for (unsigned i = 0; i < t->ncpuid && !state_error(v); i++) {
        struct cpuid_modifier *m = &t->cpuid[i];
        STATE_U32(v, m->leaf);
        STATE_U32(v, m->subleaf);
        STATE_U32(v, m->flags);
        for (unsigned r = 0; r < 4; r++) {
            STATE_U32(v, m->mask[r]);
            STATE_U32(v, m->value[r]);
        }
    }
    STATE_U32_MAX(v, t->nmsr, CPU_TMPL_MAX_MSR);
    for (unsigned i = 0; i < t->nmsr && !state_error(v); i++) {
        STATE_U32(v, t->msr[i].addr);
        STATE_U64(v, t->msr[i].mask);
        STATE_U64(v, t->msr[i].value);
    }
    STATE_U32_MAX(v, t->ncaps, CPU_TMPL_MAX_CAPS);
    for (unsigned i = 0; i < t->ncaps && !state_error(v); i++)
        STATE_I64(v, t->caps[i]);
}

/* A rate limiter's configuration (the buckets' saved state is the device's). */
static void rl_config_visit(struct state_visitor *v, struct rl_config *r)
{
    struct tb_config *b[2] = {&r->bandwidth, &r->ops};
    for (unsigned i = 0; i < 2 && !state_error(v); i++) {
        STATE_U64(v, b[i]->size);
        STATE_U64(v, b[i]->one_time_burst);
        STATE_U64(v, b[i]->refill_time);
        STATE_CHECK(v, tb_config_error(b[i]) == NULL);
    }
}

void config_state_visit(struct state_visitor *v, struct vm_config *c)
{
    if (!state_begin(v, "machine", CONFIG_STATE_VERSION))
        return;
    uint32_t console = c->console;
    STATE_STR(v, c->vm_id);
    STATE_STR(v, c->kernel);
    STATE_STR(v, c->initrd);
    STATE_STR(v, c->firmware);
    STATE_STR(v, c->cmdline);
    STATE_BOOL(v, c->cmdline_set);
    STATE_U32(v, c->cpus);
    STATE_CHECK(v, c->cpus >= 1 && c->cpus <= CFG_MAX_CPUS);
    STATE_U64(v, c->mem_bytes);
    STATE_CHECK(v, c->mem_bytes >= CFG_MIN_MEM && c->mem_bytes <= CFG_MAX_MEM);
    STATE_BOOL(v, c->hugepages);
    STATE_BOOL(v, c->smt);
    STATE_U32_MAX(v, console, CONSOLE_VIRTIO);
    c->console = (enum console_kind)console;
    STATE_STR(v, c->console_path);
    STATE_U32_MAX(v, c->ndisks, CFG_MAX_DISKS);
    for (unsigned i = 0; i < c->ndisks && !state_error(v); i++)
        disk_visit(v, &c->disks[i]);
    STATE_U32_MAX(v, c->nnets, CFG_MAX_NETS);
    for (unsigned i = 0; i < c->nnets && !state_error(v); i++)
        net_visit(v, &c->nets[i]);
    STATE_BOOL(v, c->vsock.enabled);
    STATE_U32(v, c->vsock.guest_cid);
    STATE_STR(v, c->vsock.uds_path);
    STATE_BOOL(v, c->entropy);
    template_visit(v, &c->cpu_template);
    if (v->version >= 2) { /* version 1 snapshots are PCI */
        uint32_t transport = c->transport;
        STATE_U32_MAX(v, transport, TRANSPORT_MMIO);
        c->transport = (enum virtio_transport)transport;
    }
    if (v->version >= 3) { /* the MMDS configuration (its data is not saved, as Firecracker) */
        STATE_BOOL(v, c->mmds.enabled);
        STATE_U8(v, c->mmds.version);
        STATE_CHECK(v, !c->mmds.enabled || c->mmds.version == 1 || c->mmds.version == 2);
        STATE_BOOL(v, c->mmds.imds_compat);
        STATE_U32(v, c->mmds.ipv4);
        STATE_U32(v, c->mmds.iface_mask);
        STATE_CHECK(v, c->mmds.iface_mask < (1u << CFG_MAX_NETS));
    }
    if (v->version >= 4)
        memdev_visit(v, c);
    for (unsigned i = 0; v->version >= 5 && i < c->ndisks && !state_error(v); i++) {
        STATE_U8_MAX(v, c->disks[i].iface, DISK_IF_AHCI); /* 5: AHCI disks and CD-ROMs */
        STATE_BOOL(v, c->disks[i].cdrom);
    }
    if (v->version >= 6) { /* the balloon (older snapshots have none) */
        struct balloon_config *b = &c->balloon;
        STATE_BOOL(v, b->enabled);
        STATE_U32(v, b->amount_mib);
        STATE_CHECK(v, (uint64_t)b->amount_mib * (1 << 20) <= c->mem_bytes);
        STATE_BOOL(v, b->deflate_on_oom);
        STATE_U16(v, b->stats_polling_interval_s);
        STATE_BOOL(v, b->free_page_hinting);
        STATE_BOOL(v, b->free_page_reporting);
    }
    if (v->version >= 7) { /* older snapshots have no rate limiters */
        for (unsigned i = 0; i < c->ndisks && !state_error(v); i++)
            rl_config_visit(v, &c->disks[i].rate_limiter);
        for (unsigned i = 0; i < c->nnets && !state_error(v); i++) {
            rl_config_visit(v, &c->nets[i].rx_rate_limiter);
            rl_config_visit(v, &c->nets[i].tx_rate_limiter);
        }
        rl_config_visit(v, &c->entropy_rate_limiter);
    }
    if (v->version >= 8) { /* the display (older snapshots have none) */
        struct display_config *d = &c->display;
        uint32_t kind = d->kind;
        STATE_U32_MAX(v, kind, DISPLAY_VNC);
        d->kind = (enum display_kind)kind;
        STATE_BOOL(v, d->vnc_unix);
        STATE_STR(v, d->vnc_path);
        STATE_U32(v, d->vnc_ip);
        STATE_U16(v, d->vnc_port);
        STATE_STR(v, d->password_file);
        STATE_U32(v, d->vram_mib);
        STATE_CHECK(v, d->kind == DISPLAY_NONE ||
                           (d->vram_mib >= CFG_VRAM_MIN_MIB && d->vram_mib <= CFG_VRAM_MAX_MIB &&
                            !(d->vram_mib & (d->vram_mib - 1))));
    }
    if (v->version >= 9) { /* the display's input devices (older snapshots: PS/2 only) */
        uint32_t input = c->display.input;
        STATE_U32_MAX(v, input, DISPLAY_INPUT_VIRTIO);
        c->display.input = (enum display_input)input;
    }
    if (v->version >= 10) { /* multiqueue (older snapshots: one queue, one pair) */
        for (unsigned i = 0; i < c->ndisks && !state_error(v); i++)
            STATE_U8_MAX(v, c->disks[i].queues, CFG_MAX_QUEUES);
        for (unsigned i = 0; i < c->nnets && !state_error(v); i++)
            STATE_U8_MAX(v, c->nets[i].queues, CFG_MAX_NET_PAIRS);
    }
    if (v->version >= 11) /* OVMF's variable store (older snapshots: a private copy) */
        STATE_STR(v, c->firmware_vars);
    for (unsigned i = 0; v->version >= 12 && i < c->nnets && !state_error(v); i++)
        STATE_BOOL(v, c->nets[i].vhost); /* vhost-net (older snapshots: the userspace path) */
    for (unsigned i = 0; i < c->nnets && !state_error(v); i++) {
        if (v->version >= 13) /* GUEST_ANNOUNCE (older snapshots: the device without it) */
            STATE_BOOL(v, c->nets[i].no_announce);
        else
            c->nets[i].no_announce = true;
    }
    for (unsigned i = 0; v->version >= 14 && i < c->ndisks && !state_error(v); i++)
        STATE_BOOL(v, c->disks[i].direct); /* direct=on (older snapshots: buffered) */
    if (v->version >= 15)
        STATE_BOOL(v, c->thp); /* --thp (older snapshots: 4 KiB pages unless the host's policy) */
    STATE_CHECK(v, !(c->thp && c->hugepages));
    state_end(v);
}
