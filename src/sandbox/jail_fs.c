/* jail_fs.c — the jail's file system: the binary, its shared libraries, device nodes, cleanup. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/slirp_lib.h"
#include "sandbox/jail.h"
#include "util/util.h"

#define JAIL_MAX_LIBS 64

/* The device nodes truce may need, made in the jail when the host has them. */
static const char *const jail_devices[] = {"/dev/kvm", "/dev/net/tun", "/dev/userfaultfd",
                                           "/dev/vhost-net"};

/* PT_INTERP of the ELF file FD into OUT ("" for a static binary). Returns 0 or -errno. */
static int elf_interp(int fd, char *out, size_t outlen)
{
    Elf64_Ehdr eh;
    out[0] = 0;
    if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr))
        return -ENOEXEC;
    for (unsigned i = 0; i < eh.e_phnum && i < 256; i++) {
        Elf64_Phdr ph;
        if (pread(fd, &ph, sizeof(ph), eh.e_phoff + (off_t)i * sizeof(ph)) != sizeof(ph))
            return -ENOEXEC;
        if (ph.p_type != PT_INTERP)
            continue;
        if (ph.p_filesz < 2 || ph.p_filesz > outlen)
            return -ENOEXEC;
        if (pread(fd, out, ph.p_filesz, ph.p_offset) != (ssize_t)ph.p_filesz ||
            out[ph.p_filesz - 1] || out[0] != '/')
            return -ENOEXEC;
        return 0;
    }
    return 0;
}

/* Run INTERP --list EXEC (what ldd does) with an empty environment; its output into BUF. */
static int loader_list(const char *interp, const char *exec, char *buf, size_t len)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -errno;
    }
    if (pid == 0) {
        char *argv[] = {(char *)interp, "--list", (char *)exec, NULL};
        char *envp[] = {NULL};
        dup2(p[1], 1);
        execve(interp, argv, envp);
        _exit(127);
    }
    close(p[1]);
    size_t got = 0;
    ssize_t n;
    while ((n = read(p[0], buf + got, len - 1 - got)) > 0 && got < len - 1)
        got += n;
    buf[got] = 0;
    close(p[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -ENOEXEC;
}

/* The libraries INTERP --list EXEC names (and INTERP itself), into PATHS. As jail_elf_deps. */
static int list_deps(const char *interp, const char *exec, char (*paths)[PATH_MAX], int max,
                     char *err, size_t errlen)
{
    int rc;
    size_t buflen = 64 * 1024;
    char *buf = malloc(buflen);
    if (!buf)
        return -ENOMEM;
    rc = loader_list(interp, exec, buf, buflen);
    if (rc) {
        snprintf(err, errlen, "--exec-file: %s: %s --list failed (missing libraries?)", exec,
                 interp);
        goto out;
    }
    int n = 0;
    bool has_interp = false;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strstr(line, "not found")) {
            snprintf(err, errlen, "--exec-file: %s: a library is missing:%s", exec, line);
            rc = -ENOENT;
            goto out;
        }
        char *arrow = strstr(line, "=> ");
        char *p = arrow ? arrow + 3 : line + strspn(line, " \t");
        if (*p != '/')
            continue; /* linux-vdso.so.1 and the like */
        size_t l = strcspn(p, " \t");
        if (n >= max || l >= PATH_MAX) {
            snprintf(err, errlen, "--exec-file: %s: more than %d libraries", exec, max);
            rc = -E2BIG;
            goto out;
        }
        memcpy(paths[n], p, l);
        paths[n][l] = 0;
        has_interp |= !strcmp(paths[n], interp);
        n++;
    }
    if (!has_interp && n < max)
        strcpy(paths[n++], interp);
    rc = n;
out:
    free(buf);
    return rc;
}

/* The PT_INTERP of EXEC into INTERP ("" for a static binary). Returns 0 or <0 with ERR. */
static int exec_interp(const char *exec, char *interp, size_t len, char *err, size_t errlen)
{
    int fd = open(exec, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return snprintf(err, errlen, "--exec-file: %s: %s", exec, strerror(errno)), -errno;
    int rc = elf_interp(fd, interp, len);
    close(fd);
    if (rc)
        snprintf(err, errlen, "--exec-file: %s: not a 64-bit ELF executable", exec);
    return rc;
}

int jail_elf_deps(const char *exec, char (*paths)[PATH_MAX], int max, char *err, size_t errlen)
{
    char interp[PATH_MAX];
    int rc = exec_interp(exec, interp, sizeof(interp), err, errlen);
    if (rc || !interp[0])
        return rc; /* static: nothing else to place */
    return list_deps(interp, exec, paths, max, err, errlen);
}

int jail_plugin_deps(const char *exec, const char *soname, char (*paths)[PATH_MAX], int max,
                     char *err, size_t errlen)
{
    char interp[PATH_MAX];
    struct link_map *lm = NULL;
    int rc = exec_interp(exec, interp, sizeof(interp), err, errlen);
    if (rc || !interp[0])
        return rc; /* a static binary cannot dlopen */
    void *h = dlopen(soname, RTLD_LAZY | RTLD_LOCAL);
    if (!h || dlinfo(h, RTLD_DI_LINKMAP, &lm) < 0 || !lm || lm->l_name[0] != '/') {
        if (h)
            dlclose(h);
        return 0; /* not installed here: the jailed process reports it if it needs it */
    }
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s", lm->l_name);
    dlclose(h);
    rc = list_deps(interp, path, paths, max - 1, err, errlen);
    if (rc >= 0)
        snprintf(paths[rc++], PATH_MAX, "%s", path);
    return rc;
}

/* mkdir -p PATH (each missing component with MODE). Returns 0 or -errno. */
static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    if (str_copy(tmp, sizeof(tmp), path))
        return -ENAMETOOLONG;
    for (char *p = tmp + 1;; p++) {
        if (*p != '/' && *p)
            continue;
        char c = *p;
        *p = 0;
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
            return -errno;
        if (!c)
            return 0;
        *p = c;
    }
}

/* Could UID:GID write to a file of this owner and mode (without capabilities)? */
static bool writable_by(const struct stat *st, uid_t uid, gid_t gid)
{
    return (st->st_uid == uid && (st->st_mode & 0200)) ||
           (st->st_gid == gid && (st->st_mode & 0020)) || (st->st_mode & 0002);
}

/* The directory REL ("dev/net", "" for the root itself) under ROOTFD, made 0755 where missing,
 * opened without following a symbolic link anywhere: a previous jailed process owned the root and
 * may have left links pointing out of it. Returns an fd or -errno (-ELOOP/-ENOTDIR for a link or
 * a file in the way). */
static int open_subdir(int rootfd, const char *rel)
{
    char tmp[PATH_MAX];
    int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0 || str_copy(tmp, sizeof(tmp), rel))
        return fd < 0 ? -errno : (close(fd), -ENAMETOOLONG);
    char *save = NULL;
    for (char *c = strtok_r(tmp, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (mkdirat(fd, c, 0755) < 0 && errno != EEXIST) {
            int e = -errno;
            close(fd);
            return e;
        }
        int nfd = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = -errno;
        close(fd);
        if (nfd < 0)
            return e;
        fd = nfd;
    }
    return fd;
}

/* Copy the open file IN (of status ST) to DIRFD/NAME, made new. Returns 0 or -errno. */
static int copy_at(int in, const struct stat *st, int dirfd, const char *name)
{
    int out = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     st->st_mode & 0755);
    int rc = 0;
    if (out < 0)
        return -errno;
    for (off_t off = 0; off < st->st_size;) {
        ssize_t n = sendfile(out, in, &off, st->st_size - off);
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            break;
        }
    }
    if (close(out) < 0 && !rc)
        rc = -errno;
    if (rc)
        unlinkat(dirfd, name, 0);
    return rc;
}

/* Place the host file SRC at DIRFD/NAME: a hard link to SRC's real file when the file systems
 * allow and the jailed UID:GID could not write to it (a hard link shares the host's file), else
 * a copy with SRC's permission bits. Whatever was at NAME (file or link) is replaced, never
 * followed. Returns 0 or -errno. */
static int link_or_copy(const char *src, int dirfd, const char *name, uid_t uid, gid_t gid)
{
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(src, real))
        return -errno;
    int in = open(real, O_RDONLY | O_CLOEXEC);
    if (in < 0 || fstat(in, &st) < 0) {
        int e = -errno;
        if (in >= 0)
            close(in);
        return e;
    }
    int rc = 0;
    if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
        rc = -errno;
    else if (writable_by(&st, uid, gid) || linkat(AT_FDCWD, real, dirfd, name, 0) < 0)
        rc = copy_at(in, &st, dirfd, name);
    close(in);
    return rc;
}

/* Split the absolute path P into its directory (without the leading '/') and its name. */
static void split(const char *p, char *dir, size_t dirlen, const char **name)
{
    const char *slash = strrchr(p, '/');
    snprintf(dir, dirlen, "%.*s", (int)(slash - p), p);
    memmove(dir, dir + strspn(dir, "/"), strlen(dir + strspn(dir, "/")) + 1);
    *name = slash + 1;
}

/* Place the host file PATH at ROOT/DST (DST absolute inside the jail; parents made 0755). */
static int place(const struct jail_config *jc, int rootfd, const char *root, const char *path,
                 const char *dst, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    const char *name;
    split(dst, dir, sizeof(dir), &name);
    int fd = open_subdir(rootfd, dir), rc = fd < 0 ? fd : 0;
    if (fd >= 0) {
        rc = link_or_copy(path, fd, name, jc->uid, jc->gid);
        close(fd);
    }
    if (rc)
        snprintf(err, errlen, "cannot place %s at %s%s: %s%s", path, root, dst, strerror(-rc),
                 rc == -ELOOP || rc == -ENOTDIR ? " (a symbolic link or a file in the way)" : "");
    return rc;
}

/* mknod ROOT/DEV like the host's DEV (character device, mode 0600, owned by uid:gid). */
static int make_device(const struct jail_config *jc, int rootfd, const char *root, const char *dev,
                       char *err, size_t errlen)
{
    struct stat st;
    char dir[PATH_MAX];
    const char *name;
    if (stat(dev, &st) < 0 || !S_ISCHR(st.st_mode))
        return 0; /* the host has no such device: neither does the jail */
    split(dev, dir, sizeof(dir), &name);
    int fd = open_subdir(rootfd, dir), rc = fd < 0 ? fd : 0;
    if (fd >= 0) {
        if ((unlinkat(fd, name, 0) < 0 && errno != ENOENT) ||
            mknodat(fd, name, S_IFCHR | 0600, st.st_rdev) < 0 ||
            fchownat(fd, name, jc->uid, jc->gid, AT_SYMLINK_NOFOLLOW) < 0)
            rc = -errno;
        close(fd);
    }
    if (rc)
        snprintf(err, errlen, "cannot make device node %s%s (%u:%u): %s%s", root, dev,
                 major(st.st_rdev), minor(st.st_rdev), strerror(-rc),
                 rc == -ELOOP || rc == -ENOTDIR ? " (a symbolic link or a file in the way)" : "");
    return rc;
}

static int place_all(const struct jail_config *jc, int rootfd, const char *root, char *err,
                     size_t errlen)
{
    char exec_dst[NAME_MAX + 2];
    snprintf(exec_dst, sizeof(exec_dst), "/%s", jc->exec_name);
    int rc = place(jc, rootfd, root, jc->exec_file, exec_dst, err, errlen);
    if (rc)
        return rc;
    char(*libs)[PATH_MAX] = calloc(JAIL_MAX_LIBS, PATH_MAX);
    if (!libs)
        return -ENOMEM;
    int n = jail_elf_deps(jc->exec_file, libs, JAIL_MAX_LIBS, err, errlen);
    for (int i = 0; i < n && !rc; i++)
        rc = place(jc, rootfd, root, libs[i], libs[i], err, errlen);
    /* and what truce loads only when a VM asks for it (user networking) */
    int m =
        n < 0 ? 0 : jail_plugin_deps(jc->exec_file, SLIRP_SONAME, libs, JAIL_MAX_LIBS, err, errlen);
    for (int i = 0; i < m && !rc; i++)
        if (faccessat(rootfd, libs[i] + 1, F_OK, AT_SYMLINK_NOFOLLOW) != 0)
            rc = place(jc, rootfd, root, libs[i], libs[i], err, errlen);
    free(libs);
    if (n < 0 || m < 0)
        return n < 0 ? n : m;
    for (size_t i = 0; i < ARRAY_SIZE(jail_devices) && !rc; i++)
        rc = make_device(jc, rootfd, root, jail_devices[i], err, errlen);
    return rc;
}

int jail_build_root(const struct jail_config *jc, const char *root, char *err, size_t errlen)
{
    int rc = mkdir_p(root, 0700);
    if (rc)
        return snprintf(err, errlen, "cannot create %s: %s", root, strerror(-rc)), rc;
    int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (rootfd < 0)
        return snprintf(err, errlen, "cannot open %s: %s", root, strerror(errno)), -errno;
    struct statvfs vfs;
    if (fstatvfs(rootfd, &vfs) == 0 && (vfs.f_flag & ST_NODEV)) {
        snprintf(err, errlen,
                 "--chroot-base-dir: %s is on a nodev mount: /dev/kvm could not be opened in "
                 "the jail",
                 root);
        rc = -EPERM;
    }
    if (!rc)
        rc = place_all(jc, rootfd, root, err, errlen);
    if (!rc && (fchown(rootfd, jc->uid, jc->gid) < 0 || fchmod(rootfd, 0700) < 0)) {
        rc = -errno;
        snprintf(err, errlen, "cannot give %s to %u:%u: %s", root, jc->uid, jc->gid, strerror(-rc));
    }
    close(rootfd);
    return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
    if (rc < 0 && errno != ENOENT)
        fprintf(stderr, "truce jail: cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

/* rm -rf DIR, never crossing into another file system or following a symbolic link. */
static int remove_tree(const char *dir)
{
    struct stat st;
    if (lstat(dir, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    return lstat(dir, &st) == 0 ? -ENOTEMPTY : 0;
}

int jail_cleanup(const struct jail_config *jc)
{
    char dir[PATH_MAX], mnt[PATH_MAX], cg[PATH_MAX];
    int status = 0;
    if (jail_cgroup2_mount(mnt, sizeof(mnt)) == 0 &&
        jail_cgroup_path(jc, mnt, cg, sizeof(cg)) == 0) {
        if (rmdir(cg) < 0 && errno != ENOENT) {
            fprintf(stderr, "truce jail: --cleanup: cannot remove cgroup %s: %s%s\n", cg,
                    strerror(errno), errno == EBUSY ? " (processes still run in it)" : "");
            status = 4;
        }
        /* the default parent (<mount>/<exec name>) too, once no other VM uses it; a parent
         * named by --parent-cgroup is the administrator's and stays */
        if (!jc->parent_cgroup[0]) {
            *strrchr(cg, '/') = 0;
            rmdir(cg);
        }
    }
    if (jail_dir_path(jc, dir, sizeof(dir)) == 0) {
        int rc = remove_tree(dir);
        if (rc) {
            fprintf(stderr, "truce jail: --cleanup: cannot remove %s: %s\n", dir, strerror(-rc));
            status = 4;
        }
        *strrchr(dir, '/') = 0; /* <base>/<exec name>, once empty */
        rmdir(dir);
    }
    return status;
}
