/* jailvm.c — truced's VMs under `truce jail`: the chroot prepared with the definition's files. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "manager/mgr.h"

void jail_root(struct mgr *m, const char *name, char *out, size_t n)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", m->truce);
    snprintf(out, n, "%s/jail/%s/%s/root", m->state_dir, basename(tmp), name);
}

/* `truce jail --cleanup` for NAME: the previous run's root and binary go. */
void jail_cleanup(struct mgr *m, const char *name)
{
    char base[PATH_MAX];
    snprintf(base, sizeof(base), "%s/jail", m->state_dir);
    pid_t p = fork();
    if (p == 0) {
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 1);
        dup2(nul, 2);
        execl(m->truce, m->truce, "jail", "--cleanup", "--id", name, "--exec-file", m->truce,
              "--chroot-base-dir", base, (char *)NULL);
        _exit(127);
    }
    if (p > 0)
        waitpid(p, NULL, 0);
}

/* Copy SRC to ROOT/NAME, mode 0400 owned by the jail's uid:gid. */
static int copy_in(struct mgr *m, const char *src, const char *root, const char *name)
{
    char dst[PATH_MAX];
    snprintf(dst, sizeof(dst), "%s/%s", root, name);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    unlink(dst);
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
    struct stat st;
    int rc = out < 0 || fstat(in, &st) < 0 ? -errno : 0;
    for (off_t off = 0; !rc && off < st.st_size;) {
        ssize_t w = sendfile(out, in, &off, st.st_size - off);
        if (w <= 0)
            rc = w < 0 ? -errno : -EIO;
    }
    if (!rc && fchown(out, m->jail_uid, m->jail_gid) < 0)
        rc = -errno;
    close(in);
    if (out >= 0)
        close(out);
    return rc;
}

static const char *const UNSUPPORTED[] = {"drives",  "vsock",          "pmem", "logger",
                                          "metrics", "memory-hotplug", NULL};

int jail_prepare(struct mgr *m, const char *name, const char *config, char *sock, size_t socklen,
                 char *err, size_t errlen)
{
    char root[PATH_MAX];
    jail_root(m, name, root, sizeof(root));
    json_t *c = json_loads(config, 0, NULL);
    int rc = c ? 0 : -EINVAL;
    for (int i = 0; !rc && UNSUPPORTED[i]; i++)
        if (json_object_get(c, UNSUPPORTED[i])) {
            snprintf(err, errlen, "config.%s: not supported for VMs under truce jail yet",
                     UNSUPPORTED[i]);
            rc = -ENOTSUP;
        }
    jail_cleanup(m, name);
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s", root);
    for (char *s = p + 1; !rc && *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0700) < 0 && errno != EEXIST)
                rc = -errno;
            *s = '/';
        }
    if (!rc && mkdir(root, 0700) < 0 && errno != EEXIST)
        rc = -errno;
    json_t *bs = json_object_get(c, "boot-source");
    static const char *const files[][2] = {{"kernel_image_path", "kernel"},
                                           {"initrd_path", "initrd"}};
    for (int i = 0; !rc && i < 2; i++) {
        const char *src = json_string_value(json_object_get(bs, files[i][0]));
        if (!src)
            continue;
        if ((rc = copy_in(m, src, root, files[i][1])) < 0)
            snprintf(err, errlen, "config.boot-source.%s: %s: %s", files[i][0], src, strerror(-rc));
        else
            json_object_set_new(bs, files[i][0], json_sprintf("/%s", files[i][1]));
    }
    json_t *ser = json_object_get(c, "serial");
    if (!rc && json_object_get(ser, "serial_out_path"))
        json_object_set_new(ser, "serial_out_path", json_string("/serial.log"));
    snprintf(p, sizeof(p), "%s/vm.json", root);
    unlink(p);
    if (!rc && (json_dump_file(c, p, JSON_COMPACT) < 0 || chown(p, m->jail_uid, m->jail_gid) < 0)) {
        rc = -EIO;
        snprintf(err, errlen, "writing %s failed", p);
    }
    if (rc == -EINVAL)
        snprintf(err, errlen, "config: not JSON");
    json_decref(c);
    snprintf(sock, socklen, "%s/api.sock", root);
    return rc;
}
