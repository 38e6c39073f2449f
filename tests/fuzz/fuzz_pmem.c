/* fuzz_pmem.c — libFuzzer target: a hostile driver against virtio-pmem on a 3 MiB scratch file
 * (fuzz_virtio.h): flush requests, their layouts and buffers, the region's config fields. */
#include <errno.h>

#include "fuzz_virtio.h"

static void pmem_create(struct vfix *f)
{
    struct pmem_config *p = &f->vm.cfg.pmem[f->vm.cfg.npmem++];
    char err[256] = "";
    snprintf(p->id, sizeof(p->id), "pmem0");
    snprintf(p->path, sizeof(p->path), "/tmp/truce-fuzz-pmem-XXXXXX");
    int fd = mkstemp(p->path);
    if (fd < 0 || ftruncate(fd, 3 * MiB) < 0)
        fail_msg("scratch file %s: %s", p->path, strerror(errno));
    close(fd);
    int rc = device_class_find("virtio-pmem")->create(&f->vm, err, sizeof(err));
    unlink(p->path); /* the device keeps it open and mapped */
    if (rc)
        fail_msg("virtio-pmem: %s", err);
}

static const struct fv_device fv_device = {.name = "virtio-pmem", .create = pmem_create};
