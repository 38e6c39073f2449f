/* jail_run.c — entering the jail: netns, mount ns + pivot_root, pid ns, rlimits, no privileges. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <grp.h>
#include <unistd.h>

#include "sandbox/jail.h"
#include "util/util.h"
#include "vm/vm.h"

#define JFAIL(...)                                                                                 \
    do {                                                                                           \
        fprintf(stderr, "truce jail: " __VA_ARGS__);                                               \
        fputc('\n', stderr);                                                                       \
        return TRUCE_EXIT_HOST;                                                                    \
    } while (0)

static int set_rlimits(const struct jail_config *jc)
{
    struct rlimit nofile = {jc->nofile, jc->nofile};
    if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
        JFAIL("--resource-limit no-file=%llu: %s", (unsigned long long)jc->nofile, strerror(errno));
    if (jc->fsize_set) {
        struct rlimit fs = {jc->fsize, jc->fsize};
        if (setrlimit(RLIMIT_FSIZE, &fs) < 0)
            JFAIL("--resource-limit fsize=%llu: %s", (unsigned long long)jc->fsize,
                  strerror(errno));
    }
    return 0;
}

/* Is / the initramfs (the first mount, "rootfs", which pivot_root cannot move away)? */
static bool root_is_initramfs(void)
{
    char dev[64], dir[8], type[16];
    FILE *f = fopen("/proc/self/mounts", "re");
    bool yes = false;
    if (!f)
        return false;
    while (fscanf(f, "%63s %7s %15s %*[^\n]", dev, dir, type) == 3)
        if (!strcmp(dir, "/")) {
            yes = !strcmp(type, "rootfs");
            break;
        }
    fclose(f);
    return yes;
}

/* New mount namespace, ROOT made the root: pivot_root as Firecracker's jailer does; when the host
 * root is the initramfs (rootfs cannot be pivoted away), the jail is moved over / and chroot'ed
 * into instead, which holds because the jailed process keeps no CAP_SYS_CHROOT. */
static int enter_root(const char *root)
{
    bool initramfs = root_is_initramfs();
    if (unshare(CLONE_NEWNS) < 0)
        JFAIL("unshare(CLONE_NEWNS): %s", strerror(errno));
    if (mount(NULL, "/", NULL, MS_PRIVATE | MS_REC, NULL) < 0)
        JFAIL("making / private in the new mount namespace: %s", strerror(errno));
    if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
        JFAIL("bind-mounting %s on itself: %s", root, strerror(errno));
    if (chdir(root) < 0)
        JFAIL("chdir %s: %s", root, strerror(errno));
    struct stat st;
    unlink("old_root"); /* whatever a previous jailed process may have left there */
    if ((mkdir("old_root", 0700) < 0 && errno != EEXIST) || lstat("old_root", &st) < 0 ||
        !S_ISDIR(st.st_mode))
        JFAIL("cannot make the directory %s/old_root", root);
    if (syscall(SYS_pivot_root, ".", "old_root") == 0) {
        if (umount2("old_root", MNT_DETACH) < 0)
            JFAIL("unmounting the old root: %s", strerror(errno));
        if (rmdir("old_root") < 0)
            JFAIL("rmdir old_root: %s", strerror(errno));
    } else if (errno == EINVAL && initramfs) {
        rmdir("old_root");
        if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
            JFAIL("pivot_root: EINVAL, and moving %s over /: %s", root, strerror(errno));
        fprintf(stderr, "truce jail: / is an initramfs, which pivot_root cannot leave: the jail "
                        "was moved over / and chroot'ed into instead\n");
    } else {
        JFAIL("pivot_root into %s: %s", root, strerror(errno));
    }
    if (chroot(".") < 0 || chdir("/") < 0)
        JFAIL("chroot into %s: %s", root, strerror(errno));
    return 0;
}

/* Write PID (decimal) to /<exec_name>.pid in the jail's root. */
static int write_pid_file(const struct jail_config *jc, pid_t pid)
{
    char path[NAME_MAX + 8], line[24];
    snprintf(path, sizeof(path), "/%s.pid", jc->exec_name);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        JFAIL("cannot write the pid file %s: %s", path, strerror(errno));
    int n = snprintf(line, sizeof(line), "%d", (int)pid);
    bool ok = write(fd, line, n) == n;
    if (close(fd) < 0 || !ok)
        JFAIL("cannot write the pid file %s", path);
    return 0;
}

/* Become UID:GID with no capability in any set (bounding and ambient included), no
 * supplementary group, and no_new_privs. */
static int drop_privileges(const struct jail_config *jc)
{
    for (int cap = 0; cap <= 63; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            JFAIL("dropping capability %d from the bounding set: %s", cap, strerror(errno));
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        JFAIL("clearing the ambient capabilities: %s", strerror(errno));
    if (setgroups(0, NULL) < 0)
        JFAIL("--gid %u: setgroups: %s", jc->gid, strerror(errno));
    if (setresgid(jc->gid, jc->gid, jc->gid) < 0)
        JFAIL("--gid %u: %s", jc->gid, strerror(errno));
    if (setresuid(jc->uid, jc->uid, jc->uid) < 0)
        JFAIL("--uid %u: %s", jc->uid, strerror(errno));
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2] = {{0}};
    if (syscall(SYS_capset, &hdr, data) < 0)
        JFAIL("clearing the capability sets: %s", strerror(errno));
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        JFAIL("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
    return 0;
}

/* Give the exec'd program the signal state of a fresh process (truce's main blocks the
 * termination signals and ignores SIGPIPE; both would otherwise survive exec). */
static void reset_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    signal(SIGPIPE, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static int daemonize(int devnull)
{
    if (setsid() < 0)
        JFAIL("--daemonize: setsid: %s (the jailer must not be a process group leader)",
              strerror(errno));
    if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0)
        JFAIL("--daemonize: redirecting standard I/O: %s", strerror(errno));
    close(devnull);
    return 0;
}

/* Everything outside the jail: fds, environment, limits, cgroup, the root's contents. */
static int prepare(const struct jail_config *jc, const char *root, int *netfd, int *devnull)
{
    char err[768];
    close_range(3, ~0U, 0);
    clearenv();
    if (jail_cgroup_setup(jc, err, sizeof(err)) || jail_build_root(jc, root, err, sizeof(err)))
        JFAIL("%s", err);
    if (set_rlimits(jc)) /* after the copies, which a small fsize would cut short (SIGXFSZ) */
        return TRUCE_EXIT_HOST;
    if (jc->netns[0] && (*netfd = open(jc->netns, O_RDONLY | O_CLOEXEC)) < 0)
        JFAIL("--netns %s: %s", jc->netns, strerror(errno));
    if (jc->daemonize && (*devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
        JFAIL("--daemonize: /dev/null: %s", strerror(errno));
    if (*netfd >= 0) {
        if (setns(*netfd, CLONE_NEWNET) < 0)
            JFAIL("--netns %s: setns: %s", jc->netns, strerror(errno));
        close(*netfd);
        *netfd = -1;
    }
    return 0;
}

int jail_run(const struct jail_config *jc)
{
    char root[PATH_MAX], times[2][24];
    int netfd = -1, devnull = -1, rc;
    if (geteuid() != 0)
        JFAIL("must run as root: it makes device nodes, a cgroup and namespaces, then drops to "
              "--uid/--gid");
    if (jail_root_path(jc, root, sizeof(root)))
        JFAIL("--chroot-base-dir: path too long");
    char **argv = jail_exec_argv(jc, times);
    if (!argv)
        JFAIL("out of memory");
    if ((rc = prepare(jc, root, &netfd, &devnull)) || (rc = enter_root(root)))
        return rc;
    if (jc->daemonize && (rc = daemonize(devnull)))
        return rc;
    if (jc->new_pid_ns) {
        if (unshare(CLONE_NEWPID) < 0)
            JFAIL("--new-pid-ns: unshare(CLONE_NEWPID): %s", strerror(errno));
        pid_t pid = fork();
        if (pid < 0)
            JFAIL("--new-pid-ns: fork: %s", strerror(errno));
        if (pid > 0) /* the child is pid 1 of the new namespace; as Firecracker, we leave */
            return write_pid_file(jc, pid);
    } else if ((rc = write_pid_file(jc, getpid()))) {
        return rc;
    }
    if ((rc = drop_privileges(jc)))
        return rc;
    reset_signals();
    close_range(3, ~0U, 0);
    char *envp[] = {NULL};
    execve(argv[0], argv, envp);
    JFAIL("exec %s%s: %s", root, argv[0], strerror(errno));
}
