/* jail_cgroup.c — the jail's cgroup v2: create <mount>/<parent>/<id>, enable controllers, limits.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/jail.h"
#include "util/util.h"

int jail_cgroup2_mount(char *out, size_t outlen)
{
    FILE *f = fopen("/proc/mounts", "re");
    char dev[256], dir[PATH_MAX], type[64];
    int rc = -ENOENT;
    if (!f)
        return -errno;
    while (fscanf(f, "%255s %4095s %63s %*[^\n]", dev, dir, type) == 3) {
        if (!strcmp(type, "cgroup2")) {
            rc = str_copy(out, outlen, dir) ? -ENAMETOOLONG : 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

/* Write VALUE to DIR/FILE. Returns 0 or -errno. */
static int cg_write(const char *dir, const char *file, const char *value)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, value, strlen(value));
    int rc = n < 0 ? -errno : (size_t)n == strlen(value) ? 0 : -EIO;
    if (close(fd) < 0 && !rc)
        rc = -errno;
    return rc;
}

/* Is CTRL listed in the space-separated file DIR/FILE? */
static bool cg_listed(const char *dir, const char *file, const char *ctrl)
{
    char path[PATH_MAX], buf[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
        if (!strcmp(t, ctrl))
            return true;
    return false;
}

/* Enable controller CTRL for the children of every directory from MOUNT down to LEAF's parent,
 * creating the missing ones. Returns 0 or -errno with ERR filled. */
static int cg_enable_path(const char *mount, const char *leaf, const char *ctrl, char *err,
                          size_t errlen)
{
    char dir[PATH_MAX];
    size_t mlen = strlen(mount);
    strcpy(dir, leaf);
    for (char *p = dir + mlen;; p++) {
        if (*p && *p != '/')
            continue;
        char c = *p;
        *p = 0;
        if (strlen(dir) > mlen && mkdir(dir, 0755) < 0 && errno != EEXIST)
            return snprintf(err, errlen, "cannot create cgroup %s: %s", dir, strerror(errno)),
                   -errno;
        if (!c)
            return 0; /* the leaf itself: its own children need nothing */
        if (ctrl && !cg_listed(dir, "cgroup.subtree_control", ctrl)) {
            char plus[80];
            snprintf(plus, sizeof(plus), "+%s", ctrl);
            int rc = cg_write(dir, "cgroup.subtree_control", plus);
            if (rc)
                return snprintf(err, errlen,
                                "--cgroup: cannot enable the %s controller in %s/"
                                "cgroup.subtree_control: %s%s",
                                ctrl, dir, strerror(-rc),
                                cg_listed(dir, "cgroup.controllers", ctrl)
                                    ? ""
                                    : " (this cgroup does not offer it)"),
                       rc;
        }
        *p = c;
    }
}

int jail_cgroup_setup(const struct jail_config *jc, char *err, size_t errlen)
{
    char mount[PATH_MAX], leaf[PATH_MAX];
    if (!jc->n_cgroups)
        return 0; /* as Firecracker: no --cgroup, no cgroup */
    int rc = jail_cgroup2_mount(mount, sizeof(mount));
    if (rc)
        return snprintf(err, errlen, "--cgroup: no cgroup2 file system is mounted"), rc;
    if (jail_cgroup_path(jc, mount, leaf, sizeof(leaf)))
        return snprintf(err, errlen, "--cgroup: path too long"), -ENAMETOOLONG;
    if ((rc = cg_enable_path(mount, leaf, NULL, err, errlen)))
        return rc;
    for (unsigned i = 0; i < jc->n_cgroups; i++) {
        const struct jail_cgroup_kv *kv = &jc->cgroups[i];
        char ctrl[64];
        snprintf(ctrl, sizeof(ctrl), "%.*s", (int)strcspn(kv->key, "."), kv->key);
        if (strcmp(ctrl, "cgroup") && (rc = cg_enable_path(mount, leaf, ctrl, err, errlen)))
            return rc;
        rc = cg_write(leaf, kv->key, kv->value);
        if (rc)
            return snprintf(err, errlen, "--cgroup %s=%s: cannot write %s/%s: %s", kv->key,
                            kv->value, leaf, kv->key, strerror(-rc)),
                   rc;
    }
    rc = cg_write(leaf, "cgroup.procs", "0");
    if (rc)
        snprintf(err, errlen, "--cgroup: cannot move into %s: %s", leaf, strerror(-rc));
    return rc;
}
