/* sections_dev.c — drive, network-interface, vsock, entropy and serial objects into the config. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/api_int.h"

const char *const api_io_engines[] = {"Sync", "Async", NULL};
const char *const api_cache_types[] = {"Unsafe", "Writeback", NULL};
/* truce extensions of a drive: its controller and kind */
const char *const api_drive_ifaces[] = {"virtio", "ahci", NULL};
const char *const api_drive_media[] = {"disk", "cdrom", NULL};

/* Firecracker's id rule: 1..63 characters of [A-Za-z0-9_]. */
int api_check_id(const struct jctx *c, const char *field, const char *id, const char *path_id)
{
    if (!id[0])
        return jfail(c, field, "must not be empty");
    for (const char *p = id; *p; p++) {
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '_';
        if (!ok)
            return jfail(c, field, "'%s' may only contain letters, digits and _", id);
    }
    return api_check_path_id(c, field, id, path_id);
}

int api_check_path_id(const struct jctx *c, const char *field, const char *id, const char *path_id)
{
    if (path_id && strcmp(id, path_id))
        return jfail(c, field, "'%s' does not match the id in the path ('%s')", id, path_id);
    return 0;
}

/* Index of the disk with ID, or -1. */
static int find_disk(const struct vm_config *cfg, const char *id)
{
    for (unsigned i = 0; i < cfg->ndisks; i++)
        if (!strcmp(cfg->disks[i].id, id))
            return (int)i;
    return -1;
}

/* Put D (with its extra) at index I; a root device moves to the front (it becomes vda). */
static void store_disk(struct api *api, int i, const struct disk_config *d,
                       const struct api_drive_extra *x)
{
    struct vm_config *cfg = &api->cfg;
    if (i < 0)
        i = (int)cfg->ndisks++;
    cfg->disks[i] = *d;
    api->drive_extra[i] = *x;
    if (!d->is_root || i == 0)
        return;
    memmove(&cfg->disks[1], &cfg->disks[0], (size_t)i * sizeof(cfg->disks[0]));
    memmove(&api->drive_extra[1], &api->drive_extra[0], (size_t)i * sizeof(api->drive_extra[0]));
    cfg->disks[0] = *d;
    api->drive_extra[0] = *x;
}

int api_put_drive(struct api *api, const json_t *o, const char *id, struct jctx *c)
{
    static const char *const fields[] = {
        "drive_id",     "partuuid",     "is_root_device", "cache_type", "is_read_only",
        "path_on_host", "rate_limiter", "io_engine",      "socket",     "interface",
        "media",        "num_queues",   "direct",         NULL};
    struct disk_config d = {0};
    struct api_drive_extra x = {0};
    char partuuid[64], sock[108];
    bool have_part, have_sock;
    int iface = DISK_IF_VIRTIO, media = 0;
    uint64_t nq = 1;
    if (jobject(c, o, fields) < 0 ||
        juint(c, o, "num_queues", false, 1, CFG_MAX_QUEUES, &nq, NULL) < 0 ||
        jstring(c, o, "drive_id", true, d.id, sizeof(d.id), NULL) < 0 ||
        api_check_id(c, "drive_id", d.id, id) < 0 ||
        jbool(c, o, "is_root_device", true, &d.is_root, NULL) < 0 ||
        jbool(c, o, "is_read_only", false, &d.readonly, NULL) < 0 ||
        jbool(c, o, "direct", false, &d.direct, NULL) < 0 ||
        jstring(c, o, "partuuid", false, partuuid, sizeof(partuuid), &have_part) < 0 ||
        jstring(c, o, "socket", false, sock, sizeof(sock), &have_sock) < 0 ||
        jenum(c, o, "cache_type", false, api_cache_types, &x.cache_type, NULL) < 0 ||
        jenum(c, o, "io_engine", false, api_io_engines, &x.io_engine, NULL) < 0 ||
        jenum(c, o, "interface", false, api_drive_ifaces, &iface, NULL) < 0 ||
        jenum(c, o, "media", false, api_drive_media, &media, NULL) < 0 ||
        api_rate_limiter(c, o, "rate_limiter", &d.rate_limiter, NULL, NULL) < 0)
        return -EINVAL;
    if (have_sock)
        return jfail(c, "socket", "not supported yet: vhost-user-block");
    if (have_part)
        return jfail(c, "partuuid", "not supported yet: root by partition UUID");
    if (x.cache_type == 1)
        return jfail(c, "cache_type", "not supported yet: Writeback");
    if (jstring(c, o, "path_on_host", true, d.path, sizeof(d.path), NULL) < 0)
        return -EINVAL;
    d.iface = (uint8_t)iface;
    d.cdrom = media == 1;
    d.queues = nq > 1 ? (uint8_t)nq : 0;
    if (d.iface == DISK_IF_AHCI && nq > 1)
        return jfail(c, "num_queues", "virtio drives only (\"interface\": \"virtio\")");
    if (d.cdrom && (d.iface != DISK_IF_AHCI || !d.readonly))
        return jfail(c, "media",
                     "a cdrom is read-only on AHCI (\"interface\": \"ahci\", "
                     "\"is_read_only\": true)");
    if (d.iface == DISK_IF_AHCI && rl_config_on(&d.rate_limiter))
        return jfail(c, "rate_limiter", "not supported yet on AHCI drives");
    char why[128];
    const char *bad = d.cdrom ? config_iso_error(d.path, why, sizeof(why)) : NULL;
    if (bad)
        return jfail(c, "path_on_host", "'%s': %s", d.path, bad);
    if (access(d.path, R_OK | (d.readonly ? 0 : W_OK)) < 0)
        return jfail(c, "path_on_host", "cannot open '%s' for %s: %s", d.path,
                     d.readonly ? "reading" : "reading and writing", strerror(errno));
    struct vm_config *cfg = &api->cfg;
    int i = find_disk(cfg, d.id);
    for (unsigned j = 0; d.is_root && j < cfg->ndisks; j++)
        if ((int)j != i && cfg->disks[j].is_root)
            return jfail(c, "is_root_device", "a root device already exists (drive '%s')",
                         cfg->disks[j].id);
    if (i < 0 && cfg->ndisks >= CFG_MAX_DISKS)
        return jfail(c, "drive_id", "too many drives (at most %d)", CFG_MAX_DISKS);
    store_disk(api, i, &d, &x);
    return 0;
}

int api_put_net(struct api *api, const json_t *o, const char *id, struct jctx *c)
{
    static const char *const fields[] = {
        "iface_id",        "host_dev_name",   "guest_mac", "mtu", "rx_rate_limiter",
        "tx_rate_limiter", "num_queue_pairs", "vhost",     NULL};
    struct net_config n = {.kind = NET_TAP};
    char mac[32];
    uint64_t mtu, pairs = 1;
    bool have_mtu;
    if (jobject(c, o, fields) < 0 ||
        juint(c, o, "num_queue_pairs", false, 1, CFG_MAX_NET_PAIRS, &pairs, NULL) < 0 ||
        jbool(c, o, "vhost", false, &n.vhost, NULL) < 0 ||
        jstring(c, o, "iface_id", true, n.id, sizeof(n.id), NULL) < 0 ||
        api_check_id(c, "iface_id", n.id, id) < 0 ||
        jstring(c, o, "host_dev_name", true, n.tap, sizeof(n.tap), NULL) < 0 ||
        jstring(c, o, "guest_mac", false, mac, sizeof(mac), &n.mac_set) < 0 ||
        juint(c, o, "mtu", false, 68, 65535, &mtu, &have_mtu) < 0 ||
        api_rate_limiter(c, o, "rx_rate_limiter", &n.rx_rate_limiter, NULL, NULL) < 0 ||
        api_rate_limiter(c, o, "tx_rate_limiter", &n.tx_rate_limiter, NULL, NULL) < 0)
        return -EINVAL;
    const char *why = config_tap_name_error(n.tap);
    if (why)
        return jfail(c, "host_dev_name", "'%s': %s", n.tap, why);
    int mrc = n.mac_set ? config_parse_mac(mac, n.mac) : 0;
    if (mrc == -EINVAL)
        return jfail(c, "guest_mac", "'%s' is not a MAC address like 06:00:ac:10:00:02", mac);
    if (mrc == -ERANGE)
        return jfail(c, "guest_mac", "'%s' is a multicast address", mac);
    if (have_mtu)
        return jfail(c, "mtu", "not supported yet: advertising an MTU");
    n.queues = pairs > 1 ? (uint8_t)pairs : 0;
    char why_vhost[160];
    if (config_net_vhost_error(&n, why_vhost, sizeof(why_vhost)))
        return jfail(c, "vhost", "%s", why_vhost);
    struct vm_config *cfg = &api->cfg;
    int i = -1;
    for (unsigned j = 0; j < cfg->nnets; j++) {
        if (!strcmp(cfg->nets[j].id, n.id)) {
            i = (int)j;
            continue;
        }
        if (!strcmp(cfg->nets[j].tap, n.tap))
            return jfail(c, "host_dev_name", "'%s' is already used by interface '%s'", n.tap,
                         cfg->nets[j].id);
        if (n.mac_set && cfg->nets[j].mac_set && !memcmp(cfg->nets[j].mac, n.mac, 6))
            return jfail(c, "guest_mac", "'%s' is already used by interface '%s'", mac,
                         cfg->nets[j].id);
    }
    if (i < 0 && cfg->nnets >= CFG_MAX_NETS)
        return jfail(c, "iface_id", "too many network interfaces (at most %d)", CFG_MAX_NETS);
    if (i < 0)
        i = (int)cfg->nnets++;
    cfg->nets[i] = n;
    return 0;
}

int api_put_vsock(struct api *api, const json_t *o, struct jctx *c)
{
    static const char *const fields[] = {"guest_cid", "uds_path", "vsock_id", NULL};
    struct vsock_config v = {.enabled = true};
    uint64_t cid;
    char old_id[CFG_ID_LEN];
    if (jobject(c, o, fields) < 0 ||
        juint(c, o, "guest_cid", true, 3, UINT32_MAX - 1, &cid, NULL) < 0 ||
        jstring(c, o, "uds_path", true, v.uds_path, sizeof(v.uds_path), NULL) < 0 ||
        jstring(c, o, "vsock_id", false, old_id, sizeof(old_id), NULL) < 0)
        return -EINVAL;
    const char *why = config_vsock_path_error(v.uds_path);
    if (why)
        return jfail(c, "uds_path", "%s", why);
    v.guest_cid = (uint32_t)cid;
    api->cfg.vsock = v;
    return 0;
}

int api_put_entropy(struct api *api, const json_t *o, struct jctx *c)
{
    static const char *const fields[] = {"rate_limiter", NULL};
    struct rl_config rl;
    if (jobject(c, o, fields) < 0 || api_rate_limiter(c, o, "rate_limiter", &rl, NULL, NULL) < 0)
        return -EINVAL;
    api->cfg.entropy = true;
    api->cfg.entropy_rate_limiter = rl;
    return 0;
}

int api_put_serial(struct api *api, const json_t *o, struct jctx *c)
{
    static const char *const fields[] = {"serial_out_path", "rate_limiter", NULL};
    char path[PATH_MAX];
    bool have_path, have_rl;
    struct tb_config rl;
    if (jobject(c, o, fields) < 0 ||
        jstring(c, o, "serial_out_path", false, path, sizeof(path), &have_path) < 0 ||
        api_token_bucket(c, o, "rate_limiter", &rl, &have_rl) < 0)
        return -EINVAL;
    if (have_rl)
        return jfail(c, "rate_limiter", "not supported yet: serial rate limiting");
    if (have_path && !path[0])
        return jfail(c, "serial_out_path", "must not be empty");
    if (have_path) {
        api->cfg.console = CONSOLE_FILE;
        memcpy(api->cfg.console_path, path, sizeof(path));
    } else {
        api->cfg.console = CONSOLE_STDIO;
        api->cfg.console_path[0] = '\0';
    }
    return 0;
}
