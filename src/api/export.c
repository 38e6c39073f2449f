/* export.c — JSON views of the configuration and state: GET /, /machine-config, /vm/config. */
#include <stdio.h>

#include "api/api_int.h"

json_t *api_export_instance(const struct api *api)
{
    static const char *const states[] = {
        [API_VM_NOT_STARTED] = "Not started",
        [API_VM_RUNNING] = "Running",
        [API_VM_PAUSED] = "Paused",
        [API_VM_STOPPED] = "Running", /* the process is about to exit with the VM's status */
    };
    return json_pack("{s:s, s:s, s:s, s:s}", "app_name", API_APP_NAME, "id", api->id, "state",
                     states[api->state], "vmm_version", TRUCE_VERSION);
}

json_t *api_export_machine(const struct api *api)
{
    const struct vm_config *cfg = &api->cfg;
    json_t *m =
        json_pack("{s:I, s:I, s:b, s:b, s:s}", "vcpu_count", (json_int_t)cfg->cpus, "mem_size_mib",
                  (json_int_t)(cfg->mem_bytes >> 20), "smt", cfg->smt, "track_dirty_pages",
                  api->cfg.track_dirty, "huge_pages", api_huge_pages[api->huge_pages]);
    if (api->static_template)
        json_object_set_new(m, "cpu_template", json_string(api_static_template_name(api)));
    return m;
}

static json_t *boot_source(const struct vm_config *cfg)
{
    json_t *b = json_pack("{s:s}", "kernel_image_path", cfg->kernel);
    if (cfg->initrd[0])
        json_object_set_new(b, "initrd_path", json_string(cfg->initrd));
    if (cfg->cmdline_set)
        json_object_set_new(b, "boot_args", json_string(cfg->cmdline));
    if (cfg->firmware[0])
        json_object_set_new(b, "firmware", json_string(cfg->firmware));
    if (cfg->firmware_vars[0])
        json_object_set_new(b, "firmware_vars", json_string(cfg->firmware_vars));
    return b;
}

static json_t *drives(const struct api *api)
{
    json_t *a = json_array();
    for (unsigned i = 0; i < api->cfg.ndisks; i++) {
        const struct disk_config *d = &api->cfg.disks[i];
        json_t *o = json_pack("{s:s, s:s, s:b, s:b, s:s, s:s}", "drive_id", d->id, "path_on_host",
                              d->path, "is_root_device", d->is_root, "is_read_only", d->readonly,
                              "cache_type", api_cache_types[api->drive_extra[i].cache_type],
                              "io_engine", api_io_engines[api->drive_extra[i].io_engine]);
        api_export_rate_limiter(o, "rate_limiter", &d->rate_limiter);
        if (d->iface == DISK_IF_AHCI) /* truce extensions, only when not the default */
            json_object_set_new(o, "interface", json_string(api_drive_ifaces[d->iface]));
        if (d->cdrom)
            json_object_set_new(o, "media", json_string(api_drive_media[1]));
        if (d->queues > 1)
            json_object_set_new(o, "num_queues", json_integer(d->queues));
        if (d->direct)
            json_object_set_new(o, "direct", json_true());
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *nets(const struct vm_config *cfg)
{
    json_t *a = json_array();
    for (unsigned i = 0; i < cfg->nnets; i++) {
        const struct net_config *n = &cfg->nets[i];
        json_t *o = json_pack("{s:s, s:s}", "iface_id", n->id, "host_dev_name", n->tap);
        if (n->mac_set) {
            char mac[18];
            snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1],
                     n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
            json_object_set_new(o, "guest_mac", json_string(mac));
        }
        api_export_rate_limiter(o, "rx_rate_limiter", &n->rx_rate_limiter);
        api_export_rate_limiter(o, "tx_rate_limiter", &n->tx_rate_limiter);
        if (n->queues > 1) /* a truce extension, only when not the default */
            json_object_set_new(o, "num_queue_pairs", json_integer(n->queues));
        if (n->vhost) /* a truce extension too */
            json_object_set_new(o, "vhost", json_true());
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *logger(const struct api_logger *l)
{
    json_t *o = json_pack("{s:s, s:b, s:b}", "level", l->level, "show_level", l->show_level,
                          "show_log_origin", l->show_origin);
    if (l->path[0])
        json_object_set_new(o, "log_path", json_string(l->path));
    return o;
}

static json_t *metrics(const struct api_metrics *m)
{
    json_t *o = json_pack("{s:s, s:b}", "metrics_path", m->path, "emit_id", m->emit_id);
    if (m->properties)
        json_object_set(o, "properties", m->properties);
    return o;
}

json_t *api_export_vm_config(const struct api *api)
{
    const struct vm_config *cfg = &api->cfg;
    json_t *j = json_object();
    if (api->boot_source_set)
        json_object_set_new(j, "boot-source", boot_source(cfg));
    json_object_set_new(j, "machine-config", api_export_machine(api));
    json_object_set_new(j, "drives", drives(api));
    json_object_set_new(j, "network-interfaces", nets(cfg));
    if (cfg->npmem)
        json_object_set_new(j, "pmem", api_export_pmem(api));
    if (cfg->memhp.total_bytes)
        json_object_set_new(j, "memory-hotplug",
                            json_pack("{s:I, s:I, s:I}", "total_size_mib",
                                      (json_int_t)(cfg->memhp.total_bytes / MiB), "slot_size_mib",
                                      (json_int_t)(cfg->memhp.slot_bytes / MiB), "block_size_mib",
                                      (json_int_t)(cfg->memhp.block_bytes / MiB)));
    if (cfg->vsock.enabled)
        json_object_set_new(j, "vsock",
                            json_pack("{s:I, s:s}", "guest_cid", (json_int_t)cfg->vsock.guest_cid,
                                      "uds_path", cfg->vsock.uds_path));
    if (cfg->entropy) {
        json_t *e = json_object();
        api_export_rate_limiter(e, "rate_limiter", &cfg->entropy_rate_limiter);
        json_object_set_new(j, "entropy", e);
    }
    if (cfg->mmds.enabled)
        json_object_set_new(j, "mmds-config", api_export_mmds_config(api));
    json_t *balloon = api_export_balloon(api);
    if (balloon)
        json_object_set_new(j, "balloon", balloon);
    if (api->logger.set)
        json_object_set_new(j, "logger", logger(&api->logger));
    if (api->metrics.set)
        json_object_set_new(j, "metrics", metrics(&api->metrics));
    if (api->cpu_config)
        json_object_set(j, "cpu-config", api->cpu_config);
    /* a truce extension: which virtio transport the VM uses (MMIO unless --enable-pci, as
     * Firecracker; `truce run --transport`). Absent sections are left out, as the spec has them. */
    json_object_set_new(j, "virtio-transport",
                        json_string(api->cfg.transport == TRANSPORT_MMIO ? "mmio" : "pci"));
    return j;
}
