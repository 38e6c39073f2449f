/* cli.c — `truce run` flags into struct vm_config, `truce check`, help and version. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "machine/migrate.h"
#include "machine/snapshot.h"
#include "machine/machine.h"
#include "mmds/mmds.h"
#include "sandbox/jail.h"
#include "sandbox/sandbox.h"
#include "util/util.h"
#include "vm/vm.h"

enum {
    OPT_KERNEL = 256,
    OPT_INITRD,
    OPT_CMDLINE,
    OPT_CPUS,
    OPT_MEMORY,
    OPT_CONSOLE,
    OPT_FIRMWARE,
    OPT_FIRMWARE_VARS,
    OPT_HUGEPAGES,
    OPT_THP,
    OPT_DISK,
    OPT_CDROM,
    OPT_NET,
    OPT_VSOCK,
    OPT_RNG,
    OPT_CPU_TEMPLATE,
    OPT_ID,
    OPT_LOG_LEVEL,
    OPT_HELP,
    OPT_TRANSPORT,
    OPT_NO_SECCOMP,
    OPT_SECCOMP_FILTER,
    OPT_PMEM,
    OPT_MEMHP,
    OPT_BALLOON,
    OPT_MMDS,
    OPT_DISPLAY,
};

static const struct option run_opts[] = {
    {"kernel", required_argument, 0, OPT_KERNEL},
    {"initrd", required_argument, 0, OPT_INITRD},
    {"cmdline", required_argument, 0, OPT_CMDLINE},
    {"cpus", required_argument, 0, OPT_CPUS},
    {"memory", required_argument, 0, OPT_MEMORY},
    {"console", required_argument, 0, OPT_CONSOLE},
    {"firmware", required_argument, 0, OPT_FIRMWARE},
    {"firmware-vars", required_argument, 0, OPT_FIRMWARE_VARS},
    {"hugepages", no_argument, 0, OPT_HUGEPAGES},
    {"thp", required_argument, 0, OPT_THP},
    {"disk", required_argument, 0, OPT_DISK},
    {"cdrom", required_argument, 0, OPT_CDROM},
    {"net", required_argument, 0, OPT_NET},
    {"vsock", required_argument, 0, OPT_VSOCK},
    {"rng", optional_argument, 0, OPT_RNG},
    {"cpu-template", required_argument, 0, OPT_CPU_TEMPLATE},
    {"id", required_argument, 0, OPT_ID},
    {"log-level", required_argument, 0, OPT_LOG_LEVEL},
    {"help", no_argument, 0, OPT_HELP},
    {"transport", required_argument, 0, OPT_TRANSPORT},
    {"no-seccomp", no_argument, 0, OPT_NO_SECCOMP},
    {"seccomp-filter", required_argument, 0, OPT_SECCOMP_FILTER},
    {"pmem", required_argument, 0, OPT_PMEM},
    {"memory-hotplug", required_argument, 0, OPT_MEMHP},
    {"balloon", required_argument, 0, OPT_BALLOON},
    {"mmds", required_argument, 0, OPT_MMDS},
    {"display", required_argument, 0, OPT_DISPLAY},
    {0, 0, 0, 0},
};

void cli_usage(FILE *out)
{
    fprintf(
        out,
        "usage: truce run --kernel PATH [options]    boot a VM on this terminal\n"
        "       truce restore --snapshot F --mem F [options]  resume a snapshot on this terminal\n"
        "       truce migrate-receive --listen URL [options]  run a VM migrated here\n"
        "       truce snapshot-rebase --base-mem F --diff-mem D  merge a Diff snapshot's memory\n"
        "       truce check                          what /dev/kvm offers here\n"
        "       truce jail --id ID --exec-file PATH --uid N --gid N [...] [-- ARGS]\n"
        "                                            run a binary in a Firecracker-style jail\n"
        "       truce seccomp dump                   the built-in seccomp lists\n"
        "       truce screenshot --api-sock PATH -o F.png   the screen of a VM with --display\n"
        "       truce --api-sock PATH [--config-file FILE] [--no-api]\n"
        "                                            Firecracker-compatible API server\n"
        "       truce --help | --version\n"
        "\n"
        "run options:\n"
        "  --kernel PATH        bzImage (64-bit boot protocol), ELF vmlinux with a PVH note,\n"
        "                       or a multiboot v1 kernel (ELF or a.out kludge)\n"
        "  --firmware PATH      firmware: \"seabios\" (Debian's SeaBIOS), \"ovmf\" (Debian's\n"
        "                       UEFI, OVMF_CODE_4M.fd), a BIOS ROM or an OVMF image; with\n"
        "                       --kernel the kernel goes to it by fw_cfg\n"
        "  --firmware-vars FILE OVMF's UEFI variable store, kept across boots (a copy of\n"
        "                       /usr/share/OVMF/OVMF_VARS_4M.fd); default: a private copy\n"
        "  --initrd PATH        initial ramdisk; multiboot: modules \"PATH [ARGS],PATH...\"\n"
        "  --cmdline STR        kernel command line (default: console=ttyS0)\n"
        "  --cpus N             vCPUs, 1 to %d (default 1)\n"
        "  --memory SIZE        guest RAM, 16M to 1T, e.g. 512M, 4G (default 128M)\n"
        "  --hugepages          back guest RAM with 2 MiB huge pages\n"
        "  --thp on|off         transparent huge pages for guest RAM (MADV_HUGEPAGE; default\n"
        "                       on where the host's THP policy is madvise or always, off\n"
        "                       with --hugepages or --balloon)\n"
        "  --console KIND       stdio (default) | file:PATH | none | virtio\n"
        "  --disk SPEC          path=FILE[,readonly=on][,serial=ID][,id=ID][,root=on]\n"
        "                       [,if=virtio|ahci][,bw=SIZE[/MS]][,ops=N[/MS]][,bw_burst=SIZE]\n"
        "                       [,ops_burst=N][,queues=N] (repeat; N: 1 to one per vCPU, max 16)\n"
        "                       [,direct=on] (aligned I/O past the host's page cache)\n"
        "  --cdrom PATH         ISO 9660 image in an ATAPI CD-ROM drive on AHCI (repeat)\n"
        "  --net SPEC           tap=NAME[,mac=MAC][,queues=N][,vhost=on] (N queue pairs: 1 to one\n"
        "                       per vCPU, max 8; vhost: the data path in the host kernel)\n"
        "                       | user[,hostfwd=tcp::HP-:GP][,mac=MAC]\n"
        "                       [,tftp=DIR,bootfile=NAME][,rom=PATH|off] (network boot)\n"
        "                       [,rx_bw=..][,rx_ops=..][,tx_bw=..][,tx_ops=..][,*_burst=..]\n"
        "  --vsock SPEC         cid=N,uds=PATH\n"
        "  --rng[=LIMITS]       virtio-rng entropy device; LIMITS bw=SIZE[/MS],ops=N[/MS]\n"
        "                       (rate limits: SIZE bytes / N requests every MS ms, default 1000)\n"
        "  --pmem SPEC          path=FILE[,ro=on][,root=on][,id=ID]: virtio-pmem (repeat)\n"
        "  --memory-hotplug SPEC size=SIZE[,block=2M][,slot=128M][,requested=SIZE]: virtio-mem\n"
        "  --balloon SPEC       amount_mib=N[,deflate_on_oom=on][,stats_polling_interval_s=N]\n"
        "                       [,free_page_hinting=on][,free_page_reporting=on] (virtio-balloon)\n"
        "  --mmds SPEC          metadata service on every --net: [version=V1|V2][,ipv4=ADDR]\n"
        "                       [,imds_compat=on][,data=FILE] (JSON contents)\n"
        "  --display SPEC       none (default) | std | vnc=unix:PATH | vnc=[IP]:PORT\n"
        "                       [,password=FILE][,vram=MIB]: std VGA display (+ VNC server)\n"
        "  --transport KIND     virtio over pci (default) | mmio (virtio_mmio.device= added)\n"
        "  --cpu-template FILE  custom CPU template (Firecracker's CpuConfig JSON)\n"
        "  --id ID              VM id (default truce-PID)\n"
        "  --log-level LEVEL    error | warning | info | debug (default "
        "warning)\n" SANDBOX_FLAGS_HELP "\n"
        "On the console, Ctrl-A x quits and Ctrl-A Ctrl-A sends Ctrl-A.\n"
        "Exit status: 0 poweroff, 2 bad usage/input, 4 host error, 6 guest reboot,\n"
        "8 triple fault, 10 all vCPUs halted with interrupts off, 12 guest panic,\n"
        "14 guest broke the exit policy, 16 stopped by a signal or Ctrl-A x,\n"
        "18 a thread made a syscall its seccomp list forbids,\n"
        "odd N = debug-exit port 0xf4 written with (N - 1) / 2.\n",
        CFG_MAX_CPUS);
}

static bool thp_given; /* --thp was on the command line */

static int parse_one(struct vm_config *cfg, int opt, const char *arg, char *err, size_t errlen)
{
    uint64_t v;
    int rc = 0;
    switch (opt) {
    case OPT_KERNEL:
    case OPT_INITRD:
    case OPT_FIRMWARE:
    case OPT_FIRMWARE_VARS: {
        char *dst = opt == OPT_KERNEL     ? cfg->kernel
                    : opt == OPT_INITRD   ? cfg->initrd
                    : opt == OPT_FIRMWARE ? cfg->firmware
                                          : cfg->firmware_vars;
        if (opt == OPT_FIRMWARE && !strcmp(arg, "seabios"))
            arg = CFG_FIRMWARE_SEABIOS;
        if (opt == OPT_FIRMWARE && !strcmp(arg, "ovmf"))
            arg = CFG_FIRMWARE_OVMF;
        if (str_copy(dst, PATH_MAX, arg))
            return snprintf(err, errlen, "path too long: %s", arg), -EINVAL;
        return 0;
    }
    case OPT_CMDLINE:
        if (str_copy(cfg->cmdline, sizeof(cfg->cmdline), arg))
            return snprintf(err, errlen, "--cmdline: longer than %d bytes", CFG_CMDLINE_LEN - 1),
                   -EINVAL;
        cfg->cmdline_set = true;
        return 0;
    case OPT_CPUS:
        if (parse_uint(arg, 1, CFG_MAX_CPUS, &v))
            return snprintf(err, errlen, "--cpus: '%s' is not a number from 1 to %d", arg,
                            CFG_MAX_CPUS),
                   -EINVAL;
        cfg->cpus = v;
        return 0;
    case OPT_MEMORY:
        if (parse_size(arg, &v))
            return snprintf(err, errlen, "--memory: '%s' is not a size (e.g. 512M, 2G)", arg),
                   -EINVAL;
        cfg->mem_bytes = v;
        return 0;
    case OPT_HUGEPAGES:
        cfg->hugepages = true;
        return 0;
    case OPT_THP:
        if (config_parse_bool(arg, &cfg->thp))
            return snprintf(err, errlen, "--thp: '%s': expected on or off", arg), -EINVAL;
        thp_given = true;
        return 0;
    case OPT_CONSOLE:
        return config_parse_console(cfg, arg, err, errlen);
    case OPT_DISK:
        return config_parse_disk(cfg, arg, err, errlen);
    case OPT_CDROM:
        return config_parse_cdrom(cfg, arg, err, errlen);
    case OPT_NET:
        return config_parse_net(cfg, arg, err, errlen);
    case OPT_VSOCK:
        return config_parse_vsock(cfg, arg, err, errlen);
    case OPT_PMEM:
        return config_parse_pmem(cfg, arg, err, errlen);
    case OPT_MEMHP:
        return config_parse_memhp(cfg, arg, err, errlen);
    case OPT_RNG:
        return config_parse_rng(cfg, arg, err, errlen);
    case OPT_BALLOON:
        return config_parse_balloon(cfg, arg, err, errlen);
    case OPT_MMDS:
        return cli_parse_mmds(cfg, arg, err, errlen);
    case OPT_DISPLAY:
        return config_parse_display(&cfg->display, arg, err, errlen);
    case OPT_TRANSPORT:
        if (strcmp(arg, "pci") && strcmp(arg, "mmio"))
            return snprintf(err, errlen, "--transport: '%s': expected pci or mmio", arg), -EINVAL;
        cfg->transport = strcmp(arg, "mmio") ? TRANSPORT_PCI : TRANSPORT_MMIO;
        return 0;
    case OPT_CPU_TEMPLATE:
        return cli_load_cpu_template(arg, &cfg->cpu_template, err, errlen);
    case OPT_NO_SECCOMP:
    case OPT_SECCOMP_FILTER:
        rc = sandbox_parse_flag(opt == OPT_NO_SECCOMP ? "--no-seccomp" : "--seccomp-filter", arg,
                                err, errlen);
        return rc < 0 ? -EINVAL : 0; /* the contract: bad input is -EINVAL, ERR says why */
    case OPT_ID:
        if (!*arg || str_copy(cfg->vm_id, sizeof(cfg->vm_id), arg))
            return snprintf(err, errlen, "--id: 1 to %d characters", CFG_ID_LEN - 1), -EINVAL;
        return 0;
    case OPT_LOG_LEVEL: {
        enum log_level lvl;
        if (log_level_parse(arg, &lvl))
            return snprintf(err, errlen,
                            "--log-level: '%s': expected error, warning, info or "
                            "debug",
                            arg),
                   -EINVAL;
        log_configure(lvl, true, false);
        return 0;
    }
    default:
        rc = -EINVAL;
    }
    return rc;
}

int cli_parse_run(int argc, char **argv, struct vm_config *cfg, char *err, size_t errlen)
{
    config_defaults(cfg);
    sandbox_reset();
    thp_given = false;
    optind = 1;
    opterr = 0;
    for (;;) {
        int prev = optind;
        int opt = getopt_long(argc, argv, "", run_opts, NULL);
        if (opt == -1)
            break;
        if (opt == OPT_HELP)
            return 1;
        if (opt == '?' || opt == ':') {
            const char *bad = prev < argc ? argv[prev] : "?";
            if (optopt)
                snprintf(err, errlen, "%s: missing value", bad);
            else
                snprintf(err, errlen, "%s: unknown option (see truce --help)", bad);
            return -EINVAL;
        }
        int rc = parse_one(cfg, opt, optarg, err, errlen);
        if (rc)
            return rc;
    }
    if (optind < argc) {
        snprintf(err, errlen, "%s: unexpected argument (see truce --help)", argv[optind]);
        return -EINVAL;
    }
    if (!cfg->cmdline_set)
        snprintf(cfg->cmdline, sizeof(cfg->cmdline), "console=%s",
                 cfg->console == CONSOLE_VIRTIO ? "hvc0" : "ttyS0");
    /* default: on where the host hands out huge pages at all; off with hugetlb pages, and with
     * a balloon (a 4 KiB page given back from a huge page frees nothing until the host splits
     * it, and khugepaged may fill a partly given-back block again: README) */
    if (!thp_given)
        cfg->thp =
            !cfg->hugepages && !cfg->balloon.enabled && thp_host_policy() >= THP_HOST_MADVISE;
    if (cfg->mmds.enabled && !cfg->nnets)
        return snprintf(err, errlen, "--mmds: needs a --net interface"), -EINVAL;
    if (cfg->mmds.enabled)
        cfg->mmds.iface_mask = (1u << cfg->nnets) - 1; /* every interface */
    return config_validate(cfg, err, errlen);
}

int cli_run_vm(const struct vm_config *cfg)
{
    return cli_run(&(struct cli_vm_source){.cfg = cfg});
}

/* migrate_receive's start: the source came (its socket's name goes now, before Landlock), then
 * Landlock and the threads, as for a VM built here, but paused. */
static int cli_receive_start(struct vm *vm, void *arg)
{
    const char *listen = arg;
    if (!strncmp(listen, "unix:", 5))
        unlink(listen + 5);
    int rc = landlock_vm(&vm->cfg);
    return rc < 0 ? rc : vm_start_in(vm, true);
}

/* migrate-receive: listen, take one source, build its VM here and start it. Returns 0 or <0 with
 * ERR. */
static int cli_receive(struct vm *vm, struct kvm_host *kvm, const struct cli_vm_source *src,
                       char *err, size_t errlen)
{
    struct mig_stats st;
    machine_clear(vm); /* keeps the caller's MMDS store */
    int lfd = migrate_listen(src->listen, err, errlen);
    if (lfd < 0)
        return -EINVAL;
    log_info("migration: waiting for a source on %s", src->listen);
    struct mig_dest d = {lfd, src->wait_ms, src->ov, cli_receive_start, (void *)src->listen};
    int rc = migrate_receive(vm, kvm, &d, &st, err, errlen);
    close(lfd);
    if (!strncmp(src->listen, "unix:", 5) && vm->state == VM_CREATED)
        unlink(src->listen + 5); /* (nobody came, or the build failed) */
    if (!rc)
        log_info("migration: received %llu MiB (%llu pages) in %llu ms",
                 (unsigned long long)(st.bytes >> 20), (unsigned long long)st.pages,
                 (unsigned long long)st.total_ms);
    return rc;
}

/* The boot breakdown's figures (bench/boot-breakdown.sh) at debug level. A function of its own:
 * its buffer is not part of cli_run's frame, which stays on the main thread's stack while the VM
 * runs (bench/footprint.sh). */
static __attribute__((noinline)) void log_exit_stats(const struct vm *vm)
{
    char stats[1024];
    exit_stats_format(vm, stats, sizeof(stats));
    log_debug("%s", stats);
}

int cli_run(const struct cli_vm_source *src)
{
    const struct vm_config *cfg = src->cfg;
    struct vm_config *own = src->own_cfg;
    struct kvm_host kvm;
    struct vm *vm = NULL;
    char err[512] = "";
    int status = TRUCE_EXIT_HOST, rc;
    if (kvm_host_open(&kvm, err, sizeof(err)) < 0) {
        fprintf(stderr, "truce: %s\n", err);
        goto out_cfg;
    }
    if (!(vm = calloc(1, sizeof(*vm))))
        goto out_kvm;
    /* the MMDS store: a restored VM's MMDS configuration starts with an empty one */
    static const struct mmds_config no_data;
    if ((src->snapshot || src->listen || (cfg && cfg->mmds.enabled)) &&
        !(vm->mmds = cli_mmds_open(cfg ? &cfg->mmds : &no_data, err, sizeof(err)))) {
        fprintf(stderr, "truce: %s\n", err);
        status = TRUCE_EXIT_USAGE;
        goto out_vm;
    }
    rc = src->snapshot
             ? snapshot_restore(vm, &kvm, src->snapshot, src->mem, src->ov, err, sizeof(err))
         : src->listen ? cli_receive(vm, &kvm, src, err, sizeof(err))
                       : vm_create(vm, &kvm, cfg, err, sizeof(err));
    if (!rc) { /* the VM holds its own copy of the configuration from here on */
        cfg = &vm->cfg;
        free(own);
        own = NULL;
    }
    if (rc) {
        fprintf(stderr, "truce: %s\n", err[0] ? err : strerror(-rc));
        if (rc == -EINVAL || rc == -EFBIG || rc == -ETIMEDOUT) /* bad or no input */
            status = TRUCE_EXIT_USAGE;
        goto out;
    }
    if (kvm.pvm && cfg->kernel[0])
        log_warn("/dev/kvm is PVM-backed: a kernel that is not PVM-aware runs in KVM's "
                 "instruction emulator and will not boot Linux here (see truce check)");
    /* (an incoming migration's VM runs already: migrate_receive started it) */
    if (!src->listen && (rc = landlock_vm(cfg)) < 0) { /* last before the threads: inherited */
        fprintf(stderr, "truce: cannot restrict file access with Landlock: %s\n", strerror(-rc));
        goto out;
    }
    rc = src->listen ? 0 : vm_start(vm);
    if (rc) {
        fprintf(stderr, "truce: cannot start the VM: %s\n", strerror(-rc));
        goto out;
    }
    status = vm_wait(vm);
    log_exit_stats(vm);
out:
    vm_destroy(vm);
    if (!rc)
        fprintf(stderr, "truce: %s (exit status %d)\n", vm->exit_reason, status);
out_vm:
    mmds_free(vm->mmds);
    free(vm);
out_kvm:
    kvm_host_close(&kvm);
out_cfg:
    free(own);
    return status;
}

int cli_main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        cli_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? TRUCE_EXIT_USAGE : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("truce %s\n", TRUCE_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "jail"))
        return jail_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "cpu-template"))
        return cli_cpu_template_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "restore") || !strcmp(argv[1], "migrate-receive"))
        return cli_restore_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "snapshot-rebase"))
        return cli_rebase_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "check"))
        return kvm_host_report(stdout);
    if (!strcmp(argv[1], "seccomp"))
        return sandbox_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "screenshot"))
        return cli_screenshot_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "run")) {
        struct vm_config *cfg = calloc(1, sizeof(*cfg));
        char err[512];
        if (!cfg)
            return TRUCE_EXIT_HOST;
        int rc = cli_parse_run(argc - 1, argv + 1, cfg, err, sizeof(err));
        int status = TRUCE_EXIT_USAGE;
        if (rc == 1) {
            cli_usage(stdout);
            status = 0;
        } else if (rc) {
            fprintf(stderr, "truce: %s\n", err);
        } else {
            status = cli_run(&(struct cli_vm_source){.cfg = cfg, .own_cfg = cfg});
            cfg = NULL; /* freed by cli_run */
        }
        free(cfg);
        return status;
    }
    fprintf(stderr, "truce: unknown command '%s' (see truce --help)\n", argv[1]);
    return TRUCE_EXIT_USAGE;
}
