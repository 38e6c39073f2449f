/* fuzz_balloon.c — libFuzzer target: a hostile driver against virtio-balloon with every feature
 * (PFN arrays, statistics, hinting, reporting, config writes; fuzz_virtio.h). */
#include "fuzz_virtio.h"

static void balloon_create(struct vfix *f)
{
    char err[256] = "";
    f->vm.cfg.balloon = (struct balloon_config){.enabled = true,
                                                .amount_mib = 8,
                                                .deflate_on_oom = true,
                                                .stats_polling_interval_s = 1,
                                                .free_page_hinting = true,
                                                .free_page_reporting = true};
    if (device_class_find("virtio-balloon")->create(&f->vm, err, sizeof(err)))
        fail_msg("virtio-balloon: %s", err);
}

static const struct fv_device fv_device = {.name = "virtio-balloon", .create = balloon_create};
