/* sandbox.h — contracts of the sandbox layer: seccomp allowlists per thread kind (seccomp*.c). */
#ifndef TRUCE_SANDBOX_H
#define TRUCE_SANDBOX_H

#include <seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/filter.h>

/* ---- thread kinds -----------------------------------------------------------------------------
 * Every thread truce runs while a guest is alive belongs to one kind, and each kind has its own
 * allowlist. Installation is per thread (no SECCOMP_FILTER_FLAG_TSYNC): each thread installs its
 * own kind's filter itself, once everything it needs is open and before it touches anything the
 * guest controls:
 *   SANDBOX_VCPU  a vCPU thread, at its start, before its first KVM_RUN (vm/vcpu.c)
 *   SANDBOX_IO    the device I/O thread (vm->loop), before its event loop runs (vm/vm.c)
 *   SANDBOX_API   the API server thread once its VM has started (api/server.c), and the metrics
 *                 ticker at its start (api/api_main.c)
 *   SANDBOX_MAIN  the main thread when it becomes the monitor, at the start of vm_wait (vm/vm.c)
 *   SANDBOX_VNC   the VNC server thread (--display vnc=), at its start (ui/vnc.c)
 *   SANDBOX_LOADER the initrd loader (vm/lazyload.c), at its start, before the guest runs
 * A thread inherits its creator's filter, so threads are created before their creator enters. */
enum sandbox_kind {
    SANDBOX_VCPU,
    SANDBOX_IO,
    SANDBOX_API,
    SANDBOX_MAIN,
    SANDBOX_VNC,
    SANDBOX_LOADER,
    SANDBOX_NKINDS,
};

/* ---- the lists (sandbox/seccomp_lists.c): data, one commented rule per line -------------------
 * A rule allows syscall NR when every comparison in ARGS holds (NARGS 0: always). Several rules
 * for one syscall are alternatives (e.g. one per ioctl request). ARGTEXT says the comparison in
 * words for `truce seccomp dump`; WHY says who needs it. A rule with FAIL_ERRNO makes the call
 * fail instead (clone3 -> ENOSYS, so glibc falls back to clone, whose flags a filter can see). */
#define SANDBOX_MAX_ARGS 2
/* The texts are arrays in the rule, not pointers: a table of pointers in a position-independent
 * program is relocated at start, which copies its pages into every VM's private memory
 * (bench/footprint.sh); arrays stay read-only file pages. tools/seccomp_gen fails the build when
 * a text leaves no room for its NUL. */
#define SANDBOX_NAME_LEN    32
#define SANDBOX_ARGTEXT_LEN 80
#define SANDBOX_WHY_LEN     160
struct sandbox_rule {
    int nr;
    char name[SANDBOX_NAME_LEN];
    unsigned nargs;
    struct scmp_arg_cmp args[SANDBOX_MAX_ARGS];
    char argtext[SANDBOX_ARGTEXT_LEN]; /* "" when NARGS is 0 */
    char why[SANDBOX_WHY_LEN];
    int fail_errno; /* 0: allow; else the call fails with this errno instead (not trapped) */
    unsigned only;  /* 0: always; else only for a VM with one of these SANDBOX_IF_* parts */
};

/* Parts of a VM that need rules the others do not (struct sandbox_rule.only). */
#define SANDBOX_IF_USERNET (1u << 0) /* --net user: libslirp's sockets, poll, /etc/resolv.conf */
#define SANDBOX_IF_VSOCK   (1u << 1) /* --vsock: UNIX sockets to the host side */
#define SANDBOX_IF_RNG     (1u << 2) /* --rng: getrandom for virtio-rng */
#define SANDBOX_IF_MMDS    (1u << 3) /* MMDS configured: getrandom for tokens (src/mmds/) */
#define SANDBOX_IF_FLASH   (1u << 4) /* --firmware: OVMF's variable flash moves its memory slot */
#define SANDBOX_IF_DISPLAY (1u << 5) /* --display: the framebuffer's KVM slot follows its BAR */
#define SANDBOX_IF_VHOST   (1u << 6) /* --net ...,vhost=on: vhost-net rings started and stopped */

struct sandbox_list {
    const char *kind;  /* "vcpu", "io", "api", "main" */
    const char *title; /* one line: which threads */
    const struct sandbox_rule *rules;
    size_t nrules;
};

/* Indexed by enum sandbox_kind. */
extern const struct sandbox_list sandbox_lists[SANDBOX_NKINDS];
/* Rules in every kind's filter (restart_syscall), outside the per-kind lists and counts. */
extern const struct sandbox_rule *const sandbox_common_rules;
extern const size_t sandbox_common_nrules;
/* Added to every kind in sanitizer builds only (build/truce-asan): the sanitizer runtime's own
 * syscalls. None in build/truce. */
extern const struct sandbox_rule *const sandbox_sanitizer_rules;
extern const size_t sandbox_sanitizer_nrules;

/* Number of distinct syscalls LIST allows (what Firecracker's counts count). */
unsigned sandbox_list_count(const struct sandbox_list *list);

/* ---- policy (sandbox/seccomp.c) ----------------------------------------------------------------
 * Process-wide, like seccomp itself: chosen once from the flags, before any VM thread starts.
 * Built-in lists are the default. */
enum sandbox_mode {
    SANDBOX_BUILTIN, /* the lists above, violations trapped (SIGSYS, exit status 18) */
    SANDBOX_OFF,     /* --no-seccomp */
    SANDBOX_CUSTOM,  /* --seccomp-filter FILE: one raw BPF program for every thread kind */
};

/* The `sandbox_enter` exit status for a violation is TRUCE_EXIT_SECCOMP (vm/vm.h). */

/* --no-seccomp. */
void sandbox_disable(void);
/* --seccomp-filter FILE: read and validate it (sandbox_filter_check). Returns 0 or -errno with
 * one line in ERR naming the file and what is wrong. */
int sandbox_use_filter_file(const char *path, char *err, size_t errlen);
/* Check a raw filter: an array of struct sock_filter (8 bytes each, host byte order), not empty,
 * at most BPF_MAXINSNS instructions, and accepted by the kernel's static checks that can be made
 * here (every jump inside the program, the last instruction a return). Returns the instruction
 * count or -EINVAL with ERR. Pure; unit-tested. */
int sandbox_filter_check(const void *buf, size_t len, char *err, size_t errlen);
enum sandbox_mode sandbox_mode(void);
/* Back to the built-in lists (tests). */
void sandbox_reset(void);

/* Shared by `truce run` and `truce --api-sock`: when ARG (an argv element) is --no-seccomp or
 * --seccomp-filter, apply it (VALUE: the next element, for the two-word form) and return how many
 * elements it used (1 or 2); 0 when ARG is neither; -EINVAL with ERR on a bad value. */
int sandbox_parse_flag(const char *arg, const char *value, char *err, size_t errlen);
#define SANDBOX_FLAGS_HELP                                                                         \
    "  --no-seccomp         run without the seccomp filters (not recommended)\n"                   \
    "  --seccomp-filter FILE  raw BPF (struct sock_filter array) for every thread instead\n"

/* ---- compiling (sandbox/seccomp_build.c) ------------------------------------------------------
 * Build the built-in filter of KIND for a VM with PARTS (SANDBOX_IF_*) into a new libseccomp
 * context (default action: trap); with SANITIZER, the sanitizer rules too (none outside sanitizer
 * builds). Returns the context (seccomp_release it) or NULL. Does not load it. sandbox_build is
 * sandbox_build_lists(KIND, PARTS, true): what this binary loads. */
scmp_filter_ctx sandbox_build_lists(enum sandbox_kind kind, unsigned parts, bool sanitizer);
scmp_filter_ctx sandbox_build(enum sandbox_kind kind, unsigned parts);
/* The SANDBOX_IF_* parts KIND's filter depends on (the `only` bits of its rules): a VM's other
 * parts leave the filter unchanged. */
unsigned sandbox_parts_used(enum sandbox_kind kind);
/* CTX compiled to BPF (libseccomp's seccomp_export_bpf) into a malloc'd *PROG of *LEN
 * instructions. Returns 0 or -errno. */
int sandbox_export(scmp_filter_ctx ctx, struct sock_filter **prog, unsigned short *len);

/* ---- the programs this process loads (sandbox/seccomp.c) --------------------------------------
 * Compiled once: at build time, every kind's program for every combination of its parts
 * (tools/seccomp_gen.c writes build/gen/sandbox/seccomp_bpf.inc, included by seccomp.c); a
 * binary whose lists differ from those (sanitizer builds) compiles each (kind, parts) at its
 * first use and keeps it. Loaded with seccomp(2) directly, as libseccomp's seccomp_load would (no
 * flags). */
struct sandbox_prebuilt {
    uint8_t kind;
    uint8_t parts; /* SANDBOX_IF_* bits, within sandbox_parts_used(kind) */
    uint16_t len;
    const struct sock_filter *prog;
};
/* The build-time program of KIND for PARTS (masked with sandbox_parts_used; the lists without the
 * sanitizer's rules) into *PROG and *LEN. Returns 0, or -ENOENT when this binary has none. */
int sandbox_prebuilt_find(enum sandbox_kind kind, unsigned parts, const struct sock_filter **prog,
                          unsigned short *len);
/* Syscall numbers named by the SIGSYS handler (x86_64 numbers in use stay below). */
#define SANDBOX_SYSCALL_NAMES 512
/* libseccomp's name of syscall NR (x86_64), or NULL: from the build-time table when there is one,
 * else resolved at the first call (all of them: a signal handler must not allocate). */
const char *sandbox_syscall_name(int nr);
/* How many programs the build-time table holds (0: none). */
size_t sandbox_prebuilt_count(void);
/* The program this process loads for KIND with PARTS: the build-time one, else compiled now (once
 * per kind and parts; kept for the process's life). Thread-safe. Returns 0 or -errno. */
int sandbox_program(enum sandbox_kind kind, unsigned parts, const struct sock_filter **prog,
                    unsigned short *len);
struct vm_config;
/* The SANDBOX_IF_* parts of CFG (NULL: none). */
unsigned sandbox_parts(const struct vm_config *cfg);

struct vm;
/* Install KIND's filter on the calling thread according to the policy (nothing when off). Also
 * unblocks SIGSYS in this thread and installs the process's SIGSYS handler, which writes one line
 * naming the syscall and the thread kind, then exits with TRUCE_EXIT_SECCOMP. On failure stops
 * VM (may be NULL) with TRUCE_EXIT_HOST and a reason, and returns -errno: the caller's thread
 * must then end without running guest work. */
int sandbox_enter(struct vm *vm, enum sandbox_kind kind);
/* sandbox_enter(VM, SANDBOX_VCPU), as vm->vcpu_thread_start (the vm layer cannot include this). */
int sandbox_vcpu_enter(struct vm *vm);
/* sandbox_enter(VM, SANDBOX_VNC), the VNC server thread's start hook (ui_start). */
int sandbox_vnc_enter(struct vm *vm);
/* sandbox_enter(VM, SANDBOX_LOADER), as vm->loader_thread_start. */
int sandbox_loader_enter(struct vm *vm);
/* The kind the calling thread entered, or -1. */
int sandbox_current(void);

/* `truce seccomp dump`: every built-in rule as "kind syscall rule # why" lines, then the
 * counts. `truce seccomp` subcommand entry; returns the exit status. */
void sandbox_dump(FILE *out);
int sandbox_main(int argc, char **argv);

#endif
