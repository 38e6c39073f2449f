/* test_seccomp.c — seccomp lists, filter building and trapping, --seccomp-filter checks, flags. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "sandbox/sandbox.h"
#include "util/util.h"
#include "vm/vm.h"

/* Firecracker's x86_64 counts (vcpu 27, vmm 50, api 31): the bar for each kind. truce's main
 * thread does part of Firecracker's vmm thread's work, so its bar is the vmm's. */
static const unsigned firecracker_max[SANDBOX_NKINDS] = {
    [SANDBOX_VCPU] = 27,
    [SANDBOX_IO] = 50,
    [SANDBOX_API] = 31,
    [SANDBOX_MAIN] = 50,
    /* Firecracker has no VNC thread nor a loader (it reads everything before the guest runs):
     * held to its api thread's bar and to half of it */
    [SANDBOX_VNC] = 31,
    [SANDBOX_LOADER] = 15,
};

/* Read FD to its end into BUF (at most LEN bytes); returns the count. */
static size_t read_all(int fd, void *buf, size_t len)
{
    size_t got = 0;
    for (ssize_t n; got < len && (n = read(fd, (char *)buf + got, len - got)) != 0;)
        if (n > 0)
            got += (size_t)n;
        else if (errno != EINTR)
            break;
    return got;
}

static bool allows(enum sandbox_kind k, int nr)
{
    const struct sandbox_list *l = &sandbox_lists[k];
    for (size_t i = 0; i < l->nrules; i++)
        if (l->rules[i].nr == nr && !l->rules[i].fail_errno && !l->rules[i].only)
            return true;
    return false;
}

static void lists_are_small_and_commented(void **state)
{
    for (int k = 0; k < SANDBOX_NKINDS; k++) {
        const struct sandbox_list *l = &sandbox_lists[k];
        assert_non_null(l->kind);
        assert_true(l->nrules > 0);
        unsigned n = sandbox_list_count(l);
        assert_true(n <= firecracker_max[k]);
        assert_true(n <= l->nrules);
        for (size_t i = 0; i < l->nrules; i++) {
            const struct sandbox_rule *r = &l->rules[i];
            assert_true(r->nr >= 0);
            assert_true(strlen(r->why) > 4);
            assert_true(r->nargs <= SANDBOX_MAX_ARGS);
            if (r->nargs)
                assert_true(strlen(r->argtext) > 0);
            /* a syscall's name in the list is the kernel's */
            char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, r->nr);
            assert_non_null(name);
            assert_string_equal(name, r->name);
            free(name);
            /* ioctl, mmap, mprotect, socket and fcntl are always narrowed by their arguments */
            if (r->nr == SCMP_SYS(ioctl) || r->nr == SCMP_SYS(mmap) ||
                r->nr == SCMP_SYS(mprotect) || r->nr == SCMP_SYS(socket) ||
                r->nr == SCMP_SYS(fcntl))
                assert_true(r->nargs > 0);
        }
    }
}

static void nothing_executes_or_opens(void **state)
{
    static const int never[] = {SCMP_SYS(execve),         SCMP_SYS(execveat),  SCMP_SYS(fork),
                                SCMP_SYS(vfork),          SCMP_SYS(ptrace),    SCMP_SYS(clone3),
                                SCMP_SYS(mount),          SCMP_SYS(setuid),    SCMP_SYS(bpf),
                                SCMP_SYS(io_uring_setup), SCMP_SYS(kexec_load)};
    static const int opens[] = {SCMP_SYS(open), SCMP_SYS(openat), SCMP_SYS(openat2),
                                SCMP_SYS(creat), SCMP_SYS(open_by_handle_at)};
    for (int k = 0; k < SANDBOX_NKINDS; k++)
        for (size_t i = 0; i < ARRAY_SIZE(never); i++)
            assert_false(allows(k, never[i]));
    for (size_t i = 0; i < ARRAY_SIZE(opens); i++) {
        assert_false(allows(SANDBOX_VCPU, opens[i]));
        assert_false(allows(SANDBOX_IO, opens[i]));
        assert_false(allows(SANDBOX_MAIN, opens[i]));
    }
    /* PATCH /drives opens the new image: the API thread kind is the only one that may open */
    assert_true(allows(SANDBOX_API, SCMP_SYS(openat)));
}

static void every_kind_builds(void **state)
{
    for (int k = 0; k < 2 * SANDBOX_NKINDS; k++) {
        /* each kind without, then with every optional part */
        scmp_filter_ctx ctx = sandbox_build(k % SANDBOX_NKINDS, k < SANDBOX_NKINDS ? 0 : ~0u);
        assert_non_null(ctx);
        /* the generated program fits the kernel's limit */
        int p[2];
        assert_int_equal(pipe(p), 0);
        assert_int_equal(seccomp_export_bpf(ctx, p[1]), 0);
        close(p[1]);
        char buf[BPF_MAXINSNS * sizeof(struct sock_filter) + 8];
        size_t n = read_all(p[0], buf, sizeof(buf));
        close(p[0]);
        char err[160];
        assert_true(sandbox_filter_check(buf, n, err, sizeof(err)) > 0);
        seccomp_release(ctx);
    }
    assert_null(sandbox_build(SANDBOX_NKINDS, 0));
}

/* CTX compiled now by libseccomp equals LEN instructions at PROG (then released). */
static void same_program(scmp_filter_ctx ctx, const struct sock_filter *prog, unsigned short len)
{
    struct sock_filter *now;
    unsigned short n;
    assert_non_null(ctx);
    assert_int_equal(sandbox_export(ctx, &now, &n), 0);
    seccomp_release(ctx);
    assert_int_equal(n, len);
    assert_memory_equal(now, prog, n * sizeof(*now));
    free(now);
}

/* The build-time programs (build/gen/sandbox/seccomp_bpf.inc) are exactly what libseccomp
 * compiles from the lists now, for every kind and every combination of the parts its rules depend
 * on; parts a kind does not depend on select the same program; the table holds nothing else. */
static void prebuilt_programs_equal_libseccomp(void **state)
{
    size_t want = 0;
    for (int k = 0; k < SANDBOX_NKINDS; k++) {
        unsigned mask = sandbox_parts_used(k);
        want += 1u << __builtin_popcount(mask);
        for (unsigned parts = 0; parts <= 0xff; parts++) { /* struct sandbox_prebuilt.parts */
            const struct sock_filter *prog, *masked;
            unsigned short len, mlen;
            assert_int_equal(sandbox_prebuilt_find(k, parts, &prog, &len), 0);
            assert_int_equal(sandbox_prebuilt_find(k, parts & mask, &masked, &mlen), 0);
            assert_ptr_equal(prog, masked);
            if (parts & ~mask)
                continue;
            same_program(sandbox_build_lists(k, parts, false), prog, len);
        }
    }
    assert_true(want >= SANDBOX_NKINDS);
    assert_int_equal(sandbox_prebuilt_count(), want);
    /* the vCPU filter depends on --firmware, --display and --vsock (among others); the I/O one
     * on user networking, vsock, the rng and MMDS */
    unsigned vcpu = SANDBOX_IF_FLASH | SANDBOX_IF_DISPLAY | SANDBOX_IF_VSOCK;
    unsigned io = SANDBOX_IF_USERNET | SANDBOX_IF_VSOCK | SANDBOX_IF_RNG | SANDBOX_IF_MMDS;
    assert_int_equal(sandbox_parts_used(SANDBOX_VCPU) & vcpu, vcpu);
    assert_int_equal(sandbox_parts_used(SANDBOX_IO) & io, io);
    assert_int_equal(sandbox_parts_used(SANDBOX_NKINDS), 0);
    /* the SIGSYS handler's names are libseccomp's */
    for (int nr = -1; nr <= SANDBOX_SYSCALL_NAMES; nr++) {
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr);
        const char *ours = sandbox_syscall_name(nr);
        if (nr < 0 || nr >= SANDBOX_SYSCALL_NAMES || !name)
            assert_null(ours);
        else
            assert_string_equal(ours, name);
        free(name);
    }
    assert_string_equal(sandbox_syscall_name(SCMP_SYS(ioctl)), "ioctl");
}

/* What a process loads: in this (sanitizer) build, the lists with the sanitizer's rules compiled
 * at first use and kept: the same program (pointer) the second time. */
static void programs_compiled_once(void **state)
{
    for (int k = 0; k < SANDBOX_NKINDS; k++) {
        const struct sock_filter *a, *b;
        unsigned short la, lb;
        assert_int_equal(sandbox_program(k, ~0u, &a, &la), 0);
        assert_int_equal(sandbox_program(k, ~0u, &b, &lb), 0);
        assert_ptr_equal(a, b);
        assert_int_equal(la, lb);
        same_program(sandbox_build(k, ~0u), a, la);
        assert_int_equal(sandbox_program(k, 0, &b, &lb), 0);
        same_program(sandbox_build(k, 0), b, lb);
    }
    const struct sock_filter *p;
    unsigned short n;
    assert_int_equal(sandbox_program(SANDBOX_NKINDS, 0, &p, &n), -EINVAL);
}

/* ---- trapping, in a child process (a filter cannot be removed) ------------------------------ */

enum probe {
    PROBE_EXECVE,
    PROBE_GETPID,
    PROBE_KVM_RUN,
    PROBE_KVM_CREATE_VM,
    PROBE_MMAP_EXEC,
    PROBE_MMAP_ANON,
    PROBE_RAW_SOCKET,
    PROBE_OPENAT,
    PROBE_GETPPID,
    PROBE_OPEN_RDONLY,
    PROBE_OPEN_CREATE,
    PROBE_SCHED_FIFO,
    PROBE_SCHED_BATCH,
};

static void probe(enum probe p)
{
    switch (p) {
    case PROBE_EXECVE:
        syscall(SYS_execve, "/nonexistent-truce-test", NULL, NULL);
        break;
    case PROBE_GETPID:
        syscall(SYS_getpid);
        break;
    case PROBE_KVM_RUN:
        syscall(SYS_ioctl, -1, KVM_RUN, 0);
        break;
    case PROBE_KVM_CREATE_VM:
        syscall(SYS_ioctl, -1, KVM_CREATE_VM, 0);
        break;
    case PROBE_MMAP_EXEC:
        syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        break;
    case PROBE_MMAP_ANON:
        syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        break;
    case PROBE_RAW_SOCKET:
        syscall(SYS_socket, AF_INET, SOCK_RAW, 1);
        break;
    case PROBE_OPENAT:
        syscall(SYS_openat, AT_FDCWD, "/nonexistent-truce-test", O_RDONLY);
        break;
    case PROBE_GETPPID:
        syscall(SYS_getppid);
        break;
    case PROBE_OPEN_RDONLY:
        syscall(SYS_openat, AT_FDCWD, "/nonexistent-truce-test", O_RDONLY | O_CLOEXEC);
        break;
    case PROBE_OPEN_CREATE:
        syscall(SYS_openat, AT_FDCWD, "/nonexistent-dir/x", O_WRONLY | O_CREAT, 0600);
        break;
    case PROBE_SCHED_FIFO:
    case PROBE_SCHED_BATCH: {
        struct sched_param sp = {.sched_priority = p == PROBE_SCHED_FIFO ? 1 : 0};
        syscall(SYS_sched_setscheduler, 0, p == PROBE_SCHED_FIFO ? SCHED_FIFO : SCHED_BATCH, &sp);
        break;
    }
    }
}

/* Fork; the child enters KIND under the current policy (for a VM with config CFG, may be NULL)
 * and makes probe P, then exits 0. Returns the child's exit status (or 128 + signal) and its
 * stderr in OUT. */
static int run_probe_vm(const struct vm_config *cfg, enum sandbox_kind kind, enum probe p,
                        char *out, size_t outlen)
{
    struct vm *vm = NULL;
    if (cfg) {
        vm = calloc(1, sizeof(*vm));
        vm->cfg = *cfg;
    }
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], STDERR_FILENO);
        close(pipefd[0]);
        if (sandbox_enter(vm, kind) < 0)
            syscall(SYS_exit_group, 99);
        probe(p);
        syscall(SYS_exit_group, 0); /* no atexit, no sanitizer reports after the filter */
    }
    close(pipefd[1]);
    out[read_all(pipefd[0], out, outlen - 1)] = '\0';
    close(pipefd[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    free(vm);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run_probe(enum sandbox_kind kind, enum probe p, char *out, size_t outlen)
{
    return run_probe_vm(NULL, kind, p, out, outlen);
}

/* Rules for one part of a VM apply only to a VM that has it. */
static void optional_parts(void **state)
{
    char out[512];
    struct vm_config *cfg = calloc(1, sizeof(*cfg));
    config_defaults(cfg);
    sandbox_reset();
    assert_int_equal(sandbox_parts(NULL), 0);
    assert_int_equal(sandbox_parts(cfg), 0);
    /* no user networking: the I/O thread opens nothing */
    assert_int_equal(run_probe_vm(cfg, SANDBOX_IO, PROBE_OPEN_RDONLY, out, sizeof(out)),
                     TRUCE_EXIT_SECCOMP);
    cfg->nnets = 1;
    cfg->nets[0].kind = NET_USER;
    assert_int_equal(sandbox_parts(cfg), SANDBOX_IF_USERNET);
    /* with it, libslirp may read a file, but never create or write one */
    assert_int_equal(run_probe_vm(cfg, SANDBOX_IO, PROBE_OPEN_RDONLY, out, sizeof(out)), 0);
    assert_int_equal(run_probe_vm(cfg, SANDBOX_IO, PROBE_OPEN_CREATE, out, sizeof(out)),
                     TRUCE_EXIT_SECCOMP);
    assert_non_null(
        strstr(out, "the io thread made syscall openat (257) on \"/nonexistent-dir/x\""));
    /* the vCPU threads get nothing from it */
    assert_int_equal(run_probe_vm(cfg, SANDBOX_VCPU, PROBE_OPEN_RDONLY, out, sizeof(out)),
                     TRUCE_EXIT_SECCOMP);
    cfg->vsock.enabled = true;
    assert_int_equal(sandbox_parts(cfg), SANDBOX_IF_USERNET | SANDBOX_IF_VSOCK);
    /* the I/O thread may batch itself, never become real-time */
    assert_int_equal(run_probe(SANDBOX_IO, PROBE_SCHED_BATCH, out, sizeof(out)), 0);
    assert_int_equal(run_probe(SANDBOX_IO, PROBE_SCHED_FIFO, out, sizeof(out)), TRUCE_EXIT_SECCOMP);
    assert_non_null(strstr(out, "made syscall sched_setscheduler"));
    free(cfg);
}

static void violations_name_syscall_and_kind(void **state)
{
    char out[512];
    sandbox_reset();
    assert_int_equal(run_probe(SANDBOX_VCPU, PROBE_EXECVE, out, sizeof(out)), TRUCE_EXIT_SECCOMP);
    assert_non_null(strstr(out, "the vcpu thread made syscall execve (59)"));
    assert_int_equal(run_probe(SANDBOX_IO, PROBE_OPENAT, out, sizeof(out)), TRUCE_EXIT_SECCOMP);
    assert_non_null(
        strstr(out, "the io thread made syscall openat (257) on \"/nonexistent-truce-test\","));
    assert_int_equal(run_probe(SANDBOX_API, PROBE_EXECVE, out, sizeof(out)), TRUCE_EXIT_SECCOMP);
    assert_non_null(strstr(out, "the api thread made syscall execve"));
    assert_int_equal(run_probe(SANDBOX_MAIN, PROBE_OPENAT, out, sizeof(out)), TRUCE_EXIT_SECCOMP);
    assert_non_null(strstr(out, "the main thread made syscall openat"));
    assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out)); /* exactly one line */
}

static void argument_rules_hold(void **state)
{
    char out[512];
    sandbox_reset();
    /* vCPU: KVM_RUN yes, a /dev/kvm ioctl no */
    assert_int_equal(run_probe(SANDBOX_VCPU, PROBE_KVM_RUN, out, sizeof(out)), 0);
    assert_int_equal(run_probe(SANDBOX_VCPU, PROBE_KVM_CREATE_VM, out, sizeof(out)),
                     TRUCE_EXIT_SECCOMP);
    assert_non_null(strstr(out, "made syscall ioctl (16) with request 0xae01, which"));
    assert_int_equal(run_probe(SANDBOX_VCPU, PROBE_GETPID, out, sizeof(out)), 0);
    /* anonymous memory yes, executable memory no */
    assert_int_equal(run_probe(SANDBOX_IO, PROBE_MMAP_ANON, out, sizeof(out)), 0);
    assert_int_equal(run_probe(SANDBOX_IO, PROBE_MMAP_EXEC, out, sizeof(out)), TRUCE_EXIT_SECCOMP);
    assert_non_null(strstr(out, "made syscall mmap"));
    /* raw sockets never */
    assert_int_equal(run_probe(SANDBOX_IO, PROBE_RAW_SOCKET, out, sizeof(out)), TRUCE_EXIT_SECCOMP);
    assert_non_null(strstr(out, "the io thread made syscall socket"));
}

static void no_seccomp_filters_nothing(void **state)
{
    char out[512];
    sandbox_disable();
    assert_int_equal(run_probe(SANDBOX_VCPU, PROBE_OPENAT, out, sizeof(out)), 0);
    sandbox_reset();
}

/* ---- --seccomp-filter ------------------------------------------------------------------------ */

static char filter_path[64];

static void make_filter_file(void)
{
    snprintf(filter_path, sizeof(filter_path), "/tmp/truce-test-filterXXXXXX");
    int fd = mkstemp(filter_path);
    assert_true(fd >= 0);
    close(fd);
}

static void write_filter(const struct sock_filter *f, size_t len)
{
    int fd = open(filter_path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write_full(fd, f, len), 0);
    close(fd);
}

/* getppid traps, everything else is allowed */
static const struct sock_filter trap_getppid[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

static void filter_file_checks(void **state)
{
    char err[256];
    struct sock_filter big[BPF_MAXINSNS + 16];
    for (size_t i = 0; i < ARRAY_SIZE(big); i++)
        big[i] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    assert_int_equal(sandbox_filter_check(trap_getppid, sizeof(trap_getppid), err, sizeof(err)), 4);
    assert_int_equal(sandbox_filter_check(big, 0, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "empty"));
    assert_int_equal(sandbox_filter_check(big, 12, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "12 bytes is not a whole number of 8-byte"));
    assert_int_equal(sandbox_filter_check(big, BPF_MAXINSNS * 8, err, sizeof(err)), BPF_MAXINSNS);
    assert_int_equal(sandbox_filter_check(big, (BPF_MAXINSNS + 1) * 8, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "more than BPF_MAXINSNS (4096)"));
    /* the jump target of instruction 1 is outside a 3-instruction program */
    assert_int_equal(sandbox_filter_check(trap_getppid, 3 * 8, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "instruction 1 jumps past the end"));
    struct sock_filter noret[2] = {trap_getppid[0], trap_getppid[0]};
    assert_int_equal(sandbox_filter_check(noret, sizeof(noret), err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "not a return"));

    make_filter_file();
    write_filter(big, 12);
    assert_int_equal(sandbox_use_filter_file(filter_path, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "--seccomp-filter: /tmp/truce-test-filter"));
    assert_int_equal(sandbox_mode(), SANDBOX_BUILTIN);
    write_filter(big, sizeof(big));
    assert_true(sandbox_use_filter_file(filter_path, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "more than BPF_MAXINSNS"));
    assert_true(sandbox_use_filter_file("/nonexistent/f.bpf", err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "--seccomp-filter: /nonexistent/f.bpf: No such file"));

    /* a good file is applied to every kind instead of the lists */
    write_filter(trap_getppid, sizeof(trap_getppid));
    assert_int_equal(sandbox_use_filter_file(filter_path, err, sizeof(err)), 0);
    assert_int_equal(sandbox_mode(), SANDBOX_CUSTOM);
    char out[512];
    assert_int_equal(run_probe(SANDBOX_VCPU, PROBE_OPENAT, out, sizeof(out)), 0);
    assert_int_equal(run_probe(SANDBOX_MAIN, PROBE_GETPPID, out, sizeof(out)), TRUCE_EXIT_SECCOMP);
    assert_non_null(strstr(out, "the main thread made syscall getppid (110)"));
    sandbox_reset();
    unlink(filter_path);
}

/* ---- flags ----------------------------------------------------------------------------------- */

static int parse_run(char *err, const char *const *args)
{
    static char kernel[] = "/tmp/truce-test-seckernelXXXXXX";
    static bool made;
    if (!made) {
        int fd = mkstemp(kernel);
        assert_true(fd >= 0 && write_full(fd, "x", 1) == 0);
        close(fd);
        made = true;
    }
    char *argv[16] = {"run", "--kernel", kernel};
    int argc = 3;
    for (; *args; args++)
        argv[argc++] = (char *)*args;
    struct vm_config *cfg = malloc(sizeof(*cfg));
    int rc = cli_parse_run(argc, argv, cfg, err, 256);
    free(cfg);
    return rc;
}

#define PARSE_RUN(err, ...) parse_run(err, (const char *const[]){__VA_ARGS__, NULL})

static void flags(void **state)
{
    char err[256];
    assert_int_equal(sandbox_parse_flag("--no-seccomp", NULL, err, sizeof(err)), 1);
    assert_int_equal(sandbox_mode(), SANDBOX_OFF);
    assert_int_equal(sandbox_parse_flag("--seccomp-filter", "/x", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "cannot be combined with --no-seccomp"));
    sandbox_reset();
    assert_int_equal(sandbox_parse_flag("--seccomp-filter", NULL, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "--seccomp-filter: missing value"));
    assert_int_equal(sandbox_parse_flag("--seccomp-filterx", NULL, err, sizeof(err)), 0);
    assert_int_equal(sandbox_parse_flag("--cpus", "2", err, sizeof(err)), 0);

    make_filter_file();
    write_filter(trap_getppid, sizeof(trap_getppid));
    char eq[96];
    snprintf(eq, sizeof(eq), "--seccomp-filter=%s", filter_path);
    assert_int_equal(sandbox_parse_flag(eq, NULL, err, sizeof(err)), 1);
    assert_int_equal(sandbox_mode(), SANDBOX_CUSTOM);
    assert_int_equal(sandbox_parse_flag("--no-seccomp", NULL, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "cannot be combined with --seccomp-filter"));

    /* through `truce run`: each parse starts from the built-in lists */
    assert_int_equal(PARSE_RUN(err, "--no-seccomp"), 0);
    assert_int_equal(sandbox_mode(), SANDBOX_OFF);
    assert_int_equal(PARSE_RUN(err, "--cpus", "1"), 0);
    assert_int_equal(sandbox_mode(), SANDBOX_BUILTIN);
    assert_int_equal(PARSE_RUN(err, "--seccomp-filter", filter_path), 0);
    assert_int_equal(sandbox_mode(), SANDBOX_CUSTOM);
    write_filter(trap_getppid, 20);
    assert_int_equal(PARSE_RUN(err, "--seccomp-filter", filter_path), -EINVAL);
    assert_non_null(strstr(err, "--seccomp-filter: "));
    assert_non_null(strstr(err, "20 bytes"));
    assert_int_equal(PARSE_RUN(err, "--seccomp-filter"), -EINVAL);
    assert_non_null(strstr(err, "--seccomp-filter: missing value"));
    sandbox_reset();
    unlink(filter_path);
}

static void dump_lists(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    sandbox_dump(f);
    fclose(f);
    assert_non_null(strstr(buf, "vcpu  ioctl            KVM_RUN"));
    assert_non_null(strstr(buf, "# syscalls per kind: vcpu "));
    size_t lines = 0;
    for (char *p = buf; *p; p++)
        lines += *p == '\n';
    size_t rules = sandbox_common_nrules; /* restart_syscall: one line, kind "all" */
    for (int k = 0; k < SANDBOX_NKINDS; k++)
        rules += sandbox_lists[k].nrules;
    assert_int_equal(lines, rules + 2);
    assert_non_null(strstr(buf, "all   restart_syscall"));
    free(buf);
    char *dump[] = {"seccomp", "dump"}, *bad[] = {"seccomp", "load"};
    FILE *saved = stdout;
    stdout = fopen("/dev/null", "w");
    assert_int_equal(sandbox_main(2, dump), 0);
    fclose(stdout);
    stdout = saved;
    assert_int_equal(sandbox_main(2, bad), TRUCE_EXIT_USAGE);
    assert_int_equal(sandbox_main(1, bad), TRUCE_EXIT_USAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lists_are_small_and_commented),
        cmocka_unit_test(nothing_executes_or_opens),
        cmocka_unit_test(every_kind_builds),
        cmocka_unit_test(prebuilt_programs_equal_libseccomp),
        cmocka_unit_test(programs_compiled_once),
        cmocka_unit_test(violations_name_syscall_and_kind),
        cmocka_unit_test(argument_rules_hold),
        cmocka_unit_test(no_seccomp_filters_nothing),
        cmocka_unit_test(optional_parts),
        cmocka_unit_test(filter_file_checks),
        cmocka_unit_test(flags),
        cmocka_unit_test(dump_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
