/* vm.h — contracts of the VM core: KVM handle, guest memory, vCPUs, exits, interrupts, lifecycle.
 */
#ifndef TRUCE_VM_H
#define TRUCE_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vm/iobus.h"
#include "platform/config.h"
#include "platform/layout.h"

/* ---- KVM handle (vm/kvm.c) ----------------------------------------------------------------- */
struct kvm_host {
    int fd;
    int run_size;
    int max_vcpus;
    bool pvm;     /* /dev/kvm is kvm_pvm: no VT-x/AMD-V, stock guests run in the emulator */
    bool hw_virt; /* the CPU advertises vmx or svm (set by kvm_host_report only) */
    struct kvm_cpuid2 *supported_cpuid; /* kvm_host_cpuid's, until a VM's build takes it */
    int spare_vm;       /* > 0: a KVM VM made ahead (machine_warm), taken by the next VM's build */
    bool spare_irqchip; /* that VM has its irqchip and PIT, and its one slow first slot is past */
};

/* Open /dev/kvm, check the API version and every capability truce needs. On failure returns
 * -errno and writes one line naming the missing piece into ERR. */
int kvm_host_open(struct kvm_host *kvm, char *err, size_t errlen);
void kvm_host_close(struct kvm_host *kvm);
/* KVM_GET_SUPPORTED_CPUID, asked at the first call and kept until kvm_host_close or until a VM's
 * build takes it (vm_build owns and frees it then; a VMM waiting for its API calls it before the
 * first request: 0.3-0.4 ms a restore no longer pays). Returns it, or NULL with -errno in *ERR. */
const struct kvm_cpuid2 *kvm_host_cpuid(struct kvm_host *kvm, int *err);
/* The spare VM fd (machine_warm), now the caller's; -1 when there is none. */
int kvm_host_take_vm(struct kvm_host *kvm);
/* Print what /dev/kvm offers and whether stock guests can run (`truce check`). Returns 0 when this
 * host runs stock guests directly, 1 when it cannot (PVM-backed or no /dev/kvm). */
int kvm_host_report(FILE *out);

/* ---- guest memory (vm/memory.c) -------------------------------------------------------------- */
#define MEM_MAX_REGIONS 2
struct mem_region {
    uint64_t gpa;
    uint64_t size;
    uint8_t *hva;
};

/* Device memory (virtio-pmem, virtio-mem): mapped by its device, outside RAM and snapshots' memory
 * file; KVM slot KVM_SLOT_DEVMEM + index (platform/layout.h). */
#define MEM_MAX_DEV_REGIONS (CFG_MAX_PMEM + 1)
struct mem_dev_region {
    uint64_t gpa;
    uint64_t size;
    uint8_t *hva;
    bool readonly; /* KVM_MEM_READONLY; gpa_to_hva does not resolve it (devices write there) */
};

struct guest_mem {
    struct mem_region r[MEM_MAX_REGIONS];
    unsigned nr;
    struct mem_dev_region dev[MEM_MAX_DEV_REGIONS];
    unsigned ndev;
    uint64_t dev_next; /* gpa of the next device region (0: layout_devmem_base) */
    uint64_t ram_size; /* total bytes of RAM */
    uint64_t max_gpa;  /* 2^(the guest CPU's physical address bits) (0: not known yet) */
    void *base;        /* one mapping backing every region */
    size_t map_size;
    bool hugepages; /* 2 MiB hugetlb pages: only whole ones can be given back */
    bool thp;       /* advised MADV_HUGEPAGE: the host may back it with transparent huge pages */
    bool shared;    /* MAP_SHARED on a file or memfd (none of truce's own mappings today): pages
                       are given back by punching the file (MADV_REMOVE), not MADV_DONTNEED */
    /* The VMM's own writes since the last harvest, one bit per 4 KiB page of RAM in region order
     * (NULL: dirty tracking is off). Set through gpa_to_hva/guest_mem_dirty by any thread. */
    _Atomic uint64_t *dirty;
    /* Uffd backend (machine/uffd.c): the userfaultfd RAM is registered with and the socket to its
     * page-fault handler, both kept open for the VM's life (closed by guest_mem_free). */
    bool uffd;
    int uffd_fd, uffd_sock;
};

/* Map RAM_SIZE bytes (anonymous, MAP_NORESERVE, optionally hugetlb) and lay out the regions
 * around the MMIO hole. Returns 0 or -errno (-EINVAL for a size out of range). */
int guest_mem_init(struct guest_mem *m, uint64_t ram_size, bool hugepages);
/* The same layout, mapped privately from FD (a snapshot's memory file of RAM_SIZE bytes). */
int guest_mem_init_file(struct guest_mem *m, uint64_t ram_size, int fd);
/* The host's transparent huge page policy for anonymous memory, in this order
 * (/sys/kernel/mm/transparent_hugepage/enabled; THP_HOST_UNKNOWN: not readable, a kernel without
 * THP or no /sys, as in a jail's chroot). */
enum thp_host { THP_HOST_UNKNOWN, THP_HOST_NEVER, THP_HOST_MADVISE, THP_HOST_ALWAYS };
enum thp_host thp_host_policy(void); /* read once per process */
/* Advise M's RAM MADV_HUGEPAGE (sets m->thp). Returns 0 or -errno (-EINVAL: hugetlb RAM, or no
 * THP in this kernel). Whether huge pages come is the host's: its policy, free 2 MiB blocks. */
int guest_mem_thp(struct guest_mem *m);
/* True when M's anonymous RAM is backed by transparent huge pages as the guest touches it: the
 * host's policy is always, or M was advised and the policy is not known to be never. */
bool guest_mem_thp_backed(const struct guest_mem *m);
void guest_mem_free(struct guest_mem *m);
/* THE checked translation: the host pointer for [gpa, gpa + len) when that range lies entirely
 * inside one RAM region or one writable device-memory region (overflow-safe), else NULL. len 0 is
 * treated as 1. Nothing else in truce turns a guest physical address into a pointer. While dirty
 * tracking is on, a RAM range is marked dirty (the caller may write it; a pointer kept and written
 * later, like a used ring, is marked again by its writer through guest_mem_dirty). */
void *gpa_to_hva(const struct guest_mem *m, uint64_t gpa, uint64_t len);
/* Mark [gpa, gpa + len) of RAM written by the VMM (nothing while tracking is off). */
void guest_mem_dirty(const struct guest_mem *m, uint64_t gpa, uint64_t len);
/* Copy to/from guest RAM through gpa_to_hva. Return 0 or -EFAULT. */
int guest_mem_write(const struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len);
int guest_mem_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len);
/* Highest gpa + 1 of RAM (end of the last region). */
uint64_t guest_mem_end(const struct guest_mem *m);
/* The end of what the guest's CPU can address: min(max_gpa, LAYOUT_MAX_GPA). Device memory and
 * the 64-bit PCI window stay below it. */
uint64_t guest_mem_max_gpa(const struct guest_mem *m);
struct vm;
/* Place SIZE bytes of device memory mapped at HVA (size and HVA 4 KiB aligned) at the next
 * device-memory address of VM (layout_devmem_base), register it with KVM (read-only when READONLY:
 * guest writes exit to the VMM and are dropped) and with gpa_to_hva. Device creation only (before
 * any vCPU runs). Returns 0 with *GPA, -ENOSPC (no room below LAYOUT_MAX_GPA or no slot left),
 * -EINVAL, or the ioctl's -errno. */
int vm_add_device_memory(struct vm *vm, uint64_t size, void *hva, bool readonly, uint64_t *gpa);
/* Undo the last vm_add_device_memory() (a device whose creation failed after it). */
void vm_drop_device_memory(struct vm *vm);
/* Give the host memory behind [HVA, HVA + LEN) back (virtio-balloon): the whole pages inside it
 * (4 KiB, or 2 MiB with hugepages: a partial huge page is kept) are dropped with MADV_DONTNEED
 * (private mappings: the guest then reads zeroes, or a restored snapshot's file contents) or
 * MADV_REMOVE (shared mappings: the file's blocks are freed). HVA must come from gpa_to_hva.
 * Returns the bytes given back (0: no whole page inside), -EFAULT when the range is not inside
 * guest RAM, or -errno from madvise. */
int64_t guest_mem_discard(const struct guest_mem *m, void *hva, uint64_t len);

/* ---- dirty page tracking (vm/dirty.c) -------------------------------------------------------
 * Which pages of RAM changed since the last harvest: KVM's dirty log for the vCPUs' writes, the
 * bitmap of guest_mem for the VMM's (devices') writes. Bitmaps hold one bit per 4 KiB page of
 * RAM in region order (bit i = byte offset i * 4096 of the one mapping), DIRTY_WORDS(m) words. */
#define DIRTY_WORDS(m) (((m)->ram_size / 4096 + 63) / 64)
struct vm;
/* Register every RAM slot with KVM (FLAGS: 0 or KVM_MEM_LOG_DIRTY_PAGES). Returns 0 or -errno. */
int vm_mem_slots_set(struct vm *vm, uint32_t flags);
/* Start tracking (KVM's log on every RAM slot, the VMM bitmap allocated; every page counts as
 * clean from here). Idempotent. Returns 0 or -errno. */
int vm_dirty_start(struct vm *vm);
/* Stop tracking and free the bitmap. */
void vm_dirty_stop(struct vm *vm);
bool vm_dirty_tracking(const struct vm *vm);
/* OR the pages written since the last harvest into OUT (DIRTY_WORDS words) and start a new
 * interval. Returns the number of pages newly set in OUT, or -errno (KVM_GET_DIRTY_LOG). */
long vm_dirty_harvest(struct vm *vm, uint64_t *out);
/* Give BITS back to the current interval (a harvest whose pages were not saved after all). */
void vm_dirty_put_back(struct vm *vm, const uint64_t *bits);

/* A writer of guest RAM that neither KVM's log nor gpa_to_hva sees (vhost-net, which writes from
 * the host kernel): it keeps a log of its own while tracking is on, which each harvest merges.
 * Registered by its device at creation (vm_dirty_source_add: started at once when tracking is
 * already on), removed at teardown; start, stop and harvest run on the thread that starts, stops
 * and harvests tracking (the builder, the API thread), never at the same time. */
struct dirty_source {
    int (*start)(void *opaque);                   /* log every write from now on: 0 or -errno */
    void (*stop)(void *opaque);                   /* stop logging, free the log */
    long (*harvest)(void *opaque, uint64_t *out); /* as vm_dirty_harvest, for its own log */
    void *opaque;
    struct dirty_source *next;
};
/* Returns 0, or START's -errno (then S is not registered). */
int vm_dirty_source_add(struct vm *vm, struct dirty_source *s);
/* Unregister S without calling its stop (teardown: S frees its log itself). */
void vm_dirty_source_del(struct vm *vm, struct dirty_source *s);
/* Move the bits of LOG, a log indexed by guest physical page as vhost's VHOST_SET_LOG_BASE
 * (bit p%64 of word p/64 set: 4 KiB page p = gpa / 4096 written; LOG_PAGES pages), that fall
 * in RAM into OUT (DIRTY_WORDS(M) words, region order like every dirty bitmap), clearing them
 * in LOG with atomic ops (the writer sets them concurrently). Bits outside RAM stay. Returns
 * the number of bits newly set in OUT. */
long dirty_merge_gpa_log(const struct guest_mem *m, _Atomic uint64_t *log, uint64_t log_pages,
                         uint64_t *out);

/* ---- exits (vm/exits.c) ---------------------------------------------------------------------
 * KVM_RUN results are decoded into a plain struct vm_exit, then dispatched through a table
 * indexed by exit reason, so unit tests feed synthetic exits without /dev/kvm. */
struct vm_exit {
    uint32_t reason; /* KVM_EXIT_* */
    union {
        struct {
            uint16_t port;
            uint8_t size; /* 1, 2 or 4 */
            bool in;
            uint32_t count; /* rep count */
            uint8_t *data;  /* count * size bytes */
        } io;
        struct {
            uint64_t gpa;
            uint32_t len; /* 1..8 */
            bool write;
            uint8_t *data;
        } mmio;
        struct {
            uint32_t type; /* KVM_SYSTEM_EVENT_* */
        } system;
        struct {
            uint32_t suberror;
        } internal;
        struct {
            uint64_t hw_reason;
        } fail;
    };
};

enum exit_result {
    EXIT_RESUME = 0, /* re-enter the guest */
    EXIT_STOP = 1,   /* the VM is stopping (vm_request_stop was called) */
};

/* Counters of the exit policy; read by metrics. Updated atomically from vCPU threads. */
struct exit_stats {
    _Atomic uint64_t by_reason[64];    /* index: KVM_EXIT_* (clamped to 63) */
    _Atomic uint64_t ns_by_reason[64]; /* ns in userspace handling them (around the handler) */
    _Atomic uint64_t first_run_ns;     /* now_ns() of the first KVM_RUN; 0: none yet */
    _Atomic uint64_t unknown;          /* reasons with no handler */
    _Atomic uint64_t pio_unmapped;
    _Atomic uint64_t mmio_unmapped;
};

struct vm;
struct vcpu;
/* Decode RUN into E. Returns 0. */
int exit_decode(struct kvm_run *run, struct vm_exit *e);
/* Handle one exit for VCPU (may be NULL in tests). Returns an enum exit_result. */
int exit_dispatch(struct vm *vm, struct vcpu *vcpu, struct vm_exit *e);
/* Format VM's exit statistics as one line into BUF of SIZE (cut if longer):
 * "exit-stats first_run_ns=T now_ns=T KIND=COUNT/USEC ...", times CLOCK_MONOTONIC ns, USEC the
 * microseconds spent in userspace handling that kind; truce run --log-level debug logs it once
 * the VM has stopped, before tearing it down. */
void exit_stats_format(const struct vm *vm, char *buf, size_t size);

/* ---- vCPUs (vm/vcpu.c, vm/cpuid.c) ---------------------------------------------------------- */
struct vcpu {
    struct vm *vm;
    unsigned id;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    bool started;
    _Atomic bool check_idle; /* the monitor asks: report your idle state on the next exit */
    _Atomic int idle;        /* enum vcpu_idle, as last reported */
    _Atomic bool exited;     /* the thread left its loop (the shutdown watchdog reads it) */
};

enum vcpu_idle {
    VCPU_ACTIVE = 0,
    VCPU_HALTED_NOIRQ = 1, /* HLT with IF=0: only NMI/INIT can wake it */
    VCPU_PARKED = 2,       /* AP waiting for INIT/SIPI */
};

/* Build the CPUID table for vCPU ID of NCPUS from the host's supported list SUP (normalised:
 * APIC ids, topology leaves 0x1/0x4/0xB/0x8000001D/0x8000001E, hypervisor bit, KVM signature
 * leaves).
 * OUT must have room for SUP->nent entries + 8. Pure function, unit-tested. */
void cpuid_normalise(const struct kvm_cpuid2 *sup, struct kvm_cpuid2 *out, unsigned id,
                     unsigned ncpus);
/* The CPUID the vCPU VCPU_FD was given (KVM_GET_CPUID2) into C, which has room for MAX entries;
 * C->nent is the number of entries. Linux 6.1 returns neither the count on success (nent stays as
 * passed) nor on E2BIG, so C is zeroed first and the all-zero tail dropped: a real entry is never
 * all zero. Returns 0 or -errno (-E2BIG when the vCPU has more than MAX). (vm/vcpu.c) */
int vcpu_cpuid_get(int vcpu_fd, struct kvm_cpuid2 *c, unsigned max);

/* ---- KVM-held state for snapshots (vm/kvm_state.c) ----------------------------------------- */
struct state_visitor; /* util/state.h */
#define VCPU_STATE_VERSION   1
#define VM_KVM_STATE_VERSION 2 /* 2: the wall-clock time of the clock */
#define VCPU_STATE_MAX_MSRS  96
#define VCPU_STATE_MAX_CPUID 128

/* The MSRs a snapshot saves: KVM_GET_MSR_INDEX_LIST filtered to what this vCPU answers, plus
 * the MSR_PVM_* range on PVM hosts. Built once per VM from vCPU 0. */
struct vcpu_msr_list {
    unsigned n;
    uint32_t index[VCPU_STATE_MAX_MSRS];
};

struct vcpu_state {
    struct kvm_mp_state mp;
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_xsave xsave;
    struct kvm_xcrs xcrs;
    struct kvm_debugregs dregs;
    struct kvm_lapic_state lapic;
    struct kvm_vcpu_events events;
    uint32_t nmsrs;
    struct kvm_msr_entry msrs[VCPU_STATE_MAX_MSRS];
    /* the CPUID the guest saw (template applied): restored as is, on a host that offers it */
    struct kvm_cpuid2 cpuid;
    struct kvm_cpuid_entry2 cpuid_entries[VCPU_STATE_MAX_CPUID];
};

struct vm_kvm_state {
    struct kvm_clock_data clock;
    struct kvm_irqchip chip[3]; /* PIC master, PIC slave, IOAPIC */
    struct kvm_pit_state2 pit;
};

/* Build the MSR save list. Returns 0 or -errno. */
int vcpu_msr_list_build(const struct kvm_host *kvm, int vcpu_fd, struct vcpu_msr_list *out);
/* Read / write every piece of V's KVM state (V's thread stopped: the VM is paused). On failure
 * return -errno with *WHAT naming the ioctl. */
int vcpu_state_get(struct vcpu *v, const struct vcpu_msr_list *msrs, struct vcpu_state *s,
                   const char **what);
/* (SET_CPUID false: V already holds exactly S's CPUID, which is then not set again.) */
int vcpu_state_set(struct vcpu *v, const struct vcpu_state *s, bool set_cpuid, const char **what);
/* The one description of a vCPU's state for saving and loading (util/state.h). */
void vcpu_state_visit(struct state_visitor *v, struct vcpu_state *s);
/* The same for kvmclock, PIC, IOAPIC and PIT (VM paused). Get also notes the host's wall-clock
 * time of the clock reading; set with REALTIME advances kvmclock by the wall-clock time elapsed
 * since then (Firecracker's clock_realtime; none when the host's clock is behind it), else the
 * guest's time goes on from the saved value. */
int vm_kvm_state_get(struct vm *vm, struct vm_kvm_state *s, const char **what);
int vm_kvm_state_set(struct vm *vm, const struct vm_kvm_state *s, bool realtime, const char **what);
void vm_kvm_state_visit(struct state_visitor *v, struct vm_kvm_state *s);

/* ---- CPU templates (vm/cpu_template.c) ------------------------------------------------------ */
/* The entry of C for LEAF/SUBLEAF (the subleaf counts only for entries flagged
 * KVM_CPUID_FLAG_SIGNIFCANT_INDEX), or NULL. */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t leaf, uint32_t subleaf);
/* Fix the bits each modifier of T names in C (the normalised CPUID of one vCPU). Returns 0, or
 * -ENOTSUP with ERR naming a leaf this host does not offer. Pure. */
int cpu_template_apply_cpuid(const struct cpu_template *t, struct kvm_cpuid2 *c, char *err,
                             size_t errlen);
/* Every feature bit WANT sets (leaves 0x1, 0x7, 0xd.1, 0x80000001) must be offered by HOST
 * (KVM_GET_SUPPORTED_CPUID). Returns 0, or -ENOTSUP with ERR listing each missing one by leaf,
 * register, bit and name ("... ebx bit 16 (avx512f)"). Pure. */
int cpuid_check_host(struct kvm_cpuid2 *want, struct kvm_cpuid2 *host, char *err, size_t errlen);
/* The bits of register REG (enum cpuid_reg) of LEAF/SUBLEAF that announce features. */
uint32_t cpuid_feature_bits(uint32_t leaf, uint32_t subleaf, unsigned reg);
/* SEEN (KVM_GET_CPUID2 of a vCPU) carries every bit T fixes. Returns 0 or -EINVAL with ERR. */
int cpu_template_verify_cpuid(const struct cpu_template *t, struct kvm_cpuid2 *seen, char *err,
                              size_t errlen);
/* Apply T's MSR modifiers to the vCPU VCPU_FD (read, fix bits, write). Returns 0 or -errno. */
int cpu_template_apply_msrs(const struct cpu_template *t, int vcpu_fd, char *err, size_t errlen);
/* T's required KVM capabilities are present on KVM_FD. Returns 0 or -ENOTSUP with ERR. */
int cpu_template_check_caps(const struct cpu_template *t, int kvm_fd, char *err, size_t errlen);
/* What vCPU 0 of a 1-vCPU guest would see here (normalised CPUID, template T applied when not
 * NULL): its CPUID and every MSR of the save list with its value. Builds and drops a scratch VM.
 * Returns 0 or <0 with ERR. (truce cpu-template dump / verify.) */
struct cpu_probe {
    struct kvm_cpuid2 cpuid;
    struct kvm_cpuid_entry2 entries[VCPU_STATE_MAX_CPUID];
    struct vcpu_msr_list msrs;
    uint64_t msr_value[VCPU_STATE_MAX_MSRS];
};
int cpu_probe(struct kvm_host *kvm, const struct cpu_template *t, struct cpu_probe *out, char *err,
              size_t errlen);

/* ---- interrupts (vm/irq.c) ------------------------------------------------------------------ */
/* The legacy GSI routing truce installs after KVM_CREATE_IRQCHIP on virtio-mmio machines
 * (machine/builder.c; PCI machines keep KVM's default for now) (platform/layout.h): GSIs 0-15
 * to the PIC input of the same number and to IOAPIC pin layout_isa_irq_pin(GSI) (GSI_PIT to
 * IOAPIC_PIN_PIT, as the MADT and the MP table say), GSIs 16-23 to their IOAPIC pin; no GSI to
 * the cascade. KVM's default identity routing would send the PIT to pin 0, which no table names.
 * irq_routing_build writes at most MAX entries into E and returns the count; irq_routing_init
 * installs them (KVM_SET_GSI_ROUTING). Returns 0 or -errno. */
unsigned irq_routing_build(struct kvm_irq_routing_entry *e, unsigned max);
int irq_routing_init(struct vm *vm);
/* Set a GSI level on the in-kernel PIC/IOAPIC. Returns 0 or -errno. */
int irq_line(struct vm *vm, uint32_t gsi, int level);
/* Raise then lower GSI (edge). */
int irq_pulse(struct vm *vm, uint32_t gsi);
/* Inject an MSI (KVM_SIGNAL_MSI). Returns 0 or -errno. */
int irq_msi(struct vm *vm, uint64_t addr, uint32_t data);
/* MSI routes for irqfds (a kernel backend such as vhost raising a guest MSI without truce): GSIs
 * from IOAPIC_PINS up, installed after the legacy routing (truce's on virtio-mmio machines, KVM's
 * default identity one on PCI machines). Set GSI's message to ADDR/DATA, a new GSI when GSI < 0;
 * the whole table goes to KVM_SET_GSI_ROUTING. Returns the GSI or -errno (-ENOSPC: all
 * IRQ_MSI_ROUTES used). Any thread (vm->msi_lock). */
#define IRQ_MSI_ROUTES 64
int irq_msi_route_set(struct vm *vm, int gsi, uint64_t addr, uint32_t data);
/* Make FD an irqfd raising GSI (ASSIGN), or stop it (KVM_IRQFD). Returns 0 or -errno. */
int irq_irqfd(struct vm *vm, int fd, uint32_t gsi, bool assign);

/* ---- exit statuses --------------------------------------------------------------------------
 * Every way truce ends has its own status. Odd statuses belong to the debug-exit device
 * ((value << 1) | 1, QEMU isa-debug-exit compatible); truce's own are even. */
enum truce_status {
    TRUCE_EXIT_POWEROFF = 0,  /* guest powered off (ACPI S5 / KVM system event) */
    TRUCE_EXIT_USAGE = 2,     /* bad flag, config or image: nothing ran */
    TRUCE_EXIT_HOST = 4,      /* host failure: KVM ioctl, out of memory, I/O thread */
    TRUCE_EXIT_REBOOT = 6,    /* guest asked for a reset (i8042, 0xCF9, ACPI, system event) */
    TRUCE_EXIT_TRIPLE = 8,    /* triple fault (KVM_EXIT_SHUTDOWN) */
    TRUCE_EXIT_HALTED = 10,   /* every vCPU halted with interrupts off: the guest can never run */
    TRUCE_EXIT_PANIC = 12,    /* guest kernel panic reported through pvpanic */
    TRUCE_EXIT_GUEST = 14,    /* guest broke the exit policy (emulation failure, unknown exit) */
    TRUCE_EXIT_SIGNAL = 16,   /* stopped from the host: SIGTERM/SIGINT, Ctrl-A x */
    TRUCE_EXIT_SECCOMP = 18,  /* a thread made a syscall its seccomp list forbids (sandbox/) */
    TRUCE_EXIT_MIGRATED = 20, /* the VM now runs on a migration's destination */
};

/* ---- bulk mode: the I/O thread's scheduling (vm/io_bulk.c) --------------------------------- */

#define IO_BULK_QUIET 64 /* single events after which a batch detector's bulk mode ends */

/* A device's share in its I/O thread's bulk mode. */
struct io_bulk {
    bool counted; /* this device counts in its I/O thread's bulk devices */
    bool off;     /* the I/O thread's policy is not ours to change (or could not be) */
};

/* Count the device of B (NAME, for the one warning) in (IN) or out of its I/O thread's devices
 * moving bulk data: the first one in switches the thread to SCHED_BATCH, the last one out back to
 * SCHED_OTHER. A policy the user chose (not SCHED_OTHER) is left alone. I/O thread only. */
void io_bulk_count(struct io_bulk *b, const char *name, bool in);

/* Batch detector (io_bulk_batch): on when the device finds several requests (or completions)
 * waiting at once (the driver keeps more than one in flight), off after IO_BULK_QUIET that found
 * a single one since (a driver waiting for each request before the next: it is served at once). */
struct io_bulk_batch {
    uint32_t quiet; /* single ones since the last time there were several */
    bool on;
};

/* Feed D one look at the device that found N waiting (none changes nothing). Returns 1 when bulk
 * mode starts, -1 when it ends, 0 otherwise. */
int io_bulk_batch(struct io_bulk_batch *d, unsigned n);

/* ---- the VM --------------------------------------------------------------------------------- */
enum vm_state { VM_CREATED, VM_RUNNING, VM_PAUSED, VM_STOPPING };

/* The teardown watchdog (vm/shutdown.c). */
#define TRUCE_SHUTDOWN_GRACE_MS 3000 /* a teardown longer than this ends the process anyway */
struct shutdown_watch {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool armed, done;
    unsigned grace_ms;        /* 0: TRUCE_SHUTDOWN_GRACE_MS */
    const char *_Atomic step; /* what the teardown is doing now (a string literal) */
};

/* The start-up timeline of a VM: now_ns() when each phase of building (or restoring) and starting
 * it ended, 0 when not reached. machine/ stamps them (vm_mark), the vCPU seccomp filter's
 * installation stamps VM_MARK_SECCOMP, stats.first_run_ns follows; machine/lifecycle.c logs the
 * phases at debug level ("start-stats", bench/restore.sh). */
enum vm_mark {
    VM_MARK_BEGIN,   /* the build (or the restore) was asked for */
    VM_MARK_READ,    /* restore: the state file read and checked */
    VM_MARK_KVM,     /* KVM_CREATE_VM, TSS and identity map */
    VM_MARK_MMAP,    /* guest RAM mapped */
    VM_MARK_SLOTS,   /* RAM's KVM memory slots set */
    VM_MARK_IRQCHIP, /* in-kernel irqchip, GSI routing, PIT */
    VM_MARK_CPUID,   /* KVM_GET_SUPPORTED_CPUID, CPU template checked */
    VM_MARK_DEVICES, /* console and devices */
    VM_MARK_VCPUS,   /* every KVM_CREATE_VCPU */
    VM_MARK_STATE,   /* restore: KVM, vCPU and device state set */
    VM_MARK_PREPARE, /* Landlock and whatever ran between the build and the start */
    VM_MARK_THREADS, /* the I/O and vCPU threads created */
    VM_MARK_SECCOMP, /* the first vCPU thread under its seccomp filter */
    VM_MARK_BOOT,    /* the boot image loaded: kernel, initrd, tables (restore: the ROMs) */
    VM_NMARKS
};

/* The initrd loaded behind the guest's back (vm/lazyload.c). TRUCE_BOOT_LOAD picks the mode:
 * unset, lazy unless the host backs anonymous memory with huge pages unasked (THP "always");
 * lazy; demand (tests: a piece only when touched, the rest when the VM pauses); or eager
 * (everything before the guest's first instruction, as without a userfaultfd). */
#define LAZY_WHAT_LEN 200
enum lazy_mode { LAZY_AUTO, LAZY_BACKGROUND, LAZY_DEMAND, LAZY_EAGER };
struct lazy_piece;
struct lazy_file;
struct lazy_load {
    bool decided; /* mode and userfaultfd chosen, at the first range worth it */
    enum lazy_mode mode;
    int uffd; /* -1 (once decided): none, every range is read at once */
    struct lazy_piece *pieces;
    size_t npieces, loaded, faults; /* queued, in, served first because something touched them */
    struct lazy_file *files;
    size_t nfiles;
    uint64_t bytes;
    uint8_t *bounce; /* one piece read from its file, for UFFDIO_COPY */
    bool thp_always; /* the host's THP setting is "always": collapse what was loaded */
    pthread_t thread;
    pthread_mutex_t join_lock; /* vm_build inits it (a zeroed one is valid too: glibc) */
    bool started;
    _Atomic bool stop, finish;
};

/* Copy LEN bytes of FD at OFF to DST (guest RAM): now, or queued for the loader (see lazyload.c
 * for which). WHAT names the file in a later error ("initrd /path"). While the VM is built; what
 * is queued must not be written by truce until lazy_start (vm_start_in) runs.
 * Returns 0 or -errno (-EIO: the file is shorter). */
int lazy_copy(struct vm *vm, void *dst, int fd, uint64_t off, size_t len, const char *what);
/* Start the loader for what lazy_copy queued (nothing queued: nothing to do); it enters its
 * sandbox through vm->loader_thread_start. Without a thread, loads it all now. 0 or -errno with
 * ERR. */
int lazy_start(struct vm *vm, char *err, size_t errlen);
/* Load every piece still queued, from the calling thread. 0 or -errno. Not while the loader
 * runs. */
int lazy_flush(struct vm *vm);
/* Before truce writes [DST, DST+LEN) of guest RAM while the VM is built: when that meets a queued
 * range, lazy_flush (a write there would wait for a loader that is not running yet). */
int lazy_before_write(struct vm *vm, const void *dst, size_t len);
/* Wait until the loader has loaded everything and ended (before a pause, dirty tracking, a
 * snapshot: guest RAM is then whole). */
void lazy_finish(struct vm *vm);
/* End the loader where it is and free everything (vm_destroy; also before a build's loader ran).
 * Threads waiting on a page not loaded get a zero page. */
void lazy_stop(struct vm *vm);

struct device_instance; /* dev/dev.h */
struct console;         /* dev/dev.h */
struct pci_bus;         /* bus/pci.h */

struct vm {
    struct kvm_host *kvm;
    int fd;
    struct guest_mem mem;
    struct dirty_source *dirty_sources; /* vm/dirty.c */
    struct io_bus pio;
    struct io_bus mmio;
    struct exit_stats stats;
    _Atomic uint64_t marks[VM_NMARKS]; /* enum vm_mark */
    struct vcpu *vcpus;
    unsigned ncpus;
    struct evloop *loop; /* device I/O thread */
    pthread_t io_thread;
    bool io_thread_started;
    _Atomic bool io_thread_exited;
    struct shutdown_watch shutdown;
    /* Run by each vCPU thread before its first KVM_RUN (NULL: nothing); the machine layer sets it
     * to install the vCPU seccomp filter (sandbox/). Returns 0, or <0 after stopping the VM. */
    int (*vcpu_thread_start)(struct vm *vm);
    /* Run by the initrd loader thread at its start (vm/lazyload.c), as vcpu_thread_start. */
    int (*loader_thread_start)(struct vm *vm);
    struct lazy_load lazy;

    struct device_instance *devices; /* created devices, in creation order */
    struct console *console;         /* host side of the active console */
    struct pci_bus *pci;
    struct kvm_cpuid2 *cpuid; /* KVM_GET_SUPPORTED_CPUID, fetched once; freed (NULL) once every
                                 vCPU is created (vm_build) */
    struct kvm_clock_data paused_clock;

    /* boot entry, filled by boot_load() */
    struct {
        int mode; /* enum boot_mode (boot/boot.h) */
        uint64_t entry;
        uint64_t rsi; /* linux 64-bit: zero page */
        uint64_t rbx; /* PVH: hvm_start_info */
        uint64_t cr3; /* linux 64-bit: page tables */
        uint64_t gdt;
    } boot;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    /* MSI routes of irqfds (vm/irq.c): their messages, in use when addr is not 0 */
    pthread_mutex_t msi_lock;
    struct {
        uint64_t addr;
        uint32_t data;
    } msi_route[IRQ_MSI_ROUTES];
    enum vm_state state;
    unsigned paused_vcpus;
    int exit_status;
    char exit_reason[256];
    int stop_pipe[2]; /* written once when the VM stops; lets event loops wake up */
    bool restoring;   /* built for a snapshot restore: no boot image, no boot registers */
    /* A Landlock ruleset the guest-facing threads (vCPU, I/O, VNC, loader) restrict themselves with
     * at their start (sandbox_enter; sandbox/jail.h landlock_vm_start); 0: none, as in a zeroed vm
     * (never fd 0; the CLI's main thread restricts itself before it creates them). Closed by
     * vm_destroy. */
    int landlock_fd;
    /* The MMDS data store (src/mmds/) the interfaces named in cfg.mmds answer from; NULL: none.
     * Set by the caller before vm_create, snapshot_restore or migrate_receive (which keep it);
     * owned by the caller. */
    struct mmds *mmds;
    /* last: the fields above share its first page, and a VM's 200 KiB copy of its configuration
     * is backed only where settings are (mem_copy) */
    struct vm_config cfg; /* copy, owned */
};

/* Ask the VM to stop with STATUS; the first caller's status and reason win. Thread-safe,
 * callable from vCPU, I/O and signal-watching threads. */
void vm_request_stop(struct vm *vm, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool vm_stopping(struct vm *vm);
/* shutdown.c: arm the watchdog (idempotent), say what the teardown does now, disarm it. */
void shutdown_watch_start(struct vm *vm);
void shutdown_watch_step(struct vm *vm, const char *step);
void shutdown_watch_end(struct vm *vm);

/* Make every vCPU leave KVM_RUN soon and look at the VM's state. */
void vm_kick_all(struct vm *vm);
/* vCPUs (vm/vcpu.c), used by the machine layer */
int vcpu_create(struct vm *vm, struct vcpu *v, unsigned id);
/* Set V's registers: FILL changes what it needs in V's current (reset) state. 0 or -errno. */
int vcpu_set_regs(struct vcpu *v, void (*fill)(const struct vm *vm, unsigned id,
                                               struct kvm_regs *regs, struct kvm_sregs *sregs));
int vcpu_start(struct vcpu *v);
/* Log V's registers at error level, from its own thread after an exit that ends the VM (a triple
 * fault, KVM unable to run it): where the guest was, for its owner's bug report. WHY names it. */
void vcpu_log_state(struct vcpu *v, const char *why);
/* Make V leave KVM_RUN soon and look at the VM's state (stop, pause, idle check). */
void vcpu_kick(struct vcpu *v);
void vcpu_join(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);

#endif
