/* builder.c — VM construction: KVM VM, guest memory, CPUID, console, devices, boot image,
 * vCPUs, in that order. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boot/boot.h"
#include "dev/dev.h"
#include "machine/machine.h"
#include "util/util.h"
#include "vm/vm.h"

/* KVM_GET_SUPPORTED_CPUID for the template check and the vCPUs' tables: the VM takes the
 * host's table (fetched ahead by machine_warm, or now), so one copy exists, and frees it once
 * every vCPU is created; a later build on the same host asks KVM again. */
static int vm_fetch_cpuid(struct vm *vm)
{
    int rc = 0;
    if (!kvm_host_cpuid(vm->kvm, &rc))
        return rc;
    vm->cpuid = vm->kvm->supported_cpuid;
    vm->kvm->supported_cpuid = NULL;
    return 0;
}

/* A new KVM VM with its TSS and identity map: its fd, or -errno with *WHAT naming the ioctl. */
static int kvm_vm_new(int kvm_fd, const char **what)
{
    uint64_t idmap = LAYOUT_IDENTITY_MAP;
    *what = "KVM_CREATE_VM";
    int fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (fd < 0)
        return -errno;
    *what = "KVM_SET_TSS_ADDR";
    if (ioctl(fd, KVM_SET_TSS_ADDR, LAYOUT_TSS_ADDR) == 0) {
        *what = "KVM_SET_IDENTITY_MAP_ADDR";
        if (ioctl(fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) == 0)
            return fd;
    }
    int e = errno;
    close(fd);
    return -e;
}

static const struct kvm_pit_config pit_config = {.flags = KVM_PIT_SPEAKER_DUMMY};

/* The irqchip and PIT of the new VM FD, then one page's memory slot set and deleted: on PVM-backed
 * KVM the first slot set after KVM_CREATE_IRQCHIP waits 5-11 ms (one SRCU grace period), the
 * next ones 0.1-0.2 ms like a slot set before it. Returns 0 or -errno. */
static int warm_irqchip(int fd)
{
    struct kvm_pit_config pit = pit_config;
    if (ioctl(fd, KVM_CREATE_IRQCHIP, 0) < 0 || ioctl(fd, KVM_CREATE_PIT2, &pit) < 0)
        return -errno;
    void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        return -errno;
    struct kvm_userspace_memory_region r = {.memory_size = 4096, .userspace_addr = (uintptr_t)page};
    int rc = ioctl(fd, KVM_SET_USER_MEMORY_REGION, &r);
    r.memory_size = 0;
    if (!rc)
        rc = ioctl(fd, KVM_SET_USER_MEMORY_REGION, &r);
    rc = rc < 0 ? -errno : 0;
    munmap(page, 4096);
    return rc;
}

void machine_warm(struct kvm_host *kvm)
{
    const char *what;
    int rc = 0;
    kvm_host_cpuid(kvm, &rc);
    if (kvm->spare_vm > 0 || (rc = kvm_vm_new(kvm->fd, &what)) < 0)
        return;
    if (warm_irqchip(rc) < 0) { /* half made: the build makes its own */
        close(rc);
        return;
    }
    kvm->spare_vm = rc;
    kvm->spare_irqchip = true;
}

/* KVM VM fd, TSS and identity map: the one machine_warm made ahead (*IRQCHIP: with its irqchip
 * and PIT), or a new one. */
static int vm_create_kvm(struct vm *vm, bool *irqchip, char *err, size_t errlen)
{
    const char *what = "";
    *irqchip = vm->kvm->spare_irqchip;
    vm->fd = kvm_host_take_vm(vm->kvm);
    if (vm->fd < 0 && (vm->fd = kvm_vm_new(vm->kvm->fd, &what)) < 0) {
        int e = -vm->fd;
        vm->fd = -1;
        snprintf(err, errlen, "kvm: %s: %s", what, strerror(e));
        return -e;
    }
    *irqchip &= vm->fd >= 0;
    vm_mark(vm, VM_MARK_KVM);
    return 0;
}

/* In-kernel PIC+IOAPIC+LAPIC and PIT (unless MADE with the VM by machine_warm). After RAM's
 * memory slots: on PVM-backed KVM the first slot set after KVM_CREATE_IRQCHIP costs 5-12 ms,
 * before it 0.2-1 ms (bench/restore.sh). */
static int vm_create_irqchip(struct vm *vm, bool made, char *err, size_t errlen)
{
    struct kvm_pit_config pit = pit_config;
    const char *what = "KVM_CREATE_IRQCHIP";
    if (!made && ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) < 0)
        goto fail;
    /* truce's routing (the PIT on the pin the MP table names) for virtio-mmio machines, where
     * Firecracker-style guests without ACPI need it; PCI machines keep KVM's default routing for
     * now: with the new routing, OVMF and a 3.5 GiB guest stalled in some lab runs (not yet
     * understood). */
    what = "KVM_SET_GSI_ROUTING";
    if (vm->cfg.transport == TRANSPORT_MMIO && (errno = -irq_routing_init(vm)) != 0)
        goto fail;
    what = "KVM_CREATE_PIT2";
    if (!made && ioctl(vm->fd, KVM_CREATE_PIT2, &pit) < 0)
        goto fail;
    vm_mark(vm, VM_MARK_IRQCHIP);
    return 0;
fail:;
    int e = errno;
    snprintf(err, errlen, "kvm: %s: %s", what, strerror(e));
    return -e;
}

/* --thp: guest RAM advised for transparent huge pages; a host that will not give any is told. */
static int vm_advise_thp(struct vm *vm, char *err, size_t errlen)
{
    int rc = guest_mem_thp(&vm->mem);
    if (rc) {
        snprintf(err, errlen,
                 "--thp: madvise(MADV_HUGEPAGE) on guest RAM: %s (a kernel without transparent "
                 "huge pages?)",
                 strerror(-rc));
        return rc;
    }
    if (thp_host_policy() == THP_HOST_NEVER)
        log_warn("--thp: the host's transparent huge pages are off "
                 "(/sys/kernel/mm/transparent_hugepage/enabled is never): 4 KiB pages");
    return 0;
}

static int vm_create_memory(struct vm *vm, int mem_fd, char *err, size_t errlen)
{
    int rc = mem_fd >= 0 ? guest_mem_init_file(&vm->mem, vm->cfg.mem_bytes, mem_fd)
                         : guest_mem_init(&vm->mem, vm->cfg.mem_bytes, vm->cfg.hugepages);
    if (rc) {
        if (vm->cfg.hugepages && rc == -ENOMEM)
            snprintf(err, errlen,
                     "--hugepages: not enough free 2 MiB huge pages for %llu MiB "
                     "(see /proc/sys/vm/nr_hugepages)",
                     (unsigned long long)(vm->cfg.mem_bytes >> 20));
        else
            snprintf(err, errlen, "--memory: cannot map %llu bytes of guest RAM: %s",
                     (unsigned long long)vm->cfg.mem_bytes, strerror(-rc));
        return rc;
    }
    vm_mark(vm, VM_MARK_MMAP);
    return vm->cfg.thp ? vm_advise_thp(vm, err, errlen) : 0;
}

/* Guest RAM's KVM memory slots (and the dirty log, when asked for). */
static int vm_create_slots(struct vm *vm, char *err, size_t errlen)
{
    int rc = vm_mem_slots_set(vm, 0);
    if (rc)
        snprintf(err, errlen, "kvm: KVM_SET_USER_MEMORY_REGION: %s", strerror(-rc));
    else if (vm->cfg.track_dirty && (rc = vm_dirty_start(vm)))
        snprintf(err, errlen, "track_dirty_pages: KVM's dirty log: %s", strerror(-rc));
    if (!rc)
        vm_mark(vm, VM_MARK_SLOTS);
    return rc;
}

/* The physical address bits CPUID C reports (leaf 0x80000008 EAX[7:0]; 36 without the leaf). */
static unsigned cpuid_phys_bits(struct kvm_cpuid2 *c)
{
    const struct kvm_cpuid_entry2 *e = cpuid_find(c, 0x80000008, 0);
    return e && (e->eax & 0xff) ? e->eax & 0xff : 36;
}

/* The configuration's CPU template fits this host (its KVM capabilities, its CPUID leaves, no
 * feature bit the host lacks) and guest RAM lies within the physical address bits of the guest's
 * CPU and of the host's (vm->mem.max_gpa from now on). Checked on vCPU 0's CPUID, before any vCPU
 * exists. */
static int vm_check_cpu(struct vm *vm, char *err, size_t errlen)
{
    const struct cpu_template *t = &vm->cfg.cpu_template;
    int rc = cpu_template_check_caps(t, vm->kvm->fd, err, errlen);
    if (rc)
        return rc;
    size_t n = vm->cpuid->nent + 8;
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
    if (!c)
        return -ENOMEM;
    cpuid_normalise(vm->cpuid, c, 0, vm->ncpus);
    char lack[400];
    if (t->ncpuid && !(rc = cpu_template_apply_cpuid(t, c, err, errlen)) &&
        (rc = cpuid_check_host(c, vm->cpuid, lack, sizeof(lack))) < 0)
        snprintf(err, errlen, "cpu template: %s", lack);
    unsigned guest = cpuid_phys_bits(c), host = cpuid_phys_bits(vm->cpuid);
    free(c);
    if (rc)
        return rc;
    unsigned bits = MIN(MIN(guest, host), 63u);
    vm->mem.max_gpa = 1ULL << bits;
    uint64_t end = guest_mem_end(&vm->mem);
    if (end > guest_mem_max_gpa(&vm->mem)) {
        snprintf(err, errlen,
                 "memory: guest RAM ends at %.1f GiB (the MMIO hole below 4 GiB included), "
                 "beyond the %u-bit physical address space the guest's CPU has (CPUID "
                 "0x80000008: %u bits for the guest%s, %u on this host): lower --memory",
                 (double)end / (double)GiB, bits, guest, t->ncpuid ? " with the CPU template" : "",
                 host);
        return -EINVAL;
    }
    return 0;
}

/* What vCPU V reports holds every CPUID bit of the template (a host whose KVM keeps the CPU's
 * own CPUID, as PVM does, cannot hide anything: refuse rather than pretend). */
static int vm_verify_template(struct vm *vm, struct vcpu *v, char *err, size_t errlen)
{
    const struct cpu_template *t = &vm->cfg.cpu_template;
    struct {
        struct kvm_cpuid2 hdr;
        struct kvm_cpuid_entry2 e[VCPU_STATE_MAX_CPUID];
    } seen;
    char why[300];
    if (!t->ncpuid || vm->restoring)
        return 0;
    int rc = vcpu_cpuid_get(v->fd, &seen.hdr, VCPU_STATE_MAX_CPUID);
    if (rc < 0) {
        snprintf(err, errlen, "kvm: KVM_GET_CPUID2: %s", strerror(-rc));
        return rc;
    }
    if (cpu_template_verify_cpuid(t, &seen.hdr, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "cpu template: this host's KVM does not apply it (%s)%s", why,
                 vm->kvm->pvm ? "; PVM-backed KVM keeps the CPU's own CPUID" : "");
        return -EINVAL;
    }
    return 0;
}

void machine_clear(struct vm *vm)
{
    struct mmds *mmds = vm->mmds; /* the caller's (vm.h) */
    uint64_t begin = atomic_load(&vm->marks[VM_MARK_BEGIN]),
             read = atomic_load(&vm->marks[VM_MARK_READ]);
    mem_zero(vm, sizeof(*vm)); /* the config inside is large and mostly zero: keep it unbacked */
    vm->mmds = mmds;
    atomic_store(&vm->marks[VM_MARK_BEGIN], begin); /* a restore's timeline began before */
    atomic_store(&vm->marks[VM_MARK_READ], read);
    vm->fd = -1;
    vm->stop_pipe[0] = vm->stop_pipe[1] = -1;
}

/* vm_create, and vm_create_restore when RESTORING (RAM from MEM_FD when >= 0). */
static int vm_build(struct vm *vm, struct kvm_host *kvm, const struct vm_config *cfg,
                    bool restoring, int mem_fd, char *err, size_t errlen)
{
    machine_clear(vm);
    vm->kvm = kvm;
    mem_copy(&vm->cfg, cfg, sizeof(*cfg)); /* only the pages holding settings get backed */
    vm->ncpus = cfg->cpus;
    vm->restoring = restoring;
    pthread_mutex_init(&vm->lock, NULL);
    pthread_cond_init(&vm->cond, NULL);
    pthread_mutex_init(&vm->msi_lock, NULL);
    pthread_mutex_init(&vm->lazy.join_lock, NULL);
    io_bus_init(&vm->pio, "pio");
    io_bus_init(&vm->mmio, "mmio");
    vm->state = VM_CREATED;
    if (!atomic_load(&vm->marks[VM_MARK_BEGIN]))
        vm_mark(vm, VM_MARK_BEGIN);

    int rc;
    if (pipe2(vm->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0 || !(vm->loop = evloop_new())) {
        snprintf(err, errlen, "host: cannot create the event loop: %s", strerror(errno));
        return -ENOMEM;
    }
    bool irqchip;
    if ((rc = vm_create_kvm(vm, &irqchip, err, errlen)) ||
        (rc = vm_create_memory(vm, mem_fd, err, errlen)))
        return rc;
    /* the CPU before the memory slots: KVM refuses a slot beyond the host's physical address
     * bits with a bare EINVAL, vm_check_cpu names the widths */
    if ((rc = vm_fetch_cpuid(vm))) {
        snprintf(err, errlen, "kvm: KVM_GET_SUPPORTED_CPUID: %s", strerror(-rc));
        return rc;
    }
    if ((rc = vm_check_cpu(vm, err, errlen)))
        return rc == -ENOTSUP ? -EINVAL : rc;
    vm_mark(vm, VM_MARK_CPUID);
    if ((rc = vm_create_slots(vm, err, errlen)) ||
        (rc = vm_create_irqchip(vm, irqchip, err, errlen)))
        return rc;
    if ((rc = console_open(vm, err, errlen)) || (rc = devices_create(vm, err, errlen)))
        return rc;
    vm_mark(vm, VM_MARK_DEVICES);
    if ((rc = vm->restoring ? boot_restore(vm, err, errlen) : boot_load(vm, err, errlen)))
        return rc;
    vm_mark(vm, VM_MARK_BOOT);
    vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
    if (!vm->vcpus)
        return -ENOMEM;
    for (unsigned i = 0; i < vm->ncpus; i++)
        vm->vcpus[i].fd = -1;
    for (unsigned i = 0; i < vm->ncpus; i++) {
        rc = vcpu_create(vm, &vm->vcpus[i], i);
        if (rc) {
            snprintf(err, errlen, "kvm: creating vCPU %u: %s", i, strerror(-rc));
            return rc;
        }
        if ((rc = cpu_template_apply_msrs(&cfg->cpu_template, vm->vcpus[i].fd, err, errlen)) ||
            (rc = vm_verify_template(vm, &vm->vcpus[i], err, errlen)))
            return -EINVAL;
    }
    vm_mark(vm, VM_MARK_VCPUS);
    /* every vCPU has its table (vCPUs are created here only; a restore checks the saved CPU
     * against the vCPU's own, KVM_GET_CPUID2): the host's is not needed while the VM runs */
    free(vm->cpuid);
    vm->cpuid = NULL;
    /* the boot processor starts where the loader says; APs wait for INIT/SIPI; a restore sets
     * every register from the snapshot instead */
    if (!vm->restoring && (rc = vcpu_set_regs(&vm->vcpus[0], boot_vcpu_regs)))
        snprintf(err, errlen, "kvm: setting vCPU 0 registers: %s", strerror(-rc));
    return rc;
}

int vm_create(struct vm *vm, struct kvm_host *kvm, const struct vm_config *cfg, char *err,
              size_t errlen)
{
    return vm_build(vm, kvm, cfg, false, -1, err, errlen);
}

int vm_create_restore(struct vm *vm, struct kvm_host *kvm, const struct vm_config *cfg, int mem_fd,
                      char *err, size_t errlen)
{
    return vm_build(vm, kvm, cfg, true, mem_fd, err, errlen);
}
