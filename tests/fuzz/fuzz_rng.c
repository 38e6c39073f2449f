/* fuzz_rng.c — libFuzzer target: a hostile driver against virtio-rng (fuzz_virtio.h). */
#include "fuzz_virtio.h"

static void rng_create(struct vfix *f)
{
    char err[256] = "";
    f->vm.cfg.entropy = true;
    if (device_class_find("virtio-rng")->create(&f->vm, err, sizeof(err)))
        fail_msg("virtio-rng: %s", err);
}

static const struct fv_device fv_device = {.name = "virtio-rng", .create = rng_create};
