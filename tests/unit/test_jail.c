/* test_jail.c — `truce jail` flags, validation, the jail's paths and argv, its root, Landlock. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/jail.h"
#include "sandbox/sandbox.h"
#include "util/util.h"
#include "vm/vm.h"

/* An executable regular file to name with --exec-file: this test binary itself. */
static char self[PATH_MAX];

static int setup(void **state)
{
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return -1;
    self[n] = 0;
    return 0;
}

static int parse(struct jail_config *jc, char *err, const char *const *args)
{
    static char *argv[48]; /* jc->exec_argv points into it after the call */
    int argc = 0;
    argv[argc++] = "jail";
    for (; *args; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    return jail_parse(argc, argv, jc, err, 256);
}

#define PARSE(jc, err, ...) parse(jc, err, (const char *const[]){__VA_ARGS__, NULL})

static void good_flags(void **state)
{
    struct jail_config *jc = malloc(sizeof(*jc));
    char err[256] = "";
    assert_int_equal(PARSE(jc, err, "--id", "vm-1", "--exec-file", self, "--uid", "123", "--gid",
                           "100", "--cgroup", "memory.max=64M", "--cgroup", "cpu.max=50000 100000",
                           "--resource-limit", "fsize=1000,no-file=64", "--new-pid-ns",
                           "--daemonize", "--cgroup-version", "2", "--parent-cgroup", "vms/ext",
                           "--netns", "/proc/self/ns/net", "--", "run", "--kernel", "/k"),
                     0);
    assert_string_equal(jc->id, "vm-1");
    assert_int_equal(jc->uid, 123);
    assert_int_equal(jc->gid, 100);
    assert_string_equal(jc->exec_name, "test_jail");
    assert_string_equal(jc->chroot_base, "/srv/jailer");
    assert_int_equal(jc->n_cgroups, 2);
    assert_string_equal(jc->cgroups[0].key, "memory.max");
    assert_string_equal(jc->cgroups[0].value, "64M");
    assert_string_equal(jc->cgroups[1].key, "cpu.max");
    assert_string_equal(jc->cgroups[1].value, "50000 100000");
    assert_true(jc->fsize_set);
    assert_int_equal(jc->fsize, 1000);
    assert_int_equal(jc->nofile, 64);
    assert_true(jc->new_pid_ns && jc->daemonize);
    assert_string_equal(jc->parent_cgroup, "vms/ext");
    assert_int_equal(jc->exec_argc, 3);
    assert_string_equal(jc->exec_argv[0], "run");
    /* defaults; the id at its longest; --flag=value; no `--` */
    char id64[JAIL_ID_MAX + 1];
    memset(id64, 'a', JAIL_ID_MAX);
    id64[JAIL_ID_MAX] = 0;
    assert_int_equal(PARSE(jc, err, "--id", id64, "--exec-file=/bin/sh", "--uid=0", "--gid=0",
                           "--resource-limit", "fsize=5", "--resource-limit", "no-file=9"),
                     0);
    assert_int_equal(jc->nofile, 9);
    assert_int_equal(jc->fsize, 5);
    assert_int_equal(jc->exec_argc, 0);
    assert_string_equal(jc->exec_name, "sh");
    assert_int_equal(PARSE(jc, err, "--id", "x", "--exec-file", self, "--uid", "1", "--gid", "1"),
                     0);
    assert_int_equal(jc->nofile, JAIL_DEFAULT_NOFILE);
    assert_false(jc->fsize_set || jc->new_pid_ns || jc->daemonize || jc->n_cgroups);
    /* --cleanup needs no uid/gid */
    assert_int_equal(PARSE(jc, err, "--cleanup", "--id", "x", "--exec-file", self), 0);
    assert_int_equal(PARSE(jc, err, "--help"), 1);
    free(jc);
}

/* Each bad value fails with -EINVAL and a message that names the flag. */
static void expect_bad(const char *needle, const char *const *args)
{
    struct jail_config *jc = malloc(sizeof(*jc));
    char err[256] = "";
    assert_int_equal(parse(jc, err, args), -EINVAL);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not name '%s'", err, needle);
    free(jc);
}

#define BAD(needle, ...) expect_bad(needle, (const char *const[]){__VA_ARGS__, NULL})
#define OK_ARGS          "--exec-file", self, "--uid", "1", "--gid", "1"

static void bad_flags_name_the_flag(void **state)
{
    char id65[JAIL_ID_MAX + 2];
    memset(id65, 'a', JAIL_ID_MAX + 1);
    id65[JAIL_ID_MAX + 1] = 0;
    BAD("--id", "--id", id65, OK_ARGS);
    BAD("--id", "--id", "a_b", OK_ARGS);
    BAD("--id", "--id", "../x", OK_ARGS);
    BAD("--id", "--id", "", OK_ARGS);
    BAD("--id: required", OK_ARGS);
    BAD("--exec-file: required", "--id", "a", "--uid", "1", "--gid", "1");
    BAD("--exec-file", "--id", "a", "--exec-file", "/nonexistent/truce", "--uid", "1", "--gid",
        "1");
    BAD("not a regular file", "--id", "a", "--exec-file", "/tmp", "--uid", "1", "--gid", "1");
    BAD("--uid: required", "--id", "a", "--exec-file", self, "--gid", "1");
    BAD("--gid: required", "--id", "a", "--exec-file", self, "--uid", "1");
    BAD("--uid", "--id", "a", "--exec-file", self, "--uid", "-1", "--gid", "1");
    BAD("--gid", "--id", "a", "--exec-file", self, "--uid", "1", "--gid", "root");
    BAD("--uid", "--id", "a", "--exec-file", self, "--uid", "4294967295", "--gid", "1");
    BAD("--chroot-base-dir", "--id", "a", OK_ARGS, "--chroot-base-dir", "srv/jailer");
    BAD("--netns", "--id", "a", OK_ARGS, "--netns", "/nonexistent/ns");
    BAD("--netns", "--id", "a", OK_ARGS, "--netns", "/tmp");
    BAD("--cgroup-version", "--id", "a", OK_ARGS, "--cgroup-version", "1");
    BAD("--cgroup-version", "--id", "a", OK_ARGS, "--cgroup-version", "3");
    BAD("--cgroup", "--id", "a", OK_ARGS, "--cgroup", "memory.max");
    BAD("--cgroup", "--id", "a", OK_ARGS, "--cgroup", "=5");
    BAD("--cgroup", "--id", "a", OK_ARGS, "--cgroup", "memory=5");
    BAD("--cgroup", "--id", "a", OK_ARGS, "--cgroup", "../memory.max=5");
    BAD("--cgroup", "--id", "a", OK_ARGS, "--cgroup", "memory.max=");
    BAD("managed by the jail", "--id", "a", OK_ARGS, "--cgroup", "cgroup.procs=1");
    BAD("--parent-cgroup", "--id", "a", OK_ARGS, "--parent-cgroup", "/abs");
    BAD("--parent-cgroup", "--id", "a", OK_ARGS, "--parent-cgroup", "a/../b");
    BAD("--parent-cgroup", "--id", "a", OK_ARGS, "--parent-cgroup", "a//b");
    BAD("--parent-cgroup", "--id", "a", OK_ARGS, "--parent-cgroup", "a/");
    BAD("--resource-limit", "--id", "a", OK_ARGS, "--resource-limit", "nproc=5");
    BAD("--resource-limit", "--id", "a", OK_ARGS, "--resource-limit", "fsize");
    BAD("--resource-limit", "--id", "a", OK_ARGS, "--resource-limit", "fsize=big");
    BAD("--resource-limit", "--id", "a", OK_ARGS, "--resource-limit", "no-file=1");
    BAD("--bogus", "--id", "a", OK_ARGS, "--bogus");
    BAD("--uid: missing value", "--id", "a", "--exec-file", self, "--gid", "1", "--uid");
    BAD("after --", "--id", "a", OK_ARGS, "run");
}

static void paths(void **state)
{
    struct jail_config *jc = malloc(sizeof(*jc));
    char err[256], p[PATH_MAX];
    assert_int_equal(PARSE(jc, err, "--id", "551e7604-e35c", "--exec-file", self, "--uid", "1",
                           "--gid", "1", "--chroot-base-dir", "/var/jail"),
                     0);
    assert_int_equal(jail_dir_path(jc, p, sizeof(p)), 0);
    assert_string_equal(p, "/var/jail/test_jail/551e7604-e35c");
    assert_int_equal(jail_root_path(jc, p, sizeof(p)), 0);
    assert_string_equal(p, "/var/jail/test_jail/551e7604-e35c/root");
    assert_int_equal(jail_cgroup_path(jc, "/sys/fs/cgroup", p, sizeof(p)), 0);
    assert_string_equal(p, "/sys/fs/cgroup/test_jail/551e7604-e35c");
    strcpy(jc->parent_cgroup, "all/ext");
    assert_int_equal(jail_cgroup_path(jc, "/sys/fs/cgroup", p, sizeof(p)), 0);
    assert_string_equal(p, "/sys/fs/cgroup/all/ext/551e7604-e35c");
    assert_int_equal(jail_root_path(jc, p, 20), -ENAMETOOLONG);
    free(jc);
}

static void exec_argv(void **state)
{
    struct jail_config *jc = malloc(sizeof(*jc));
    char err[256], times[2][24];
    /* API mode: Firecracker's convention */
    assert_int_equal(PARSE(jc, err, "--id", "vm7", "--exec-file", self, "--uid", "1", "--gid", "1",
                           "--", "--api-sock", "/api.sock"),
                     0);
    char **v = jail_exec_argv(jc, times);
    assert_non_null(v);
    assert_string_equal(v[0], "/test_jail");
    assert_string_equal(v[1], "--id=vm7");
    assert_memory_equal(v[2], "--start-time-us=", 16);
    assert_memory_equal(v[3], "--start-time-cpu-us=", 20);
    assert_string_equal(v[4], "--api-sock");
    assert_string_equal(v[5], "/api.sock");
    assert_null(v[6]);
    free(v);
    /* `run`: the subcommand first, then the id */
    assert_int_equal(PARSE(jc, err, "--id", "vm7", "--exec-file", self, "--uid", "1", "--gid", "1",
                           "--", "run", "--kernel", "/k"),
                     0);
    v = jail_exec_argv(jc, times);
    assert_string_equal(v[0], "/test_jail");
    assert_string_equal(v[1], "run");
    assert_string_equal(v[2], "--id=vm7");
    assert_string_equal(v[3], "--kernel");
    assert_string_equal(v[4], "/k");
    assert_null(v[5]);
    free(v);
    free(jc);
}

static bool listed(char (*libs)[PATH_MAX], int n, const char *needle)
{
    for (int i = 0; i < n; i++)
        if (strstr(libs[i], needle))
            return true;
    return false;
}

static void elf_deps(void **state)
{
    char(*libs)[PATH_MAX] = calloc(64, PATH_MAX);
    char err[256] = "";
    /* this (dynamic) test binary: libc, cmocka and the loader */
    int n = jail_elf_deps(self, libs, 64, err, sizeof(err));
    assert_true(n >= 3);
    assert_true(listed(libs, n, "/libc.so"));
    assert_true(listed(libs, n, "/libcmocka.so"));
    assert_true(listed(libs, n, "/ld-linux-x86-64.so"));
    for (int i = 0; i < n; i++)
        assert_int_equal(libs[i][0], '/');
    /* not an ELF file */
    char tmp[] = "/tmp/truce-jail-notelfXXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
    close(fd);
    assert_true(jail_elf_deps(tmp, libs, 64, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "not a 64-bit ELF"));
    unlink(tmp);
    free(libs);
}

/* The root as built for this binary (as root only: device nodes need CAP_MKNOD), then removed by
 * --cleanup with nothing left. */
static void build_root_and_cleanup(void **state)
{
    if (geteuid() != 0)
        skip();
    char base[] = "/tmp/truce-jail-baseXXXXXX", err[512] = "", root[PATH_MAX], p[PATH_MAX + 32];
    assert_non_null(mkdtemp(base));
    struct jail_config *jc = malloc(sizeof(*jc));
    assert_int_equal(PARSE(jc, err, "--id", "unit-1", "--exec-file", self, "--uid", "4242", "--gid",
                           "4343", "--chroot-base-dir", base),
                     0);
    assert_int_equal(jail_root_path(jc, root, sizeof(root)), 0);
    int rc = jail_build_root(jc, root, err, sizeof(err));
    if (rc)
        fail_msg("jail_build_root: %s", err);
    struct stat st, host;
    snprintf(p, sizeof(p), "%s/test_jail", root);
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode) && (st.st_mode & 0100));
    assert_int_equal(stat(root, &st), 0);
    assert_int_equal(st.st_uid, 4242);
    assert_int_equal(st.st_gid, 4343);
    assert_int_equal(st.st_mode & 0777, 0700);
    snprintf(p, sizeof(p), "%s/lib64/ld-linux-x86-64.so.2", root);
    assert_int_equal(stat(p, &st), 0);
    if (stat("/dev/kvm", &host) == 0) {
        snprintf(p, sizeof(p), "%s/dev/kvm", root);
        assert_int_equal(stat(p, &st), 0);
        assert_true(S_ISCHR(st.st_mode));
        assert_int_equal(st.st_rdev, host.st_rdev);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(st.st_uid, 4242);
    }
    /* building again over an existing root works (the id's directory may exist) */
    assert_int_equal(jail_build_root(jc, root, err, sizeof(err)), 0);
    jc->cleanup = true;
    assert_int_equal(jail_cleanup(jc), 0);
    snprintf(p, sizeof(p), "%s/test_jail", base);
    assert_int_equal(stat(p, &st), -1); /* <base>/<exec name> went with its last jail */
    assert_int_equal(rmdir(base), 0);   /* and the base is empty */
    free(jc);
}

/* A jailed uid that could write to a host file never gets a hard link to it: with --uid set to
 * the owner of this binary, the jail holds a copy (another inode), so writing it cannot change
 * the host's file. */
static void no_hard_link_the_jailed_uid_could_write(void **state)
{
    if (geteuid() != 0)
        skip();
    char base[] = "/tmp/truce-jail-baseXXXXXX", err[512] = "", root[PATH_MAX], uid[16];
    char p[PATH_MAX + 32];
    struct stat host, st;
    assert_int_equal(stat(self, &host), 0);
    assert_non_null(mkdtemp(base));
    snprintf(uid, sizeof(uid), "%u", (unsigned)host.st_uid);
    struct jail_config *jc = malloc(sizeof(*jc));
    assert_int_equal(PARSE(jc, err, "--id", "unit-2", "--exec-file", self, "--uid", uid, "--gid",
                           "4343", "--chroot-base-dir", base),
                     0);
    assert_int_equal(jail_root_path(jc, root, sizeof(root)), 0);
    if (jail_build_root(jc, root, err, sizeof(err)))
        fail_msg("jail_build_root: %s", err);
    snprintf(p, sizeof(p), "%s/test_jail", root);
    assert_int_equal(stat(p, &st), 0);
    assert_true(st.st_ino != host.st_ino || st.st_dev != host.st_dev);
    assert_int_equal(st.st_size, host.st_size);
    assert_int_equal(jail_cleanup(jc), 0);
    assert_int_equal(rmdir(base), 0);
    free(jc);
}

/* A previous jailed process owned the root and may have left symbolic links there (dev -> some
 * host directory): building the root again must refuse them, never write through them. */
static void symlinks_in_an_old_root_are_refused(void **state)
{
    if (geteuid() != 0)
        skip();
    char base[] = "/tmp/truce-jail-baseXXXXXX", outside[] = "/tmp/truce-jail-outXXXXXX";
    char err[512] = "", root[PATH_MAX], p[PATH_MAX + 32];
    assert_non_null(mkdtemp(base));
    assert_non_null(mkdtemp(outside));
    struct jail_config *jc = malloc(sizeof(*jc));
    assert_int_equal(PARSE(jc, err, "--id", "unit-3", "--exec-file", self, "--uid", "4242", "--gid",
                           "4343", "--chroot-base-dir", base),
                     0);
    assert_int_equal(jail_root_path(jc, root, sizeof(root)), 0);
    assert_int_equal(jail_build_root(jc, root, err, sizeof(err)), 0);
    const char *const planted[] = {"dev", "lib", "lib64", "test_jail"};
    for (size_t i = 0; i < 4; i++) {
        char moved[PATH_MAX + 40];
        snprintf(p, sizeof(p), "%s/%s", root, planted[i]);
        snprintf(moved, sizeof(moved), "%s.old", p);
        assert_int_equal(rename(p, moved), 0);
        assert_int_equal(symlink(outside, p), 0);
        err[0] = 0;
        int rc = jail_build_root(jc, root, err, sizeof(err));
        if (!strcmp(planted[i], "test_jail")) {
            /* the binary's own name: the link itself is replaced, its target untouched */
            assert_int_equal(rc, 0);
            struct stat st;
            assert_int_equal(lstat(p, &st), 0);
            assert_true(S_ISREG(st.st_mode));
        } else {
            assert_true(rc < 0);
            if (!strstr(err, "symbolic link"))
                fail_msg("error '%s' does not say why", err);
            assert_int_equal(unlink(p), 0);
            assert_int_equal(rename(moved, p), 0);
        }
        assert_int_equal(rmdir(outside), 0); /* still empty: nothing went through the link */
        assert_non_null(mkdtemp(strcpy(outside, "/tmp/truce-jail-outXXXXXX")));
    }
    rmdir(outside);
    snprintf(p, sizeof(p), "%s/test_jail.old", root);
    unlink(p);
    assert_int_equal(jail_cleanup(jc), 0);
    assert_int_equal(rmdir(base), 0);
    free(jc);
}

/* In a child: after landlock_apply() allowing only file A, A opens and B does not. */
static void landlock_restricts(void **state)
{
    if (landlock_abi() <= 0)
        skip();
    char a[] = "/tmp/truce-ll-aXXXXXX", b[] = "/tmp/truce-ll-bXXXXXX";
    int fa = mkstemp(a), fb = mkstemp(b);
    assert_true(fa >= 0 && fb >= 0);
    close(fa);
    close(fb);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct landlock_rule rules[] = {{a, LL_READ}, {"/nonexistent/skipped", LL_READ}};
        if (landlock_apply(rules, 2) != 0)
            _exit(10);
        int fd = open(a, O_RDONLY);
        if (fd < 0)
            _exit(11);
        close(fd);
        if (open(a, O_WRONLY) >= 0 || errno != EACCES)
            _exit(12); /* read-only rule */
        if (open(b, O_RDONLY) >= 0 || errno != EACCES)
            _exit(13);
        if (open("/etc/passwd", O_RDONLY) >= 0 || errno != EACCES)
            _exit(14);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    unlink(a);
    unlink(b);
}

struct probe {
    const char *allowed, *denied;
    int allowed_errno, denied_errno;
};

static void *probe_thread(void *opaque)
{
    struct probe *p = opaque;
    int fd = open(p->allowed, O_RDONLY | O_CLOEXEC);
    p->allowed_errno = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    fd = open(p->denied, O_RDONLY | O_CLOEXEC);
    p->denied_errno = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* What landlock_vm_start() relies on: a thread of kind KIND entering its sandbox with the VM's
 * ruleset (here with seccomp off), then probing from a thread it starts. */
struct entering {
    struct vm *vm;
    enum sandbox_kind kind;
    struct probe p;
    int rc;
};

static void *enter_and_probe(void *opaque)
{
    struct entering *e = opaque;
    pthread_t t;
    e->rc = sandbox_enter(e->vm, e->kind);
    if (!e->rc && !pthread_create(&t, NULL, probe_thread, &e->p))
        pthread_join(t, NULL);
    return NULL;
}

/* The guest-facing kinds (vCPU, I/O, VNC, loader) restrict themselves, and the threads they start,
 * to the VM's ruleset; the API and main threads and the thread that built the ruleset keep their
 * access. */
static void landlock_restricts_guest_facing_threads(void **state)
{
    if (landlock_abi() <= 0)
        skip();
    char a[] = "/tmp/truce-ll-aXXXXXX", b[] = "/tmp/truce-ll-bXXXXXX";
    int fa = mkstemp(a), fb = mkstemp(b);
    assert_true(fa >= 0 && fb >= 0);
    close(fa);
    close(fb);
    struct landlock_rule rules[] = {{a, LL_READ}};
    struct vm *vm = calloc(1, sizeof(*vm));
    assert_non_null(vm);
    assert_int_equal(landlock_ruleset(rules, 1, &vm->landlock_fd), 0);
    sandbox_disable();
    static const struct {
        enum sandbox_kind kind;
        bool bound;
    } kinds[] = {{SANDBOX_VCPU, true},   {SANDBOX_IO, true},   {SANDBOX_VNC, true},
                 {SANDBOX_LOADER, true}, {SANDBOX_API, false}, {SANDBOX_MAIN, false}};
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        struct entering e = {vm, kinds[i].kind, {a, b, -1, -1}, -1};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, enter_and_probe, &e), 0);
        pthread_join(t, NULL);
        assert_int_equal(e.rc, 0);
        assert_int_equal(e.p.allowed_errno, 0);
        assert_int_equal(e.p.denied_errno, kinds[i].bound ? EACCES : 0);
    }
    struct probe p = {a, b, -1, -1};
    probe_thread(&p); /* this thread was never restricted */
    assert_int_equal(p.allowed_errno, 0);
    assert_int_equal(p.denied_errno, 0);
    sandbox_reset();
    close(vm->landlock_fd);
    free(vm);
    unlink(a);
    unlink(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_flags),
        cmocka_unit_test(bad_flags_name_the_flag),
        cmocka_unit_test(paths),
        cmocka_unit_test(exec_argv),
        cmocka_unit_test(elf_deps),
        cmocka_unit_test(build_root_and_cleanup),
        cmocka_unit_test(no_hard_link_the_jailed_uid_could_write),
        cmocka_unit_test(symlinks_in_an_old_root_are_refused),
        cmocka_unit_test(landlock_restricts),
        cmocka_unit_test(landlock_restricts_guest_facing_threads),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
