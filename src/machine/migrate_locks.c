/* migrate_locks.c — a migration's source hands its disk images' locks on to the destination.
 *
 * truce locks every writable disk image exclusively (flock, backend/disk.c) so that no second
 * process writes it. A migration on one host (or over shared storage that honours flock) must
 * pass that lock on: the destination opens and locks the images as soon as it builds the machine
 * from the configuration, while the source still runs. So the source lets go of its locks before
 * it sends the configuration and takes them back if the migration fails. A flock belongs to the
 * open file, shared by every descriptor of it: the devices' own descriptors are found by matching
 * each open descriptor's file with the configured images' (the source keeps writing through them
 * until it pauses; after that only the destination does). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "machine/migrate.h"
#include "util/util.h"
#include "vm/vm.h"

#define MAX_FD 4096 /* descriptors looked at: far above what a VMM holds */

/* The files of VM's writable disk images into IMG. Returns how many. */
static unsigned image_files(const struct vm *vm, struct stat *img)
{
    unsigned n = 0;
    for (unsigned i = 0; i < vm->cfg.ndisks; i++) {
        const struct disk_config *d = &vm->cfg.disks[i];
        if (d->readonly || d->cdrom)
            continue; /* shared locks: the destination's go along with them */
        int fd = open(d->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (!fstat(fd, &img[n]))
            n++;
        close(fd); /* another open file: closing it leaves the device's lock alone */
    }
    return n;
}

/* flock(OP) on every descriptor of one of the N files IMG. Returns 0 or the first -errno (with
 * the descriptor's image in ERR). */
static int lock_each(const struct stat *img, unsigned n, int op, char *err, size_t errlen)
{
    int rc = 0;
    for (int fd = 0; fd < MAX_FD; fd++) {
        struct stat st;
        if (fstat(fd, &st) || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
            continue;
        for (unsigned i = 0; i < n; i++) {
            if (st.st_dev != img[i].st_dev || st.st_ino != img[i].st_ino)
                continue;
            if (flock(fd, op) && !rc) {
                rc = -errno;
                snprintf(err, errlen, "disk image (descriptor %d): %s", fd, strerror(errno));
            }
        }
    }
    return rc;
}

void migrate_release_locks(struct vm *vm)
{
    struct stat img[CFG_MAX_DISKS];
    char err[160];
    unsigned n = image_files(vm, img);
    if (n && lock_each(img, n, LOCK_UN, err, sizeof(err)))
        log_warn("migration: cannot release a lock: %s", err);
}

int migrate_retake_locks(struct vm *vm, char *err, size_t errlen)
{
    struct stat img[CFG_MAX_DISKS];
    unsigned n = image_files(vm, img);
    int rc = 0;
    /* a destination that refused lets go when it exits, which takes a moment */
    for (unsigned i = 0; n && i * 100 <= MIG_DRAIN_MS + 1000; i++) {
        if ((rc = lock_each(img, n, LOCK_EX | LOCK_NB, err, errlen)) != -EWOULDBLOCK)
            break;
        poll(NULL, 0, 100);
    }
    return rc;
}
