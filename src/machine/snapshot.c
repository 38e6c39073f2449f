/* snapshot.c — snapshot create and restore: the VM's RAM to a memory file, everything else (the
 * configuration, KVM's vCPU and VM state, every device) to a checked state file, and back. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev/dev.h"
#include "machine/machine.h"
#include "machine/snapshot.h"
#include "util/state.h"
#include "util/util.h"
#include "vm/vm.h"

#define PAGE 4096u

static bool page_is_zero(const uint8_t *p)
{
    static const uint8_t zero[PAGE];
    return !memcmp(p, zero, PAGE);
}

int snap_mem_runs(const struct guest_mem *m, uint64_t max_run,
                  int (*fn)(void *arg, uint64_t off, const uint8_t *p, uint64_t len), void *arg)
{
    const uint8_t *base = m->base;
    for (uint64_t off = 0; off < m->ram_size;) {
        if (page_is_zero(base + off)) {
            off += PAGE;
            continue;
        }
        uint64_t end = off;
        while (end < m->ram_size && end - off < max_run && !page_is_zero(base + end))
            end += PAGE;
        int rc = fn(arg, off, base + off, end - off);
        if (rc)
            return rc;
        off = end;
    }
    return 0;
}

int snap_dirty_runs(const struct guest_mem *m, const uint64_t *bits, uint64_t max_run,
                    int (*fn)(void *arg, uint64_t off, const uint8_t *p, uint64_t len), void *arg)
{
    const uint64_t pages = m->ram_size / PAGE;
#define SET(pg) (bits[(pg) / 64] >> ((pg) % 64) & 1)
    for (uint64_t pg = 0; pg < pages;) {
        if (!bits[pg / 64] && pg % 64 == 0) {
            pg += 64;
            continue;
        }
        if (!SET(pg)) {
            pg++;
            continue;
        }
        uint64_t end = pg;
        while (end < pages && (end - pg) * PAGE < max_run && SET(end))
            end++;
        int rc = fn(arg, pg * PAGE, (const uint8_t *)m->base + pg * PAGE, (end - pg) * PAGE);
        if (rc)
            return rc;
        pg = end;
    }
#undef SET
    return 0;
}

/* snap_mem_runs callback: the run at the same offset of the memory file (*ARG is its fd). */
static int write_run(void *arg, uint64_t off, const uint8_t *p, uint64_t len)
{
    return snap_write_at(*(int *)arg, p, len, off);
}

struct mem_file {
    struct vm *vm;
    const uint64_t *dirty;
};

/* snap_file_atomic filler for save_memory. */
static int fill_memory(int fd, void *arg)
{
    const struct mem_file *mf = arg;
    const struct guest_mem *m = &mf->vm->mem;
    int rc = mf->dirty ? snap_dirty_runs(m, mf->dirty, 64 * MiB, write_run, &fd)
                       : snap_mem_runs(m, 64 * MiB, write_run, &fd);
    /* the file's size is RAM's even when its last pages are holes: a zero byte at the end */
    if (!rc && lseek(fd, 0, SEEK_END) < (off_t)m->ram_size)
        rc = snap_write_at(fd, "", 1, m->ram_size - 1);
    return rc;
}

/* Guest RAM, in region order (the layout of the one mapping), to MEM_PATH atomically: its
 * non-zero pages, or with DIRTY only the pages set there (zero or not: a page that became zero
 * must overwrite the base it is merged onto). */
static int save_memory(struct vm *vm, const char *mem_path, const uint64_t *dirty, char *err,
                       size_t errlen)
{
    struct mem_file mf = {vm, dirty};
    return snap_file_atomic(mem_path, "mem_file_path", fill_memory, &mf, err, errlen);
}

/* KVM's VM state and every vCPU's, into V. */
static int save_kvm(struct vm *vm, struct state_visitor *v, char *err, size_t errlen)
{
    const char *what = "";
    struct vm_kvm_state ks;
    struct vcpu_msr_list msrs;
    struct vcpu_state *vs = malloc(sizeof(*vs));
    int rc = vs ? 0 : -ENOMEM;
    if (!rc)
        rc = vm_kvm_state_get(vm, &ks, &what);
    if (!rc) {
        vm_kvm_state_visit(v, &ks);
        what = "KVM_GET_MSR_INDEX_LIST";
        rc = vcpu_msr_list_build(vm->kvm, vm->vcpus[0].fd, &msrs);
    }
    for (unsigned i = 0; !rc && i < vm->ncpus; i++) {
        rc = vcpu_state_get(&vm->vcpus[i], &msrs, vs, &what);
        if (!rc)
            vcpu_state_visit(v, vs);
    }
    free(vs);
    if (rc)
        snprintf(err, errlen, "snapshot: %s: %s", what, strerror(-rc));
    return rc;
}

int snapshot_state(struct vm *vm, struct state_visitor *v, char *err, size_t errlen)
{
    pthread_mutex_lock(&vm->lock);
    bool paused = vm->state == VM_PAUSED;
    pthread_mutex_unlock(&vm->lock);
    if (!paused)
        return snprintf(err, errlen, "snapshot: the VM must be paused first"), -EINVAL;
    state_save_init(v);
    struct vm_config cfg = vm->cfg;
    int rc = 0;
    if (state_begin(v, "snapshot", SNAP_STATE_VERSION)) {
        config_state_visit(v, &cfg);
        rc = save_kvm(vm, v, err, errlen);
        if (!rc)
            devices_save(vm, v);
        state_end(v);
    }
    if (!rc && state_finish(v)) {
        snprintf(err, errlen, "snapshot: %s", v->msg);
        rc = state_error(v);
    }
    if (rc)
        state_free(v);
    return rc;
}

/* The pages written since the last snapshot (or the start of tracking), harvested into a new
 * bitmap *BITS; NULL and 0 when tracking is off. Returns 0 or -errno with ERR. */
static int take_dirty(struct vm *vm, uint64_t **bits, char *err, size_t errlen)
{
    *bits = NULL;
    if (!vm_dirty_tracking(vm))
        return 0;
    *bits = calloc(DIRTY_WORDS(&vm->mem), sizeof(**bits));
    long n = *bits ? vm_dirty_harvest(vm, *bits) : -ENOMEM;
    if (n >= 0)
        return 0;
    free(*bits);
    *bits = NULL;
    snprintf(err, errlen, "snapshot: KVM_GET_DIRTY_LOG: %s", strerror((int)-n));
    return (int)n;
}

int snapshot_create(struct vm *vm, const char *state_path, const char *mem_path, bool diff,
                    char *err, size_t errlen)
{
    if (diff && !vm_dirty_tracking(vm))
        return snprintf(err, errlen,
                        "snapshot_type: Diff snapshots need dirty page tracking "
                        "(machine-config track_dirty_pages, or track_dirty_pages on load)"),
               -EINVAL;
    struct state_visitor v;
    uint64_t *bits = NULL;
    int rc = snapshot_state(vm, &v, err, errlen);
    if (rc)
        return rc;
    rc = take_dirty(vm, &bits, err, errlen);
    uint64_t last = vm->mem.ram_size / PAGE - 1;
    uint64_t *diff_bits = diff ? malloc(DIRTY_WORDS(&vm->mem) * sizeof(*bits)) : NULL;
    if (!rc && diff && !diff_bits)
        rc = -ENOMEM;
    if (!rc && diff) {
        /* the last page always: the file then has RAM's size with no made-up byte in it */
        memcpy(diff_bits, bits, DIRTY_WORDS(&vm->mem) * sizeof(*bits));
        diff_bits[last / 64] |= 1ull << (last % 64);
    }
    if (!rc)
        rc = save_memory(vm, mem_path, diff_bits, err, errlen);
    if (!rc)
        rc = snapfile_write(state_path, v.buf, v.len, err, errlen);
    if (rc && bits)
        vm_dirty_put_back(vm, bits); /* the next Diff snapshot still holds these pages */
    free(bits);
    free(diff_bits);
    state_free(&v);
    return rc;
}

/* Open MEM_PATH and check it holds exactly the RAM CFG describes. Returns the fd or -errno. */
static int open_memory(const struct vm_config *cfg, const char *mem_path, char *err, size_t errlen)
{
    int fd = open(mem_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        snprintf(err, errlen, "mem_backend: cannot open %s: %s", mem_path, strerror(e));
        return -EINVAL;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != cfg->mem_bytes) {
        close(fd);
        return snprintf(err, errlen,
                        "mem_backend: %s holds %lld bytes, the snapshot's machine has %llu",
                        mem_path, (long long)st.st_size, (unsigned long long)cfg->mem_bytes),
               -EINVAL;
    }
    return fd;
}

/* The CPU the saved vCPU saw must be one this host gives a new vCPU (compared with what the
 * fresh vCPU V reports, which on PVM hosts differs from KVM_GET_SUPPORTED_CPUID). Returns 1 when
 * V already holds exactly the saved CPUID (setting it again is skipped: KVM_SET_CPUID2 is among
 * a restore's dearest ioctls on PVM), 0 when it must be set, or -ENOTSUP with ERR naming every
 * missing feature. */
static int check_cpu(struct vcpu *v, const struct vcpu_state *s, char *err, size_t errlen)
{
    struct {
        struct kvm_cpuid2 hdr;
        struct kvm_cpuid_entry2 e[VCPU_STATE_MAX_CPUID];
    } here;
    char lack[400];
    int rc = vcpu_cpuid_get(v->fd, &here.hdr, VCPU_STATE_MAX_CPUID);
    if (rc < 0) {
        snprintf(err, errlen, "snapshot: KVM_GET_CPUID2: %s", strerror(-rc));
        return -ENOTSUP;
    }
    if (cpuid_check_host((struct kvm_cpuid2 *)&s->cpuid, &here.hdr, lack, sizeof(lack)) < 0) {
        snprintf(err, errlen, "snapshot: this host cannot give the guest its CPU: %s", lack);
        return -ENOTSUP;
    }
    return here.hdr.nent == s->cpuid.nent &&
           !memcmp(here.e, s->cpuid_entries, s->cpuid.nent * sizeof(here.e[0]));
}

/* Set KVM's VM state and every vCPU's from P. */
static int restore_kvm(struct vm *vm, const struct snap_parsed *p, bool realtime, char *err,
                       size_t errlen)
{
    const char *what = "";
    if (p->ncpus != vm->ncpus)
        return snprintf(err, errlen, "snapshot: %u vCPUs saved, the machine has %u", p->ncpus,
                        vm->ncpus),
               -EINVAL;
    int rc = vm_kvm_state_set(vm, &p->ks, realtime, &what);
    for (unsigned i = 0; !rc && i < vm->ncpus; i++) {
        int same = check_cpu(&vm->vcpus[i], &p->vs[i], err, errlen);
        if ((rc = same) < 0)
            break;
        rc = vcpu_state_set(&vm->vcpus[i], &p->vs[i], !same, &what);
    }
    if (rc == -ENOTSUP)
        return -EINVAL; /* check_cpu wrote ERR */
    if (rc)
        snprintf(err, errlen, "snapshot: restoring with %s: %s", what, strerror(-rc));
    return rc;
}

/* A state error MSG as the one line in ERR. Returns -EINVAL. */
static int snap_fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "snapshot: %s", msg);
    return -EINVAL;
}

void snapshot_parsed_free(struct snap_parsed *p)
{
    free(p->vs);
    p->vs = NULL;
    p->ncpus = 0;
}

/* snapshot_check, and with P (may be NULL) every vCPU's state kept there and P->rest positioned
 * at the devices' sections, where the restore goes on: nothing is read twice. */
static int check_payload(const uint8_t *payload, size_t len, struct vm_config *cfg,
                         struct snap_parsed *p, char *err, size_t errlen)
{
    struct state_visitor v;
    struct vm_kvm_state *ks = p ? &p->ks : malloc(sizeof(*ks));
    struct vcpu_state *vs = p ? NULL : malloc(sizeof(*vs)); /* the pure check's scratch vCPU */
    int rc = 0;
    if (p)
        p->vs = NULL, p->ncpus = 0;
    config_defaults(cfg);
    state_load_init(&v, payload, len);
    if (!ks || (!p && !vs))
        goto oom;
    if (state_begin(&v, "snapshot", SNAP_STATE_VERSION)) {
        config_state_visit(&v, cfg);
        if (p && !state_error(&v) && cfg->cpus && !(p->vs = calloc(cfg->cpus, sizeof(*p->vs))))
            goto oom;
        vm_kvm_state_visit(&v, ks);
        for (unsigned i = 0; i < cfg->cpus && !state_error(&v); i++)
            vcpu_state_visit(&v, p ? &p->vs[i] : vs);
    }
    if (state_error(&v))
        rc = snap_fail(err, errlen, v.msg);
    else if (p)
        p->ncpus = cfg->cpus, p->rest = v;
out:
    if (!p)
        free(ks);
    free(vs);
    if (rc && p)
        snapshot_parsed_free(p);
    return rc;
oom:
    rc = -ENOMEM;
    snprintf(err, errlen, "snapshot: out of memory");
    goto out;
}

int snapshot_check(const uint8_t *payload, size_t len, struct vm_config *cfg, char *err,
                   size_t errlen)
{
    return check_payload(payload, len, cfg, NULL, err, errlen);
}

int snapshot_parse(const uint8_t *payload, size_t len, struct vm_config *cfg, struct snap_parsed *p,
                   char *err, size_t errlen)
{
    return check_payload(payload, len, cfg, p, err, errlen);
}

int snapshot_apply_overrides(struct vm_config *cfg, const struct snapshot_overrides *ov, char *err,
                             size_t errlen)
{
    for (unsigned i = 0; i < ov->nnets; i++) {
        unsigned j = 0;
        while (j < cfg->nnets && strcmp(cfg->nets[j].id, ov->net[i].iface_id))
            j++;
        if (j == cfg->nnets || cfg->nets[j].kind != NET_TAP) {
            snprintf(err, errlen,
                     "network_overrides[%u].iface_id: the snapshot has no tap interface '%s'", i,
                     ov->net[i].iface_id);
            return -EINVAL;
        }
        snprintf(cfg->nets[j].tap, sizeof(cfg->nets[j].tap), "%s", ov->net[i].tap);
    }
    if (ov->vsock_set) {
        if (!cfg->vsock.enabled) {
            snprintf(err, errlen, "vsock_override: the snapshot has no vsock device");
            return -EINVAL;
        }
        snprintf(cfg->vsock.uds_path, sizeof(cfg->vsock.uds_path), "%s", ov->vsock_uds);
    }
    cfg->track_dirty = ov->track_dirty;
    if (ov->thp == OV_THP_ON && cfg->hugepages) {
        snprintf(err, errlen, "huge_pages: Transparent: the snapshot's RAM is on 2M hugetlb pages");
        return -EINVAL;
    }
    if (ov->thp != OV_THP_SAVED)
        cfg->thp = ov->thp == OV_THP_ON;
    if (ov->console_set) {
        cfg->console = ov->console;
        snprintf(cfg->console_path, sizeof(cfg->console_path), "%s", ov->console_path);
    }
    return 0;
}

int snapshot_build(struct vm *vm, struct kvm_host *kvm, struct vm_config *cfg, const char *mem_path,
                   const struct snapshot_overrides *ov, char *err, size_t errlen)
{
    int memfd = -1;
    int rc = ov ? snapshot_apply_overrides(cfg, ov, err, errlen) : 0;
    if (!rc)
        rc = config_validate(cfg, err, errlen);
    if (!rc && mem_path && (memfd = open_memory(cfg, mem_path, err, errlen)) < 0)
        rc = memfd;
    if (!rc)
        rc = vm_create_restore(vm, kvm, cfg, memfd, err, errlen);
    if (memfd >= 0)
        close(memfd);
    return rc;
}

int snapshot_load_parsed(struct vm *vm, struct snap_parsed *p, bool realtime, char *err,
                         size_t errlen)
{
    int rc = restore_kvm(vm, p, realtime, err, errlen);
    if (!rc) {
        devices_restore(vm, &p->rest);
        state_end(&p->rest);
        if (state_finish(&p->rest))
            rc = snap_fail(err, errlen, p->rest.msg);
    }
    return rc;
}

int snapshot_restore(struct vm *vm, struct kvm_host *kvm, const char *state_path,
                     const char *mem_path, const struct snapshot_overrides *ov, char *err,
                     size_t errlen)
{
    uint8_t *file = NULL;
    size_t flen = 0, plen = 0;
    const uint8_t *payload = NULL;
    struct snap_parsed parsed = {0}; /* what the check read, set without reading it again */
    machine_clear(vm);
    vm_mark(vm, VM_MARK_BEGIN);
    struct vm_config *cfg = malloc(sizeof(*cfg));
    int rc = cfg ? snapfile_read(state_path, &file, &flen, err, errlen) : -ENOMEM;
    if (!rc)
        rc = snapfile_parse(file, flen, &payload, &plen, err, errlen);
    /* everything but the devices' sections is checked before KVM is touched */
    if (!rc)
        rc = check_payload(payload, plen, cfg, &parsed, err, errlen);
    vm_mark(vm, VM_MARK_READ);
    bool uffd = ov && ov->mem_uffd;
    if (!rc)
        rc = snapshot_build(vm, kvm, cfg, uffd ? NULL : mem_path, ov, err, errlen);
    if (!rc && uffd)
        rc = uffd_handoff(vm, mem_path, err, errlen);
    if (!rc)
        rc = snapshot_load_parsed(vm, &parsed, ov && ov->clock_realtime, err, errlen);
    vm_mark(vm, VM_MARK_STATE);
    snapshot_parsed_free(&parsed);
    free(cfg);
    free(file);
    return rc;
}
