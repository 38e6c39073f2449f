/* fuzz_blk.c — libFuzzer target: a hostile driver against virtio-blk on a 1 MiB scratch image
 * (fuzz_virtio.h): request headers, segment layouts, sectors, discard/write-zeroes ranges. */
#include <errno.h>

#include "fuzz_virtio.h"
#include "virtio/blk.h"

static void blk_create(struct vfix *f)
{
    struct disk_config *dc = &f->vm.cfg.disks[f->vm.cfg.ndisks++];
    char err[256] = "";
    snprintf(dc->id, sizeof(dc->id), "drive0");
    snprintf(dc->serial, sizeof(dc->serial), "fuzz-serial");
    snprintf(dc->path, sizeof(dc->path), "/tmp/truce-fuzz-blk-XXXXXX");
    int fd = mkstemp(dc->path);
    if (fd < 0 || ftruncate(fd, 1 * MiB) < 0)
        fail_msg("scratch image %s: %s", dc->path, strerror(errno));
    close(fd);
    int rc = virtio_blk_create(&f->vm, dc, err, sizeof(err));
    unlink(dc->path); /* the device keeps it open */
    if (rc)
        fail_msg("virtio-blk: %s", err);
}

static const struct fv_device fv_device = {.name = "virtio-blk", .create = blk_create};
