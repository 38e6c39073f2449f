/* seccomp.c — builds and installs the per-thread-kind seccomp filters; traps violations. */
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <unistd.h>

#include "sandbox/jail.h"
#include "sandbox/sandbox.h"
#include "util/util.h"
#include "vm/vm.h"

#define FILTER_FILE_MAX (BPF_MAXINSNS * sizeof(struct sock_filter))

/* Process-wide policy (seccomp applies to the process's threads; chosen once from the flags). */
static struct {
    enum sandbox_mode mode;
    struct sock_filter *custom; /* SANDBOX_CUSTOM: the program */
    unsigned short ncustom;
} policy;

static pthread_once_t names_once = PTHREAD_ONCE_INIT;
static __thread int tls_kind = -1;

/* Once per process, before the first filter: what glibc would otherwise do lazily inside a
 * filtered thread, and the names for the SIGSYS handler. */
static void prepare_process(void)
{
    tzset(); /* the first gmtime_r (the CMOS clock) would open /etc/localtime */

    /* The SIGSYS handler's names: a table built in (sandbox_prebuilt_names), or resolved now by
     * libseccomp, whose resolver allocates, which a signal handler must not do. */
    (void)sandbox_syscall_name(0);
}

void sandbox_disable(void)
{
    sandbox_reset();
    policy.mode = SANDBOX_OFF;
}

void sandbox_reset(void)
{
    free(policy.custom);
    policy.custom = NULL;
    policy.ncustom = 0;
    policy.mode = SANDBOX_BUILTIN;
}

enum sandbox_mode sandbox_mode(void)
{
    return policy.mode;
}

int sandbox_current(void)
{
    return tls_kind;
}

/* ---- --seccomp-filter ------------------------------------------------------------------------ */

int sandbox_filter_check(const void *buf, size_t len, char *err, size_t errlen)
{
    const size_t insn = sizeof(struct sock_filter);
    if (len == 0)
        return snprintf(err, errlen, "empty: a filter needs at least one instruction"), -EINVAL;
    if (len % insn)
        return snprintf(err, errlen,
                        "%zu bytes is not a whole number of %zu-byte struct sock_filter "
                        "instructions",
                        len, insn),
               -EINVAL;
    size_t n = len / insn;
    if (n > BPF_MAXINSNS)
        return snprintf(err, errlen, "%zu instructions, more than BPF_MAXINSNS (%d)", n,
                        BPF_MAXINSNS),
               -EINVAL;
    const struct sock_filter *f = buf;
    for (size_t i = 0; i < n; i++) {
        unsigned cls = BPF_CLASS(f[i].code);
        if (cls == BPF_JMP && BPF_OP(f[i].code) == BPF_JA) {
            if (f[i].k >= n - i - 1)
                return snprintf(err, errlen, "instruction %zu jumps past the end", i), -EINVAL;
        } else if (cls == BPF_JMP && (f[i].jt >= n - i - 1 || f[i].jf >= n - i - 1)) {
            return snprintf(err, errlen, "instruction %zu jumps past the end", i), -EINVAL;
        }
    }
    if (BPF_CLASS(f[n - 1].code) != BPF_RET)
        return snprintf(err, errlen, "the last instruction is not a return (BPF_RET)"), -EINVAL;
    return (int)n;
}

int sandbox_use_filter_file(const char *path, char *err, size_t errlen)
{
    uint8_t *buf;
    size_t len;
    char why[160];
    int rc = read_file(path, FILTER_FILE_MAX + sizeof(struct sock_filter), &buf, &len);
    if (rc == -EFBIG)
        return snprintf(err, errlen,
                        "--seccomp-filter: %s: more than BPF_MAXINSNS (%d) instructions", path,
                        BPF_MAXINSNS),
               rc;
    if (rc < 0)
        return snprintf(err, errlen, "--seccomp-filter: %s: %s", path, strerror(-rc)), rc;
    rc = sandbox_filter_check(buf, len, why, sizeof(why));
    if (rc < 0) {
        free(buf);
        return snprintf(err, errlen, "--seccomp-filter: %s: %s", path, why), rc;
    }
    sandbox_reset();
    policy.custom = (struct sock_filter *)buf;
    policy.ncustom = (unsigned short)rc;
    policy.mode = SANDBOX_CUSTOM;
    return 0;
}

int sandbox_parse_flag(const char *arg, const char *value, char *err, size_t errlen)
{
    static const char filter_flag[] = "--seccomp-filter";
    size_t fl = sizeof(filter_flag) - 1;
    if (!arg)
        return 0;
    if (!strcmp(arg, "--no-seccomp")) {
        if (policy.mode == SANDBOX_CUSTOM)
            return snprintf(err, errlen, "--no-seccomp: cannot be combined with --seccomp-filter"),
                   -EINVAL;
        sandbox_disable();
        return 1;
    }
    if (strncmp(arg, filter_flag, fl) || (arg[fl] != '\0' && arg[fl] != '='))
        return 0;
    int used = arg[fl] == '=' ? 1 : 2;
    const char *path = arg[fl] == '=' ? arg + fl + 1 : value;
    if (!path || !*path)
        return snprintf(err, errlen, "--seccomp-filter: missing value (a BPF file)"), -EINVAL;
    if (policy.mode == SANDBOX_OFF)
        return snprintf(err, errlen, "--seccomp-filter: cannot be combined with --no-seccomp"),
               -EINVAL;
    int rc = sandbox_use_filter_file(path, err, errlen);
    return rc < 0 ? rc : used;
}

/* ---- building and installing ------------------------------------------------------------------
 */

unsigned sandbox_parts(const struct vm_config *cfg)
{
    unsigned parts = 0;
    for (unsigned i = 0; cfg && i < cfg->nnets; i++)
        if (cfg->nets[i].kind == NET_USER)
            parts |= SANDBOX_IF_USERNET;
    if (cfg && cfg->vsock.enabled)
        parts |= SANDBOX_IF_VSOCK;
    if (cfg && cfg->entropy)
        parts |= SANDBOX_IF_RNG;
    if (cfg && cfg->mmds.enabled)
        parts |= SANDBOX_IF_MMDS;
    if (cfg && cfg->firmware[0])
        parts |= SANDBOX_IF_FLASH;
    if (cfg && cfg->display.kind != DISPLAY_NONE)
        parts |= SANDBOX_IF_DISPLAY;
    for (unsigned i = 0; cfg && i < cfg->nnets; i++)
        if (cfg->nets[i].vhost)
            parts |= SANDBOX_IF_VHOST;
    return parts;
}

/* Writes "<prefix><decimal N>" into P; returns the end. Async-signal-safe. */
static char *put_str(char *p, const char *s)
{
    while (*s)
        *p++ = *s++;
    return p;
}

static char *put_hex(char *p, unsigned long v)
{
    char d[16];
    int n = 0;
    do {
        d[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    p = put_str(p, "0x");
    while (n)
        *p++ = d[--n];
    return p;
}

/* Up to MAX bytes of the NUL-terminated string S (a syscall's path argument). */
static char *put_path(char *p, const char *s, int max)
{
    *p++ = '"';
    for (int i = 0; s && s[i] && i < max; i++)
        *p++ = s[i] >= ' ' && s[i] < 127 ? s[i] : '?';
    *p++ = '"';
    return p;
}

static char *put_num(char *p, long v)
{
    char d[24];
    int n = 0;
    if (v < 0) {
        *p++ = '-';
        v = -v;
    }
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = d[--n];
    return p;
}

/* SIGSYS: the calling thread made a syscall its list does not allow. One line, then exit. */
static void sigsys_handler(int sig, siginfo_t *si, void *uc)
{
    char line[320], *p = line;
    int k = tls_kind;
    int nr = si->si_syscall;
    const char *name = sandbox_syscall_name(nr); /* resolved by prepare_process */
    if (!name)
        name = "unknown";
    p = put_str(p, "truce: seccomp: the ");
    p = put_str(p, k >= 0 && k < SANDBOX_NKINDS ? sandbox_lists[k].kind : "unnamed");
    /* a thread created by a filtered thread runs under its creator's filter */
    p = put_str(p,
                k >= 0 ? " thread made syscall " : " thread (its creator's filter) made syscall ");
    if (si->si_arch != AUDIT_ARCH_X86_64)
        name = "of a foreign architecture";
    p = put_str(p, name);
    p = put_str(p, " (");
    p = put_num(p, nr);
    p = put_str(p, ")");
    /* what it was after: the request of an ioctl, the path of an open */
    const greg_t *r = ((const ucontext_t *)uc)->uc_mcontext.gregs;
    if (si->si_arch == AUDIT_ARCH_X86_64 && nr == SYS_ioctl)
        p = put_hex(put_str(p, " with request "), (unsigned long)r[REG_RSI]);
    else if (si->si_arch == AUDIT_ARCH_X86_64 && (nr == SYS_openat || nr == SYS_open))
        p = put_path(put_str(p, " on "), (const char *)r[nr == SYS_open ? REG_RDI : REG_RSI], 96);
    p = put_str(p, ", which its list does not allow (exit status ");
    p = put_num(p, TRUCE_EXIT_SECCOMP);
    p = put_str(p, ")\n");
    /* raw syscalls: sanitizer builds intercept write and _exit (a leak check at _exit would make
     * syscalls no list allows) */
    syscall(SYS_write, STDERR_FILENO, line, (size_t)(p - line));
    syscall(SYS_exit_group, TRUCE_EXIT_SECCOMP);
}

static int install_sigsys(void)
{
    struct sigaction sa = {.sa_sigaction = sigsys_handler, .sa_flags = SA_SIGINFO};
    sigfillset(&sa.sa_mask);
    pthread_once(&names_once, prepare_process);
    if (sigaction(SIGSYS, &sa, NULL) < 0)
        return -errno;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSYS);
    /* A blocked SIGSYS would make the kernel fall back to the default action (a core dump). */
    return -pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* ---- the programs, compiled once ----------------------------------------------------------- */

/* build/gen/sandbox/seccomp_bpf.inc (-Ibuild/gen for build/truce's and the unit tests' objects) */
#if __has_include("sandbox/seccomp_bpf.inc")
#include "sandbox/seccomp_bpf.inc"
#else
static const struct sandbox_prebuilt sandbox_prebuilt_table[] = {{0, 0, 0, NULL}};
#define SANDBOX_PREBUILT_NONE 1
#endif

#ifdef SANDBOX_PREBUILT_NONE
static const char *resolved_names[SANDBOX_SYSCALL_NAMES];
static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;
static void resolve_names(void)
{
    for (int i = 0; i < SANDBOX_SYSCALL_NAMES; i++)
        resolved_names[i] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, i); /* kept */
}
#endif

const char *sandbox_syscall_name(int nr)
{
    if (nr < 0 || nr >= SANDBOX_SYSCALL_NAMES)
        return NULL;
#ifdef SANDBOX_PREBUILT_NONE
    pthread_once(&resolve_once, resolve_names);
    return resolved_names[nr];
#else
    return sandbox_prebuilt_names[nr][0] ? sandbox_prebuilt_names[nr] : NULL;
#endif
}

size_t sandbox_prebuilt_count(void)
{
#ifdef SANDBOX_PREBUILT_NONE
    return 0;
#else
    return ARRAY_SIZE(sandbox_prebuilt_table);
#endif
}

int sandbox_prebuilt_find(enum sandbox_kind kind, unsigned parts, const struct sock_filter **prog,
                          unsigned short *len)
{
    parts &= sandbox_parts_used(kind);
    for (size_t i = 0; i < sandbox_prebuilt_count(); i++) {
        const struct sandbox_prebuilt *p = &sandbox_prebuilt_table[i];
        if (p->kind == kind && p->parts == parts) {
            *prog = p->prog;
            *len = p->len;
            return 0;
        }
    }
    return -ENOENT;
}

#define COMPILED_MAX 32
static struct {
    pthread_mutex_t lock;
    unsigned n;
    struct {
        enum sandbox_kind kind;
        unsigned parts;
        struct sock_filter *prog;
        unsigned short len;
    } e[COMPILED_MAX];
} compiled = {.lock = PTHREAD_MUTEX_INITIALIZER};

int sandbox_program(enum sandbox_kind kind, unsigned parts, const struct sock_filter **prog,
                    unsigned short *len)
{
    if ((unsigned)kind >= SANDBOX_NKINDS)
        return -EINVAL;
    parts &= sandbox_parts_used(kind);
    /* the table holds the lists without the sanitizer's rules */
    if (!sandbox_sanitizer_nrules && !sandbox_prebuilt_find(kind, parts, prog, len))
        return 0;
    pthread_mutex_lock(&compiled.lock);
    int rc = 0;
    unsigned i = 0;
    while (i < compiled.n && (compiled.e[i].kind != kind || compiled.e[i].parts != parts))
        i++;
    if (i == compiled.n) {
        scmp_filter_ctx ctx = sandbox_build(kind, parts);
        rc = ctx ? 0 : -ENOMEM;
        struct sock_filter *p = NULL;
        unsigned short n = 0;
        if (!rc)
            rc = sandbox_export(ctx, &p, &n);
        seccomp_release(ctx);
        if (!rc && i == COMPILED_MAX) /* (kinds x parts in use stay far below) */
            rc = -ENOSPC, free(p);
        if (!rc)
            compiled.e[compiled.n++] = (typeof(compiled.e[0])){kind, parts, p, n};
    }
    if (!rc) {
        *prog = compiled.e[i].prog;
        *len = compiled.e[i].len;
    }
    pthread_mutex_unlock(&compiled.lock);
    return rc;
}

/* Install PROG (LEN instructions) on the calling thread. Returns 0 or -errno. */
static int load_prog(const struct sock_filter *prog, unsigned short len)
{
    struct sock_fprog fprog = {.len = len, .filter = (struct sock_filter *)prog};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0 ? -errno : 0;
}

static int load_builtin(struct vm *vm, enum sandbox_kind kind)
{
    const struct sock_filter *prog;
    unsigned short len;
    int rc = sandbox_program(kind, sandbox_parts(vm ? &vm->cfg : NULL), &prog, &len);
    return rc ? rc : load_prog(prog, len);
}

/* Defined only in the test binary build/truce-sectest (tests/sectest/hook.c): makes a chosen
 * thread kind attempt a forbidden syscall right after entering. NULL in build/truce. */
extern void sandbox_test_hook(enum sandbox_kind kind) __attribute__((weak));

int sandbox_vcpu_enter(struct vm *vm)
{
    int rc = sandbox_enter(vm, SANDBOX_VCPU);
    uint64_t none = 0;
    if (!rc && vm) /* the start-up timeline (vm.h): the first vCPU filtered */
        atomic_compare_exchange_strong(&vm->marks[VM_MARK_SECCOMP], &none, now_ns());
    return rc;
}

int sandbox_vnc_enter(struct vm *vm)
{
    return sandbox_enter(vm, SANDBOX_VNC);
}

int sandbox_loader_enter(struct vm *vm)
{
    return sandbox_enter(vm, SANDBOX_LOADER);
}

int sandbox_enter(struct vm *vm, enum sandbox_kind kind)
{
    if ((unsigned)kind >= SANDBOX_NKINDS)
        return -EINVAL;
    const char *name = sandbox_lists[kind].kind;
    /* the guest-facing threads of a VM started by the API: Landlock first (sandbox/jail.h) */
    bool guest_facing =
        kind == SANDBOX_VCPU || kind == SANDBOX_IO || kind == SANDBOX_VNC || kind == SANDBOX_LOADER;
    int ll = vm && guest_facing && vm->landlock_fd > 0 ? landlock_restrict(vm->landlock_fd) : 0;
    if (ll < 0) {
        vm_request_stop(vm, TRUCE_EXIT_HOST, "landlock: cannot restrict the %s thread: %s", name,
                        strerror(-ll));
        return ll;
    }
    log_debug("sandbox: thread %ld is a %s thread (seccomp %s)", (long)syscall(SYS_gettid), name,
              policy.mode == SANDBOX_OFF ? "off" : "on");
    if (policy.mode == SANDBOX_OFF)
        return 0;
    int rc = install_sigsys();
    tls_kind = kind; /* before loading: a trap from here on names the kind */
    if (!rc)
        rc = policy.mode == SANDBOX_CUSTOM ? load_prog(policy.custom, policy.ncustom)
                                           : load_builtin(vm, kind);
    if (rc < 0) {
        tls_kind = -1;
        if (vm)
            vm_request_stop(vm, TRUCE_EXIT_HOST, "seccomp: cannot install the %s filter: %s", name,
                            strerror(-rc));
        else
            log_err("seccomp: cannot install the %s filter: %s", name, strerror(-rc));
        return rc;
    }
    if (sandbox_test_hook)
        sandbox_test_hook(kind);
    return 0;
}
