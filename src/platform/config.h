/* config.h — the one internal VM configuration; CLI flags, config files and the API all fill it. */
#ifndef TRUCE_CONFIG_H
#define TRUCE_CONFIG_H

#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/cpu_template.h"
#include "util/ratelimit.h"

#define CFG_MAX_CPUS         64
#define CFG_MIN_MEM          (16ULL << 20)
#define CFG_MAX_MEM          (1ULL << 40) /* 1 TiB: keeps every gpa inside PVM's 43 bits */
#define CFG_MAX_DISKS        16
#define CFG_MAX_NETS         8
#define CFG_MAX_HOSTFWD      8
#define CFG_MAX_QUEUES       16 /* virtio-blk request queues per disk (and at most the vCPUs) */
#define CFG_MAX_NET_PAIRS    8  /* virtio-net queue pairs per interface (and at most the vCPUs) */
#define CFG_ID_LEN           65 /* ids of 1 to 64 characters, as Firecracker (+ NUL) */
#define CFG_CMDLINE_LEN      4096
#define CFG_FIRMWARE_SEABIOS "/usr/share/seabios/bios-256k.bin"  /* --firmware seabios */
#define CFG_FIRMWARE_OVMF    "/usr/share/OVMF/OVMF_CODE_4M.fd"   /* --firmware ovmf */
#define CFG_LINUXBOOT_ROM    "/usr/share/qemu/linuxboot_dma.bin" /* SeaBIOS + --kernel */
#define CFG_IPXE_ROM         "/usr/lib/ipxe/qemu/pxe-virtio.rom" /* --net ...,bootfile= */
#define CFG_SERIAL_LEN       21 /* virtio-blk serial: 20 bytes + NUL */
#define CFG_MAX_PMEM         8
#define CFG_MAX_HOTPLUG      (1ULL << 40) /* virtio-mem region, at most (like RAM) */

enum console_kind { CONSOLE_STDIO, CONSOLE_FILE, CONSOLE_NONE, CONSOLE_VIRTIO };
enum net_kind { NET_TAP, NET_USER };
/* How virtio devices reach the guest: `truce run` defaults to PCI (--transport), the API and
 * --config-file to MMIO as Firecracker (--enable-pci selects PCI). */
enum virtio_transport { TRANSPORT_PCI, TRANSPORT_MMIO };

/* The controller a disk is on: virtio-blk (default) or the AHCI SATA controller (dev/ahci.c). */
enum disk_iface { DISK_IF_VIRTIO = 0, DISK_IF_AHCI = 1 };
#define CFG_MAX_AHCI 6 /* ports of the AHCI controller (ICH9 has 6) */

struct disk_config {
    char id[CFG_ID_LEN];
    char path[PATH_MAX];
    char serial[CFG_SERIAL_LEN];
    bool readonly;
    bool is_root;  /* Firecracker's is_root_device: adds root=/dev/vdX to the command line */
    uint8_t iface; /* enum disk_iface */
    bool cdrom;    /* an ATAPI CD-ROM drive (AHCI only; read-only, ISO 9660 media) */
    struct rl_config rate_limiter; /* bandwidth and ops buckets; all zero: not limited */
    uint8_t queues; /* virtio-blk request queues, 1..CFG_MAX_QUEUES; 0: the default (1) */
    bool direct;    /* aligned reads and writes bypass the host's page cache (O_DIRECT) */
};

/* A virtio-pmem device: a host file mapped into guest physical memory (Firecracker's Pmem). */
struct pmem_config {
    char id[CFG_ID_LEN];
    char path[PATH_MAX];
    bool readonly; /* mapped read-only: guest writes are refused, the file never changes */
    bool is_root;  /* root_device: adds root=/dev/pmemN (rw, or ro) to the command line */
};

/* The virtio-mem device (Firecracker's MemoryHotplugConfig): total_bytes 0 means none. */
struct memhp_config {
    uint64_t total_bytes;     /* the region: the most that can be plugged */
    uint64_t block_bytes;     /* plug granularity (power of 2, >= 2 MiB) */
    uint64_t slot_bytes;      /* Firecracker's slot size (>= 128 MiB, multiple of the block) */
    uint64_t requested_bytes; /* what the guest is asked to plug (PATCH changes it live) */
};

struct hostfwd {
    bool udp;
    uint16_t host_port;
    uint16_t guest_port;
};

struct net_config {
    char id[CFG_ID_LEN];
    enum net_kind kind;
    char tap[IFNAMSIZ]; /* NET_TAP: interface name */
    uint8_t mac[6];
    bool mac_set; /* false: derived from the VM id and the interface index */
    struct hostfwd fwd[CFG_MAX_HOSTFWD];
    unsigned nfwd;
    struct rl_config rx_rate_limiter, tx_rate_limiter; /* all zero: not limited */
    uint8_t queues; /* queue pairs, 1..CFG_MAX_NET_PAIRS (more than 1: tap only); 0: 1 */
    bool vhost; /* NET_TAP: the data path in the host kernel (/dev/vhost-net, virtio/net_vhost.c) */
    /* the device as it was before VIRTIO_NET_F_GUEST_ANNOUNCE (no control queue on one pair):
     * set only by restoring a snapshot of machine section version < 13, whose state it matches */
    bool no_announce;
    /* network boot (NET_USER): libslirp's TFTP root and the DHCP boot file name (relative to it,
     * no ".."); ROM: the NIC's option ROM for firmware (default CFG_IPXE_ROM when bootfile is
     * set; "off": none). Not kept in snapshots. */
    char tftp[PATH_MAX];
    char bootfile[128];
    char rom[PATH_MAX];
};

/* Longest vsock uds_path: host connections to guest port P go to "<uds_path>_<P>" (P up to 10
 * digits), which must fit a UNIX socket address too. */
#define CFG_VSOCK_PATH_MAX 96 /* sizeof(sun_path) - strlen("_4294967295") - 1 */

struct vsock_config {
    bool enabled;
    uint32_t guest_cid;
    char uds_path[108]; /* sizeof(sun_path) */
};

/* The metadata service (PUT /mmds/config, the config file's mmds-config; src/mmds/). */
struct mmds_config {
    bool enabled;
    uint8_t version;         /* 1 or 2 */
    bool imds_compat;        /* always answer in IMDS format (text/plain) */
    uint32_t ipv4;           /* host byte order; 169.254.169.254 by default */
    uint32_t iface_mask;     /* bit i: nets[i] carries MMDS requests */
    char cli_data[PATH_MAX]; /* `truce run --mmds data=FILE`: the store's contents (not saved) */
};

/* virtio-balloon (Firecracker's Balloon object). amount_mib is the target: PATCH /balloon changes
 * it while the guest runs. */
#define CFG_BALLOON_MAX_STATS_INTERVAL 65535 /* Firecracker's u16 */
struct balloon_config {
    bool enabled;
    uint32_t amount_mib;
    bool deflate_on_oom;
    uint16_t stats_polling_interval_s; /* 0: no statistics queue */
    bool free_page_hinting;
    bool free_page_reporting;
};

/* --display: none (default: no device, nothing mapped), std (the VGA-compatible display only:
 * screenshots through the API), vnc (the display served by a VNC server). */
enum display_kind { DISPLAY_NONE, DISPLAY_STD, DISPLAY_VNC };
/* Where the display's keyboard and pointer input goes: the PS/2 keyboard and (relative) mouse
 * only, or also a virtio keyboard and an absolute virtio tablet (used once their driver is up). */
enum display_input { DISPLAY_INPUT_PS2, DISPLAY_INPUT_VIRTIO };
#define CFG_VRAM_DEFAULT_MIB 16
#define CFG_VRAM_MIN_MIB     4
#define CFG_VRAM_MAX_MIB     64
#define CFG_VNC_ADDR_LEN     108 /* sizeof(sun_path) */

struct display_config {
    enum display_kind kind;
    bool vnc_unix;                   /* vnc: listen on a UNIX socket (vnc_path) */
    char vnc_path[CFG_VNC_ADDR_LEN]; /* unix: the socket path */
    uint32_t vnc_ip;                 /* tcp: IPv4 address, host byte order (default loopback) */
    uint16_t vnc_port;               /* tcp: port */
    char password_file[PATH_MAX];    /* "": no password (VNC auth "None") */
    unsigned vram_mib;               /* framebuffer size, power of 2 (CFG_VRAM_*) */
    enum display_input input;        /* input= (default ps2) */
};

/* The small settings first: with vm_id they share one page, and each path a VM sets backs one
 * more; the rest of the 200 KiB stays unbacked in a VM's copy (mem_copy, bench/footprint.sh). */
struct vm_config {
    char vm_id[CFG_ID_LEN];
    /* machine */
    unsigned cpus;
    uint64_t mem_bytes;
    bool hugepages;
    bool thp; /* --thp: guest RAM advised MADV_HUGEPAGE (Firecracker's huge_pages Transparent) */
    bool smt;
    bool track_dirty; /* dirty page tracking from creation on (Diff snapshots); not saved */
    bool cmdline_set;
    enum console_kind console;
    unsigned ndisks, nnets, npmem;   /* entries used in disks, nets, pmem */
    bool entropy;                    /* virtio-rng */
    bool boot_timer;                 /* --boot-timer: Firecracker's boot-time device */
    enum virtio_transport transport; /* --transport, --enable-pci */
    /* boot source: exactly one of kernel or firmware */
    char kernel[PATH_MAX];
    char initrd[PATH_MAX];
    char firmware[PATH_MAX];
    char firmware_vars[PATH_MAX]; /* OVMF's variable store (read-write); "": a private copy */
    char cmdline[CFG_CMDLINE_LEN];
    /* console */
    char console_path[PATH_MAX];
    /* devices */
    struct disk_config disks[CFG_MAX_DISKS];
    struct net_config nets[CFG_MAX_NETS];
    struct vsock_config vsock;
    struct balloon_config balloon; /* virtio-balloon */
    struct rl_config entropy_rate_limiter;
    struct cpu_template cpu_template; /* PUT /cpu-config, --cpu-template: empty by default */
    struct mmds_config mmds;
    struct pmem_config pmem[CFG_MAX_PMEM]; /* --pmem, PUT /pmem/{id} */
    struct memhp_config memhp;             /* --memory-hotplug, PUT /hotplug/memory */
    struct display_config display;         /* --display, PUT /display */
};

/* Fill CFG with the defaults (1 vCPU, 128 MiB, stdio console, no devices). */
void config_defaults(struct vm_config *cfg);

/* The single validation path. On error writes one line naming the offending field into ERR and
 * returns -EINVAL; checks values and that the files named exist and are readable. */
int config_validate(const struct vm_config *cfg, char *err, size_t errlen);

/* Parse a --disk / --net / --vsock / --console option value into CFG. Each returns 0 or -EINVAL
 * with one line in ERR naming the bad key. Shared by the CLI and tests. */
int config_parse_disk(struct vm_config *cfg, const char *spec, char *err, size_t errlen);
/* queues=V of option OPT: 1..MAX into OUT. Returns 0 or -EINVAL with ERR naming the value. */
int config_parse_queues(const char *opt, const char *v, unsigned max, uint8_t *out, char *err,
                        size_t errlen);
int config_parse_net(struct vm_config *cfg, const char *spec, char *err, size_t errlen);
/* An interface with vhost=on must be a single-pair tap without rate limiters (frames never pass
 * through truce). Returns 0, or -EINVAL with ERR naming the interface and the conflict. */
int config_net_vhost_error(const struct net_config *n, char *err, size_t errlen);
int config_parse_vsock(struct vm_config *cfg, const char *spec, char *err, size_t errlen);
int config_parse_console(struct vm_config *cfg, const char *spec, char *err, size_t errlen);
/* --pmem path=F[,ro=on][,root=on][,id=ID] and --memory-hotplug size=S[,block=S][,slot=S]
 * [,requested=S] (platform/config_mem.c), same contract. */
int config_parse_pmem(struct vm_config *cfg, const char *spec, char *err, size_t errlen);
int config_parse_memhp(struct vm_config *cfg, const char *spec, char *err, size_t errlen);
/* The pmem devices and the hotplug region of CFG: files, ids, one root device, sizes. 0 or
 * -EINVAL with ERR (called by config_validate). */
int config_validate_memdev(const struct vm_config *cfg, char *err, size_t errlen);
/* Check a hotplug configuration (sizes in bytes) by Firecracker's rules. 0 or -EINVAL with one
 * line in ERR naming the size that is wrong. */
int config_check_memhp(const struct memhp_config *m, char *err, size_t errlen);
/* Split "key=value" items separated by commas, calling FN for each; OPT names the option in
 * errors. Returns 0 or FN's first error. */
typedef int (*config_kv_fn)(void *ctx, const char *key, const char *val, char *err, size_t errlen);
int config_parse_kv(const char *spec, const char *opt, config_kv_fn fn, void *ctx, char *err,
                    size_t errlen);
/* "on"/"true"/"1"/"yes" or "off"/"false"/"0"/"no". 0 or -EINVAL. */
int config_parse_bool(const char *v, bool *out);

/* --cdrom PATH: an ATAPI CD-ROM drive on AHCI holding the ISO 9660 image PATH (read-only). */
int config_parse_cdrom(struct vm_config *cfg, const char *path, char *err, size_t errlen);
/* Why the file at PATH cannot be CD media (NULL: it is an ISO 9660 image: the volume descriptor
 * signature "CD001" at byte 32769). ERRBUF holds an errno message when opening fails. */
const char *config_iso_error(const char *path, char *errbuf, size_t errlen);
/* --balloon amount_mib=N[,deflate_on_oom=on][,stats_polling_interval_s=N]
 * [,free_page_hinting=on][,free_page_reporting=on] */
int config_parse_balloon(struct vm_config *cfg, const char *spec, char *err, size_t errlen);
/* The rate limiter keys of option OPT (config_rl.c), each after PREFIX ("", "rx_", "tx_"):
 * bw=SIZE[/MS] (SIZE bytes every MS ms, default 1000), bw_burst=SIZE, ops=N[/MS], ops_burst=N
 * into R. Returns 1 (K was one of them), 0 (it was not) or -EINVAL with ERR naming OPT and K. */
int config_rl_kv(struct rl_config *r, const char *opt, const char *prefix, const char *k,
                 const char *v, char *err, size_t errlen);
/* Parse the value of --rng (may be empty: no limit) into CFG: entropy on, with its limiter. */
int config_parse_rng(struct vm_config *cfg, const char *spec, char *err, size_t errlen);
/* Parse a --display value (platform/display_config.c): "none", "std[,vram=MIB]" or
 * "vnc=unix:PATH|vnc=[IP]:PORT[,password=FILE][,vram=MIB]". Returns 0 or -EINVAL with ERR. */
int config_parse_display(struct display_config *d, const char *spec, char *err, size_t errlen);
/* Check D (the password file is readable and not empty). Returns 0 or -EINVAL with ERR. */
int config_validate_display(const struct display_config *d, char *err, size_t errlen);
/* Parse a MAC "xx:xx:xx:xx:xx:xx" (exactly). Returns 0, -EINVAL (format) or -ERANGE (a multicast
 * address, unusable for an interface). */
int config_parse_mac(const char *s, uint8_t mac[6]);
/* Why NAME cannot name a tap interface (NULL: it can): 1 to IFNAMSIZ-1 printable characters,
 * not "." or "..", none of '/', ':' (the kernel refuses them) or '%' (TUNSETIFF would take the
 * name as a pattern and create an interface with another name). */
const char *config_tap_name_error(const char *name);
/* Why PATH cannot be a vsock uds_path (NULL: it can): 1 to CFG_VSOCK_PATH_MAX characters. */
const char *config_vsock_path_error(const char *path);
/* Parse "tcp::HOSTPORT-:GUESTPORT" or "udp::..." (QEMU's hostfwd form). */
int config_parse_hostfwd(struct hostfwd *fwd, const char *spec);

#endif
