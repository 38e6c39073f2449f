/* fuzz_vmem.c — libFuzzer target: a hostile driver against virtio-mem with a 128 MiB region
 * (fuzz_virtio.h): plug, unplug, unplug-all and state requests with any range, and the host
 * changing the requested size (host operation: 2 bytes, a count of 2 MiB blocks). */
#include "fuzz_virtio.h"
#include "virtio/mem.h"

static void vmem_create(struct vfix *f)
{
    char err[256] = "";
    f->vm.cfg.memhp = (struct memhp_config){
        .total_bytes = 128 * MiB, .block_bytes = 2 * MiB, .slot_bytes = 128 * MiB};
    if (device_class_find("virtio-mem")->create(&f->vm, err, sizeof(err)))
        fail_msg("virtio-mem: %s", err);
}

static void vmem_host(struct vfix *f, const uint8_t *arg, size_t len)
{
    char err[256];
    uint64_t blocks = len >= 2 ? (uint64_t)arg[0] | (uint64_t)arg[1] << 8 : 0;
    virtio_mem_request(&f->vm, blocks * 2 * MiB, err, sizeof(err)); /* refused past 64 blocks */
}

static void vmem_end(struct vfix *f)
{
    char err[256];
    virtio_mem_request(&f->vm, 0, err, sizeof(err));
}

static const struct fv_device fv_device = {
    .name = "virtio-mem", .create = vmem_create, .host = vmem_host, .end = vmem_end};
