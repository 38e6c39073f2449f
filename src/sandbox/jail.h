/* jail.h — `truce jail`: a Firecracker-jailer compatible jail (flags, layout, set-up) and Landlock.
 */
#ifndef TRUCE_SANDBOX_JAIL_H
#define TRUCE_SANDBOX_JAIL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define JAIL_ID_MAX         64 /* Firecracker: alphanumeric and '-', at most 64 characters */
#define JAIL_MAX_CGROUPS    32
#define JAIL_DEFAULT_BASE   "/srv/jailer"
#define JAIL_DEFAULT_NOFILE 2048 /* RLIMIT_NOFILE when --resource-limit no-file= is not given */

struct jail_cgroup_kv {
    char key[64];    /* cgroup v2 interface file, e.g. memory.max */
    char value[256]; /* written as is */
};

struct jail_config {
    char id[JAIL_ID_MAX + 1];
    char exec_file[PATH_MAX];
    char exec_name[NAME_MAX + 1]; /* basename of exec_file */
    uid_t uid;
    gid_t gid;
    char chroot_base[PATH_MAX];
    char netns[PATH_MAX]; /* empty: stay in the caller's network namespace */
    bool daemonize;
    bool new_pid_ns;
    bool cleanup; /* truce extension: remove the cgroup and <base>/<exec>/<id>, run nothing */
    unsigned cgroup_version;
    struct jail_cgroup_kv cgroups[JAIL_MAX_CGROUPS];
    unsigned n_cgroups;
    char parent_cgroup[PATH_MAX]; /* relative; empty means exec_name */
    bool fsize_set;
    uint64_t fsize;
    uint64_t nofile;
    int exec_argc; /* the arguments after `--`, passed to the exec'd binary */
    char **exec_argv;
};

/* Parse `truce jail` flags (ARGV[0] is "jail") into JC and validate them: the id's alphabet and
 * length, exec-file a regular file, chroot base absolute, netns an existing file, cgroup keys
 * `controller.file` without '/', parent cgroup relative without "..". Nothing on disk changes.
 * Returns 0, 1 when --help was asked, or -EINVAL with one line naming the flag in ERR. */
int jail_parse(int argc, char **argv, struct jail_config *jc, char *err, size_t errlen);

/* <chroot_base>/<exec_name>/<id> (the jail's directory) into OUT. Returns 0 or -ENAMETOOLONG. */
int jail_dir_path(const struct jail_config *jc, char *out, size_t outlen);
/* <jail dir>/root. Returns 0 or -ENAMETOOLONG. */
int jail_root_path(const struct jail_config *jc, char *out, size_t outlen);
/* <cgroup2 mount>/<parent cgroup or exec_name>/<id>. Returns 0 or -ENAMETOOLONG. */
int jail_cgroup_path(const struct jail_config *jc, const char *mount, char *out, size_t outlen);

/* The argument vector the jailed binary is exec'd with (NULL-terminated, from malloc; the strings
 * point into JC or into static storage): `/<exec_name> --id=<id> --start-time-us=N
 * --start-time-cpu-us=N <args after -->` as Firecracker's jailer does, or, when the first
 * argument after `--` is a truce subcommand (`run`), `/<exec_name> run --id=<id> <the rest>`.
 * TIMES holds the two numbers' text. Returns NULL when out of memory. */
char **jail_exec_argv(const struct jail_config *jc, char times[2][24]);

/* The shared libraries and loader EXEC needs (its PT_INTERP run with --list, as ldd does), one
 * absolute path each, into PATHS (up to MAX). Returns how many (0 for a static binary) or -errno
 * with ERR filled. */
int jail_elf_deps(const char *exec, char (*paths)[PATH_MAX], int max, char *err, size_t errlen);
/* The same for the library SONAME that EXEC may dlopen (as this host resolves it), with the
 * library itself last; 0 when SONAME is not installed here or EXEC is static. */
int jail_plugin_deps(const char *exec, const char *soname, char (*paths)[PATH_MAX], int max,
                     char *err, size_t errlen);

/* The mount point of the cgroup v2 hierarchy (first "cgroup2" in /proc/mounts) into OUT.
 * Returns 0 or -ENOENT. */
int jail_cgroup2_mount(char *out, size_t outlen);

/* Create the cgroup, enable the controllers its keys need in every ancestor, write the keys and
 * move the calling process in. Returns 0 or -errno with ERR naming the file. */
int jail_cgroup_setup(const struct jail_config *jc, char *err, size_t errlen);

/* Build <root>: the binary at /<exec_name>, its libraries at their own paths, the device nodes
 * (/dev/kvm, /dev/net/tun, /dev/userfaultfd when the host has them) owned by uid:gid, the root
 * directory owned by uid:gid. Returns 0 or -errno with ERR filled. */
int jail_build_root(const struct jail_config *jc, const char *root, char *err, size_t errlen);

/* Enter the jail and exec (does not return on success; with --new-pid-ns the parent writes the
 * pid file and returns 0). Returns a process exit status with the reason printed on stderr. */
int jail_run(const struct jail_config *jc);

/* --cleanup: remove the cgroup (empty) and the jail directory. Returns an exit status. */
int jail_cleanup(const struct jail_config *jc);

/* `truce jail ...`: parse, then run or clean up. Returns the process exit status. */
int jail_main(int argc, char **argv);

/* ---- Landlock (landlock.c) -------------------------------------------------------------------
 * A list of paths the process keeps after landlock_apply(), each with what it may do there. */
enum landlock_perm {
    LL_READ = 1,     /* read a file */
    LL_WRITE = 2,    /* write (and truncate) a file */
    LL_DEV = 4,      /* a device: read, write, ioctl */
    LL_SOCKDIR = 8,  /* a directory where a UNIX socket (bound before) is removed at the end */
    LL_FILEDIR = 16, /* a directory where files are created, written and removed */
};

struct landlock_rule {
    const char *path;
    unsigned perm;
};

/* The Landlock ABI version of this kernel: >= 1, 0 when Landlock is absent or disabled. */
int landlock_abi(void);

/* Restrict the calling thread (and every thread and child it creates afterwards) to RULES: every
 * other file-system access is refused. Paths that do not exist are skipped. Returns 0 when
 * enforced, 1 when the kernel has no Landlock (one log line says so), -errno on failure. */
int landlock_apply(const struct landlock_rule *rules, size_t n);

/* The two halves of landlock_apply(): a ruleset for RULES into *RULESET (closed by the caller;
 * -1 and 1 returned when the kernel has no Landlock, one log line saying so), and the calling
 * thread restricted to RULESET (its later threads and children too). Return 0 or -errno. */
int landlock_ruleset(const struct landlock_rule *rules, size_t n, int *ruleset);
int landlock_restrict(int ruleset);

/* The rules for a VM of configuration CFG (kernel/initrd/firmware read, disks read or read-write
 * as configured, the console file, the vsock socket's directory, /dev/kvm, /dev/net/tun,
 * /dev/userfaultfd, and /etc/resolv.conf for user networking), applied with landlock_apply(). Call
 * it on the thread that then creates every other thread, once the VM's files are open and before
 * its first instruction. The environment variable TRUCE_NO_LANDLOCK turns it off (one warning).
 * Returns as landlock_apply(). */
struct vm_config;
int landlock_vm(const struct vm_config *cfg);

/* vm_start_in(VM, PAUSED) with the threads it starts restricted by CFG's rules: the vCPU, I/O and
 * VNC threads, which face the guest, are bound (each restricts itself with VM's ruleset,
 * vm->landlock_fd, first thing in sandbox_enter: no helper thread to create and wait for); the
 * calling thread (the API server) is not, so it can still open what the API names later (PATCH
 * /drives). Returns as vm_start(), or -errno when the ruleset failed (nothing started). */
struct vm;
int landlock_vm_start(struct vm *vm, const struct vm_config *cfg, bool paused);

#endif
