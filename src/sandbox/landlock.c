/* landlock.c — Landlock: truce keeps access to the files it was given and loses every other path.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <linux/landlock.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/jail.h"
#include "util/util.h"

/* Access rights newer than Debian 12's <linux/landlock.h> (values from the kernel's ABI). */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#endif

#define LL_FS_ABI1 ((LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1) /* EXECUTE .. MAKE_SYM */

int landlock_abi(void)
{
    long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return v < 0 ? 0 : (int)v;
}

/* Every file-system right this ABI knows: all of them are refused unless a rule grants them. */
static __u64 handled_for(int abi)
{
    __u64 h = LL_FS_ABI1;
    if (abi >= 2)
        h |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        h |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5)
        h |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    return h;
}

/* The rights PERM grants on a file or directory, limited to HANDLED. */
static __u64 rights_for(unsigned perm, bool dir, __u64 handled)
{
    __u64 r = 0;
    if (perm & (LL_READ | LL_DEV))
        r |= LANDLOCK_ACCESS_FS_READ_FILE;
    if (perm & (LL_WRITE | LL_DEV))
        r |= LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE;
    if (perm & LL_DEV)
        r |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    if (dir && (perm & LL_SOCKDIR))
        r |= LANDLOCK_ACCESS_FS_REMOVE_FILE;
    if (dir && (perm & LL_FILEDIR))
        r |= LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_REMOVE_FILE |
             LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |
             LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_READ_DIR;
    if (!dir) /* rights that only make sense on a directory are refused on a file */
        r &= LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE |
             LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |
             LANDLOCK_ACCESS_FS_IOCTL_DEV;
    return r & handled;
}

static int add_rule(int ruleset, const struct landlock_rule *rule, __u64 handled)
{
    struct stat st;
    int fd = open(rule->path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    struct landlock_path_beneath_attr pb = {
        .allowed_access = rights_for(rule->perm, S_ISDIR(st.st_mode), handled),
        .parent_fd = fd,
    };
    int rc = 0;
    if (pb.allowed_access &&
        syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

int landlock_ruleset(const struct landlock_rule *rules, size_t n, int *ruleset)
{
    *ruleset = -1;
    int abi = landlock_abi();
    if (abi <= 0) {
        log_warn("landlock: not available in this kernel (%s): truce's file access is not "
                 "restricted beyond the jail",
                 errno == EOPNOTSUPP ? "disabled at boot" : "not built in");
        return 1;
    }
    struct landlock_ruleset_attr attr = {.handled_access_fs = handled_for(abi)};
    int fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
    if (fd < 0) {
        int e = errno;
        log_err("landlock: landlock_create_ruleset: %s", strerror(e));
        return -e;
    }
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        rc = add_rule(fd, &rules[i], attr.handled_access_fs);
        if (rc)
            log_err("landlock: rule for %s: %s", rules[i].path, strerror(-rc));
    }
    if (rc) {
        close(fd);
        return rc;
    }
    log_info("landlock: ABI %d, file access restricted to %zu path(s)", abi, n);
    *ruleset = fd;
    return 0;
}

int landlock_restrict(int ruleset)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    return syscall(SYS_landlock_restrict_self, ruleset, 0) < 0 ? -errno : 0;
}

int landlock_apply(const struct landlock_rule *rules, size_t n)
{
    int ruleset;
    int rc = landlock_ruleset(rules, n, &ruleset);
    if (rc)
        return rc;
    if ((rc = landlock_restrict(ruleset)) < 0)
        log_err("landlock: landlock_restrict_self: %s", strerror(-rc));
    close(ruleset);
    return rc;
}
