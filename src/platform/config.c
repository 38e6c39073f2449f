/* config.c — struct vm_config: defaults, option-value parsers and the one validation path. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "platform/config.h"
#include "util/modlist.h"
#include "util/util.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)

_Static_assert(CFG_VSOCK_PATH_MAX + sizeof("_4294967295") ==
                   sizeof(((struct sockaddr_un *)0)->sun_path),
               "room for \"_<port>\" after the vsock uds_path");
_Static_assert(sizeof(((struct vsock_config *)0)->uds_path) > CFG_VSOCK_PATH_MAX,
               "uds_path holds it");

const char *config_tap_name_error(const char *name)
{
    size_t n = strlen(name);
    if (!n || n >= IFNAMSIZ)
        return "an interface name is 1 to 15 characters";
    if (!strcmp(name, ".") || !strcmp(name, ".."))
        return "'.' and '..' are not interface names";
    for (const char *p = name; *p; p++)
        if (!isgraph((unsigned char)*p) || (unsigned char)*p > 0x7e || strchr("/:%", *p))
            return "an interface name has no '/', ':', '%', spaces or control characters";
    return NULL;
}

const char *config_vsock_path_error(const char *path)
{
    size_t n = strlen(path);
    if (!n)
        return "must not be empty";
    if (n > CFG_VSOCK_PATH_MAX)
        return "longer than 96 characters (host connections to guest port P use "
               "\"<path>_<P>\", which must fit a UNIX socket address)";
    return NULL;
}

void config_defaults(struct vm_config *cfg)
{
    mem_zero(cfg, sizeof(*cfg)); /* most of it (paths of devices not asked for) stays unbacked */
    snprintf(cfg->vm_id, sizeof(cfg->vm_id), "truce-%d", (int)getpid());
    cfg->cpus = 1;
    cfg->mem_bytes = 128 * MiB;
    cfg->console = CONSOLE_STDIO;
}

int config_parse_kv(const char *spec, const char *opt, config_kv_fn fn, void *ctx, char *err,
                    size_t errlen)
{
    char buf[PATH_MAX + 256];
    if (str_copy(buf, sizeof(buf), spec))
        return ERR("%s: value too long", opt);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        const char *val = "";
        if (eq) {
            *eq = '\0';
            val = eq + 1;
        }
        int rc = fn(ctx, tok, val, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

int config_parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes"))
        *out = true;
    else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no"))
        *out = false;
    else
        return -EINVAL;
    return 0;
}

/* The id=V of option OPT ("--disk") into ID of IDLEN bytes. Returns 0 or -EINVAL with ERR. */
static int parse_id(const char *opt, const char *v, char *id, size_t idlen, char *err,
                    size_t errlen)
{
    if (!*v || str_copy(id, idlen, v))
        return ERR("%s: id=%s: 1 to %zu characters", opt, v, idlen - 1);
    return 0;
}

int config_parse_queues(const char *opt, const char *v, unsigned max, uint8_t *out, char *err,
                        size_t errlen)
{
    char *end;
    unsigned long q = strtoul(v, &end, 10);
    if (!*v || *end || q < 1 || q > max)
        return ERR("%s: queues=%s: expected a count from 1 to %u (at most one per vCPU)", opt, v,
                   max);
    *out = (uint8_t)q;
    return 0;
}

static int disk_kv(void *ctx, const char *k, const char *v, char *err, size_t errlen)
{
    struct disk_config *d = ctx;
    if (!strcmp(k, "path") || (!*v && !d->path[0] && strcmp(k, "readonly"))) {
        if (str_copy(d->path, sizeof(d->path), *v ? v : k))
            return ERR("--disk: path too long");
    } else if (!strcmp(k, "readonly") || !strcmp(k, "ro")) {
        if (config_parse_bool(*v ? v : "on", &d->readonly))
            return ERR("--disk: readonly=%s: expected on or off", v);
    } else if (!strcmp(k, "serial")) {
        if (str_copy(d->serial, sizeof(d->serial), v))
            return ERR("--disk: serial=%s: at most %d characters", v, CFG_SERIAL_LEN - 1);
    } else if (!strcmp(k, "id")) {
        return parse_id("--disk", v, d->id, sizeof(d->id), err, errlen);
    } else if (!strcmp(k, "root")) {
        if (config_parse_bool(*v ? v : "on", &d->is_root))
            return ERR("--disk: root=%s: expected on or off", v);
    } else if (!strcmp(k, "direct")) {
        if (config_parse_bool(*v ? v : "on", &d->direct))
            return ERR("--disk: direct=%s: expected on or off", v);
    } else if (!strcmp(k, "queues")) {
        return config_parse_queues("--disk", v, CFG_MAX_QUEUES, &d->queues, err, errlen);
    } else if (!strcmp(k, "if")) {
        if (!strcmp(v, "virtio"))
            d->iface = DISK_IF_VIRTIO;
        else if (!strcmp(v, "ahci"))
            d->iface = DISK_IF_AHCI;
        else
            return ERR("--disk: if=%s: expected virtio or ahci", v);
    } else {
        int rc = config_rl_kv(&d->rate_limiter, "--disk", "", k, v, err, errlen);
        if (rc == 0)
            return ERR("--disk: unknown key '%s' (expected path, readonly, serial, id, root, if, "
                       "queues, direct, bw, bw_burst, ops, ops_burst)",
                       k);
        return rc < 0 ? rc : 0;
    }
    return 0;
}

int config_parse_disk(struct vm_config *cfg, const char *spec, char *err, size_t errlen)
{
    if (cfg->ndisks >= CFG_MAX_DISKS)
        return ERR("--disk: at most %d disks", CFG_MAX_DISKS);
    struct disk_config d = {0};
    int rc = config_parse_kv(spec, "--disk", disk_kv, &d, err, errlen);
    if (rc)
        return rc;
    if (!d.path[0])
        return ERR("--disk: missing path=FILE");
    if (d.iface == DISK_IF_AHCI && rl_config_on(&d.rate_limiter))
        return ERR("--disk: bw and ops (rate limits) apply to virtio disks only, not if=ahci");
    if (d.iface == DISK_IF_AHCI && d.queues > 1)
        return ERR("--disk: queues=%u applies to virtio disks only, not if=ahci", d.queues);
    if (!d.id[0])
        snprintf(d.id, sizeof(d.id), "disk%u", cfg->ndisks);
    cfg->disks[cfg->ndisks++] = d;
    return 0;
}

int config_parse_cdrom(struct vm_config *cfg, const char *path, char *err, size_t errlen)
{
    if (cfg->ndisks >= CFG_MAX_DISKS)
        return ERR("--cdrom: at most %d disks and CD-ROM drives", CFG_MAX_DISKS);
    struct disk_config d = {.readonly = true, .iface = DISK_IF_AHCI, .cdrom = true};
    if (!*path || str_copy(d.path, sizeof(d.path), path))
        return ERR("--cdrom: expected the path of an ISO image (at most %d bytes)", PATH_MAX - 1);
    unsigned n = 0;
    for (unsigned i = 0; i < cfg->ndisks; i++)
        n += cfg->disks[i].cdrom;
    snprintf(d.id, sizeof(d.id), "cdrom%u", n);
    cfg->disks[cfg->ndisks++] = d;
    return 0;
}

#define ISO_VD_OFFSET 32768 /* sector 16 of 2048 bytes: the first volume descriptor */

const char *config_iso_error(const char *path, char *errbuf, size_t errlen)
{
    uint8_t vd[7];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(errbuf, errlen, "cannot open: %s", strerror(errno));
        return errbuf;
    }
    ssize_t n = pread(fd, vd, sizeof(vd), ISO_VD_OFFSET);
    close(fd);
    if (n != (ssize_t)sizeof(vd))
        return "not an ISO 9660 image (shorter than 32 KiB + one volume descriptor)";
    if (memcmp(vd + 1, "CD001", 5) || vd[6] != 1)
        return "not an ISO 9660 image (no CD001 volume descriptor at byte 32768)";
    return NULL;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int config_parse_mac(const char *s, uint8_t mac[6])
{
    if (strlen(s) != 17)
        return -EINVAL;
    for (int i = 0; i < 6; i++) {
        int hi = hex_digit(s[i * 3]), lo = hex_digit(s[i * 3 + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && s[i * 3 + 2] != ':'))
            return -EINVAL;
        mac[i] = (uint8_t)(hi << 4 | lo);
    }
    return mac[0] & 1 ? -ERANGE : 0; /* multicast */
}

int config_parse_hostfwd(struct hostfwd *fwd, const char *spec)
{
    char proto[4];
    unsigned hp, gp;
    char tail;
    /* [tcp|udp]::HOSTPORT-:GUESTPORT */
    if (sscanf(spec, "%3[a-z]::%u-:%u%c", proto, &hp, &gp, &tail) != 3)
        return -EINVAL;
    if (strcmp(proto, "tcp") && strcmp(proto, "udp"))
        return -EINVAL;
    if (!hp || hp > 65535 || !gp || gp > 65535)
        return -ERANGE;
    fwd->udp = !strcmp(proto, "udp");
    fwd->host_port = hp;
    fwd->guest_port = gp;
    return 0;
}

/* The network boot keys: tftp=DIR (an existing directory), bootfile=NAME (relative, no ".."),
 * rom=PATH (a readable file, or "off"). */
static int net_boot_kv(struct net_config *n, const char *k, const char *v, char *err, size_t errlen)
{
    struct stat st;
    if (!strcmp(k, "tftp")) {
        if (!*v || stat(v, &st) < 0)
            return ERR("--net: tftp=%s: %s", v, *v ? strerror(errno) : "empty path");
        if (!S_ISDIR(st.st_mode))
            return ERR("--net: tftp=%s: not a directory", v);
        if (strlen(v) >= sizeof(n->tftp))
            return ERR("--net: tftp=%s: path too long", v);
        str_copy(n->tftp, sizeof(n->tftp), v);
    } else if (!strcmp(k, "bootfile")) {
        if (!*v || *v == '/' || strlen(v) >= sizeof(n->bootfile))
            return ERR("--net: bootfile=%s: expected a file name relative to the tftp directory "
                       "(1 to %zu characters)",
                       v, sizeof(n->bootfile) - 1);
        for (const char *p = v; (p = strstr(p, "..")); p += 2)
            if ((p == v || p[-1] == '/') && (p[2] == 0 || p[2] == '/'))
                return ERR("--net: bootfile=%s: '..' is not allowed", v);
        str_copy(n->bootfile, sizeof(n->bootfile), v);
    } else {
        if (strcmp(v, "off") && (!*v || stat(v, &st) < 0))
            return ERR("--net: rom=%s: %s", v, *v ? strerror(errno) : "empty path");
        if (strcmp(v, "off") && !S_ISREG(st.st_mode))
            return ERR("--net: rom=%s: not a regular file", v);
        if (strlen(v) >= sizeof(n->rom))
            return ERR("--net: rom=%s: path too long", v);
        str_copy(n->rom, sizeof(n->rom), v);
    }
    return 0;
}

static int net_kv(void *ctx, const char *k, const char *v, char *err, size_t errlen)
{
    struct net_config *n = ctx;
    if (!strcmp(k, "tap")) {
        n->kind = NET_TAP;
        const char *why = config_tap_name_error(v);
        if (why)
            return ERR("--net: tap=%s: %s", v, why);
        str_copy(n->tap, sizeof(n->tap), v);
    } else if (!strcmp(k, "user") && !*v) {
        n->kind = NET_USER;
    } else if (!strcmp(k, "mac")) {
        if (config_parse_mac(v, n->mac))
            return ERR("--net: mac=%s: expected a unicast xx:xx:xx:xx:xx:xx", v);
        n->mac_set = true;
    } else if (!strcmp(k, "hostfwd")) {
        if (n->nfwd >= CFG_MAX_HOSTFWD)
            return ERR("--net: at most %d hostfwd rules", CFG_MAX_HOSTFWD);
        if (config_parse_hostfwd(&n->fwd[n->nfwd], v))
            return ERR("--net: hostfwd=%s: expected tcp::HOSTPORT-:GUESTPORT", v);
        n->nfwd++;
    } else if (!strcmp(k, "id")) {
        return parse_id("--net", v, n->id, sizeof(n->id), err, errlen);
    } else if (!strcmp(k, "queues")) {
        return config_parse_queues("--net", v, CFG_MAX_NET_PAIRS, &n->queues, err, errlen);
    } else if (!strcmp(k, "vhost")) {
        if (strcmp(v, "on") && strcmp(v, "off"))
            return ERR("--net: vhost=%s: expected on or off", v);
        n->vhost = !strcmp(v, "on");
    } else if (!strcmp(k, "tftp") || !strcmp(k, "bootfile") || !strcmp(k, "rom")) {
        return net_boot_kv(n, k, v, err, errlen);
    } else {
        /* rx_bw, tx_ops_burst...: the receive or transmit limiter's keys */
        int rc = config_rl_kv(&n->rx_rate_limiter, "--net", "rx_", k, v, err, errlen);
        if (rc == 0)
            rc = config_rl_kv(&n->tx_rate_limiter, "--net", "tx_", k, v, err, errlen);
        if (rc == 0)
            return ERR("--net: unknown key '%s' (expected tap=NAME or user, mac, hostfwd, id, "
                       "queues, vhost, tftp, bootfile, rom, rx_bw, rx_ops, tx_bw, tx_ops and their "
                       "_burst)",
                       k);
        return rc < 0 ? rc : 0;
    }
    return 0;
}

int config_net_vhost_error(const struct net_config *n, char *err, size_t errlen)
{
    if (!n->vhost)
        return 0;
    if (n->kind != NET_TAP)
        return ERR("--net %s: vhost=on needs a tap (tap=NAME): user networking runs in truce",
                   n->id);
    if (rl_config_on(&n->rx_rate_limiter) || rl_config_on(&n->tx_rate_limiter))
        return ERR(
            "--net %s: vhost=on moves frames in the host kernel, where truce's rate limiters "
            "cannot see them: drop vhost=on or the rx_/tx_ limits",
            n->id);
    return 0;
}

int config_parse_net(struct vm_config *cfg, const char *spec, char *err, size_t errlen)
{
    if (cfg->nnets >= CFG_MAX_NETS)
        return ERR("--net: at most %d interfaces", CFG_MAX_NETS);
    struct net_config n = {.kind = -1};
    int rc = config_parse_kv(spec, "--net", net_kv, &n, err, errlen);
    if (rc)
        return rc;
    if ((int)n.kind == -1)
        return ERR("--net: say tap=NAME or user");
    if (n.kind == NET_TAP && n.nfwd)
        return ERR("--net: hostfwd needs user networking");
    if (n.kind == NET_USER && n.queues > 1)
        return ERR("--net: queues=%u needs a tap (user networking has one queue pair)", n.queues);
    if (n.kind == NET_TAP && (n.tftp[0] || n.bootfile[0]))
        return ERR("--net: tftp and bootfile need user networking (libslirp's TFTP and DHCP)");
    if (n.bootfile[0] && !n.tftp[0])
        return ERR("--net: bootfile=%s needs tftp=DIR (the directory it is served from)",
                   n.bootfile);
    if (n.bootfile[0]) {
        char path[PATH_MAX + 160];
        snprintf(path, sizeof(path), "%s/%s", n.tftp, n.bootfile);
        if (access(path, R_OK) < 0)
            return ERR("--net: bootfile=%s: %s: %s", n.bootfile, path, strerror(errno));
    }
    if (!n.id[0])
        snprintf(n.id, sizeof(n.id), "net%u", cfg->nnets);
    if ((rc = config_net_vhost_error(&n, err, errlen)))
        return rc;
    cfg->nets[cfg->nnets++] = n;
    return 0;
}

static int vsock_kv(void *ctx, const char *k, const char *v, char *err, size_t errlen)
{
    struct vsock_config *vs = ctx;
    uint64_t cid;
    if (!strcmp(k, "cid")) {
        if (parse_uint(v, 3, UINT32_MAX - 1, &cid))
            return ERR("--vsock: cid=%s: expected a number from 3 to %u", v, UINT32_MAX - 1);
        vs->guest_cid = cid;
    } else if (!strcmp(k, "uds")) {
        const char *why = config_vsock_path_error(v);
        if (why)
            return ERR("--vsock: uds=%s: %s", v, why);
        str_copy(vs->uds_path, sizeof(vs->uds_path), v);
    } else {
        return ERR("--vsock: unknown key '%s' (expected cid, uds)", k);
    }
    return 0;
}

int config_parse_vsock(struct vm_config *cfg, const char *spec, char *err, size_t errlen)
{
    struct vsock_config vs = {0};
    int rc = config_parse_kv(spec, "--vsock", vsock_kv, &vs, err, errlen);
    if (rc)
        return rc;
    if (!vs.guest_cid || !vs.uds_path[0])
        return ERR("--vsock: needs cid=N and uds=PATH");
    vs.enabled = true;
    cfg->vsock = vs;
    return 0;
}

int config_parse_console(struct vm_config *cfg, const char *spec, char *err, size_t errlen)
{
    if (!strcmp(spec, "stdio"))
        cfg->console = CONSOLE_STDIO;
    else if (!strcmp(spec, "none"))
        cfg->console = CONSOLE_NONE;
    else if (!strcmp(spec, "virtio"))
        cfg->console = CONSOLE_VIRTIO;
    else if (!strncmp(spec, "file:", 5) && spec[5]) {
        cfg->console = CONSOLE_FILE;
        if (str_copy(cfg->console_path, sizeof(cfg->console_path), spec + 5))
            return ERR("--console: path too long");
    } else
        return ERR("--console: '%s': expected stdio, file:PATH, none or virtio", spec);
    return 0;
}

static int check_file(const char *what, const char *path, int mode, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0 || access(path, mode) < 0)
        return ERR("%s: %s: %s", what, path, strerror(errno));
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        return ERR("%s: %s: not a regular file", what, path);
    return 0;
}

/* --initrd: one file, or (multiboot) a list of modules "PATH [ARGS],..." (util/modlist.h). */
static int check_initrd(const char *spec, char *err, size_t errlen)
{
    char item[PATH_MAX], path[PATH_MAX];
    const char *cur = spec;
    unsigned n = 0;
    int rc;

    if (!modlist_is_list(spec))
        return check_file("--initrd", spec, R_OK, err, errlen);
    while ((rc = modlist_next(&cur, item, sizeof(item))) > 0) {
        if (++n > MODLIST_MAX)
            return ERR("--initrd: more than %d modules", MODLIST_MAX);
        if (modlist_path(item, path, sizeof(path)) < 0)
            return ERR("--initrd: module %u: path too long", n);
        if ((rc = check_file("--initrd", path, R_OK, err, errlen)))
            return rc;
    }
    if (rc < 0)
        return ERR("--initrd: module %u: %s", n + 1,
                   rc == -EINVAL ? "empty, or starts with a space" : "too long");
    return 0;
}

/* AHCI drives: at most one per port; a CD-ROM is read-only with an ISO 9660 image. */
static int validate_ahci(const struct vm_config *cfg, char *err, size_t errlen)
{
    unsigned n = 0;
    char why[128];
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        const struct disk_config *d = &cfg->disks[i];
        if (d->iface > DISK_IF_AHCI)
            return ERR("drive %s: unknown interface %u", d->id, d->iface);
        if (d->cdrom && (d->iface != DISK_IF_AHCI || !d->readonly))
            return ERR("drive %s: a CD-ROM drive is read-only on AHCI", d->id);
        if (d->iface == DISK_IF_AHCI && ++n > CFG_MAX_AHCI)
            return ERR("drive %s: at most %d AHCI disks and CD-ROM drives", d->id, CFG_MAX_AHCI);
        const char *bad = d->cdrom ? config_iso_error(d->path, why, sizeof(why)) : NULL;
        if (bad)
            return ERR("--cdrom: %s: %s", d->path, bad);
    }
    return 0;
}

static int validate_devices(const struct vm_config *cfg, char *err, size_t errlen)
{
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        const struct disk_config *d = &cfg->disks[i];
        int rc = check_file(d->cdrom ? "--cdrom" : "--disk", d->path,
                            d->readonly ? R_OK : R_OK | W_OK, err, errlen);
        if (rc)
            return rc;
        for (unsigned j = 0; j < i; j++)
            if (!strcmp(cfg->disks[j].id, d->id))
                return ERR("drive id '%s' used twice", d->id);
    }
    int rc = validate_ahci(cfg, err, errlen);
    if (rc)
        return rc;
    for (unsigned i = 0; i < cfg->nnets; i++)
        for (unsigned j = 0; j < i; j++)
            if (!strcmp(cfg->nets[j].id, cfg->nets[i].id))
                return ERR("network interface id '%s' used twice", cfg->nets[i].id);
    if (cfg->vsock.enabled && cfg->vsock.guest_cid < 3)
        return ERR("vsock: guest_cid must be 3 or more");
    if (cfg->vsock.enabled && config_vsock_path_error(cfg->vsock.uds_path))
        return ERR("vsock: uds_path %s: %s", cfg->vsock.uds_path,
                   config_vsock_path_error(cfg->vsock.uds_path));
    if (cfg->balloon.enabled && (uint64_t)cfg->balloon.amount_mib * MiB > cfg->mem_bytes)
        return ERR("balloon: amount_mib %u is more than the guest's %llu MiB of memory",
                   cfg->balloon.amount_mib, (unsigned long long)(cfg->mem_bytes / MiB));
    for (unsigned i = 0; i < cfg->nnets; i++)
        if (cfg->nets[i].kind == NET_TAP && config_tap_name_error(cfg->nets[i].tap))
            return ERR("network interface '%s': tap %s: %s", cfg->nets[i].id, cfg->nets[i].tap,
                       config_tap_name_error(cfg->nets[i].tap));
    return 0;
}

int config_validate(const struct vm_config *cfg, char *err, size_t errlen)
{
    if (cfg->cpus < 1 || cfg->cpus > CFG_MAX_CPUS)
        return ERR("--cpus: %u: expected 1 to %d", cfg->cpus, CFG_MAX_CPUS);
    if (cfg->mem_bytes < CFG_MIN_MEM || cfg->mem_bytes > CFG_MAX_MEM)
        return ERR("--memory: expected 16M to 1T, got %llu bytes",
                   (unsigned long long)cfg->mem_bytes);
    if (cfg->thp && cfg->hugepages)
        return ERR("--thp and --hugepages: choose one (transparent or hugetlb huge pages)");
    if (cfg->mem_bytes % (cfg->hugepages ? 2 * MiB : 4 * KiB))
        return ERR("--memory: must be a multiple of %s",
                   cfg->hugepages ? "2 MiB (--hugepages)" : "4 KiB");
    if (!cfg->kernel[0] && !cfg->firmware[0])
        return ERR("--kernel: no kernel given (or --firmware for a raw ROM image)");
    int rc = 0;
    if (cfg->kernel[0])
        rc = check_file("--kernel", cfg->kernel, R_OK, err, errlen);
    if (!rc && cfg->firmware[0])
        rc = check_file("--firmware", cfg->firmware, R_OK, err, errlen);
    if (!rc && cfg->firmware_vars[0]) {
        if (!cfg->firmware[0])
            return ERR("--firmware-vars: needs --firmware ovmf (or an OVMF code image)");
        rc = check_file("--firmware-vars", cfg->firmware_vars, R_OK | W_OK, err, errlen);
    }
    if (!rc && cfg->initrd[0]) {
        if (!cfg->kernel[0])
            return ERR("--initrd: needs --kernel");
        rc = check_initrd(cfg->initrd, err, errlen);
    }
    if (rc)
        return rc;
    if (strlen(cfg->cmdline) >= CFG_CMDLINE_LEN)
        return ERR("--cmdline: longer than %d bytes", CFG_CMDLINE_LEN - 1);
    if ((rc = config_validate_display(&cfg->display, err, errlen)))
        return rc;
    if ((rc = validate_devices(cfg, err, errlen)))
        return rc;
    return config_validate_memdev(cfg, err, errlen);
}
