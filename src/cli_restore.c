/* cli_restore.c — `truce restore`: resume a snapshot in this process, on this terminal. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "machine/migrate.h"
#include "machine/snapshot.h"
#include "util/util.h"
#include "vm/vm.h"

enum {
    OPT_SNAPSHOT = 256,
    OPT_MEM,
    OPT_LISTEN,
    OPT_CONSOLE,
    OPT_NET_OVERRIDE,
    OPT_VSOCK_UDS,
    OPT_TRACK_DIRTY,
    OPT_CLOCK_REALTIME,
    OPT_THP,
    OPT_TIMEOUT,
    OPT_LOG_LEVEL,
    OPT_HELP
};

static const struct option restore_opts[] = {
    {"snapshot", required_argument, 0, OPT_SNAPSHOT},
    {"mem", required_argument, 0, OPT_MEM},
    {"listen", required_argument, 0, OPT_LISTEN},
    {"console", required_argument, 0, OPT_CONSOLE},
    {"net-override", required_argument, 0, OPT_NET_OVERRIDE},
    {"vsock-uds", required_argument, 0, OPT_VSOCK_UDS},
    {"track-dirty-pages", no_argument, 0, OPT_TRACK_DIRTY},
    {"clock-realtime", no_argument, 0, OPT_CLOCK_REALTIME},
    {"thp", required_argument, 0, OPT_THP},
    {"timeout", required_argument, 0, OPT_TIMEOUT},
    {"log-level", required_argument, 0, OPT_LOG_LEVEL},
    {"help", no_argument, 0, OPT_HELP},
    {0, 0, 0, 0},
};

static void restore_usage(FILE *out)
{
    fprintf(out, "usage: truce restore --snapshot STATE --mem MEMORY [options]\n"
                 "       truce migrate-receive --listen unix:PATH|tcp:HOST:PORT [options]\n"
                 "  --snapshot PATH        state file written by PUT /snapshot/create\n"
                 "  --mem PATH             its memory file (mapped privately, loaded on demand)\n"
                 "  --listen URL           wait there for one source (PUT /migration on it)\n"
                 "  --timeout SECONDS      give up (status 2) when no source came in that time\n"
                 "  --console KIND         stdio, file:PATH or none (default: as saved)\n"
                 "  --net-override ID=TAP  attach interface ID to another tap (repeatable)\n"
                 "  --vsock-uds PATH       serve the vsock device on another UNIX socket\n"
                 "  --track-dirty-pages    track written pages from here on (Diff snapshots)\n"
                 "  --clock-realtime       advance the guest's clock by the time since the "
                 "snapshot\n"
                 "  --thp on|off           transparent huge pages for RAM (default: as saved)\n"
                 "  --log-level LEVEL      error | warning | info | debug (default info)\n");
}

/* "ID=TAP" into the next network override. Returns 0 or -EINVAL with ERR. */
static int parse_net_override(struct snapshot_overrides *ov, const char *s, char *err,
                              size_t errlen)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s || !eq[1] || ov->nnets == CFG_MAX_NETS ||
        (size_t)(eq - s) >= sizeof(ov->net[0].iface_id) || strlen(eq + 1) >= IFNAMSIZ) {
        snprintf(err, errlen, "--net-override: '%s' is not ID=TAP (at most %d)", s, CFG_MAX_NETS);
        return -EINVAL;
    }
    snprintf(ov->net[ov->nnets].iface_id, sizeof(ov->net[0].iface_id), "%.*s", (int)(eq - s), s);
    snprintf(ov->net[ov->nnets].tap, sizeof(ov->net[0].tap), "%s", eq + 1);
    ov->nnets++;
    return 0;
}

/* The console option, through the same parser as `truce run`. */
static int parse_console(struct snapshot_overrides *ov, const char *s, char *err, size_t errlen)
{
    struct vm_config *tmp = calloc(1, sizeof(*tmp));
    if (!tmp)
        return -ENOMEM;
    int rc = config_parse_console(tmp, s, err, errlen);
    ov->console_set = rc == 0;
    ov->console = tmp->console;
    snprintf(ov->console_path, sizeof(ov->console_path), "%s", tmp->console_path);
    free(tmp);
    return rc;
}

static int parse_restore(int argc, char **argv, struct cli_vm_source *src,
                         struct snapshot_overrides *ov, char *err, size_t errlen)
{
    int opt, rc = 0;
    optind = 1;
    opterr = 0;
    while (!rc && (opt = getopt_long(argc, argv, "", restore_opts, NULL)) != -1) {
        switch (opt) {
        case OPT_SNAPSHOT:
            src->snapshot = optarg;
            break;
        case OPT_MEM:
            src->mem = optarg;
            break;
        case OPT_LISTEN:
            src->listen = optarg;
            break;
        case OPT_CONSOLE:
            rc = parse_console(ov, optarg, err, errlen);
            break;
        case OPT_NET_OVERRIDE:
            rc = parse_net_override(ov, optarg, err, errlen);
            break;
        case OPT_VSOCK_UDS:
            ov->vsock_set = true;
            if (str_copy(ov->vsock_uds, sizeof(ov->vsock_uds), optarg) < 0)
                rc = err_inval(err, errlen, "--vsock-uds: path too long");
            break;
        case OPT_TRACK_DIRTY:
            ov->track_dirty = true;
            break;
        case OPT_CLOCK_REALTIME:
            ov->clock_realtime = true;
            break;
        case OPT_THP: {
            bool on;
            if (config_parse_bool(optarg, &on))
                rc = err_inval(err, errlen, "--thp: '%s': expected on or off", optarg);
            else
                ov->thp = on ? OV_THP_ON : OV_THP_OFF;
            break;
        }
        case OPT_LOG_LEVEL: {
            enum log_level lvl;
            if (log_level_parse(optarg, &lvl))
                rc = err_inval(err, errlen,
                               "--log-level: '%s': expected error, warning, info or debug", optarg);
            else
                log_configure(lvl, true, false);
            break;
        }
        case OPT_TIMEOUT: {
            char *end;
            unsigned long s = strtoul(optarg, &end, 10);
            if (!*optarg || *end || s < 1 || s > MIG_RECEIVE_MAX_WAIT_S)
                rc = err_inval(err, errlen, "--timeout: '%s' is not 1..%d seconds", optarg,
                               MIG_RECEIVE_MAX_WAIT_S);
            src->wait_ms = (int)s * 1000;
            break;
        }
        case OPT_HELP:
            return 1;
        default:
            snprintf(err, errlen, "%s: unknown or incomplete option (see truce restore --help)",
                     argv[optind - 1]);
            return -EINVAL;
        }
    }
    if (!rc && optind < argc)
        rc = err_inval(err, errlen, "%s: unexpected argument", argv[optind]);
    bool receive = !strcmp(argv[0], "migrate-receive");
    if (!rc && receive && (!src->listen || src->snapshot || src->mem))
        rc = err_inval(err, errlen, "give --listen unix:PATH or tcp:HOST:PORT (and no snapshot)");
    if (!rc && !receive && src->wait_ms >= 0)
        rc = err_inval(err, errlen, "--timeout is for migrate-receive");
    if (!rc && !receive && (!src->snapshot || !src->mem || src->listen))
        rc = err_inval(err, errlen, "give --snapshot PATH and --mem PATH");
    return rc;
}

int cli_restore_main(int argc, char **argv)
{
    struct snapshot_overrides *ov = calloc(1, sizeof(*ov));
    struct cli_vm_source src = {.ov = ov, .wait_ms = -1};
    char err[512] = "";
    if (!ov)
        return TRUCE_EXIT_HOST;
    int rc = parse_restore(argc, argv, &src, ov, err, sizeof(err));
    int status = TRUCE_EXIT_USAGE;
    if (rc == 1) {
        restore_usage(stdout);
        status = 0;
    } else if (rc) {
        fprintf(stderr, "truce: %s\n", err);
    } else {
        status = cli_run(&src);
    }
    free(ov);
    return status;
}

int cli_rebase_main(int argc, char **argv)
{
    static const struct option opts[] = {{"base-mem", required_argument, 0, 'b'},
                                         {"diff-mem", required_argument, 0, 'd'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *base = NULL, *diff = NULL;
    char err[512] = "";
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'b' || opt == 'd') {
            *(opt == 'b' ? &base : &diff) = optarg;
            continue;
        }
        if (opt == 'h') {
            printf("usage: truce snapshot-rebase --base-mem FULL --diff-mem DIFF\n"
                   "  merges the memory file of a Diff snapshot onto the memory file of the\n"
                   "  snapshot before it, in place; FULL then restores with DIFF's state file\n");
            return 0;
        }
        fprintf(stderr, "truce: %s: unknown or incomplete option (see --help)\n", argv[optind - 1]);
        return TRUCE_EXIT_USAGE;
    }
    if (!base || !diff || optind < argc) {
        fprintf(stderr, "truce: snapshot-rebase: give --base-mem FULL and --diff-mem DIFF\n");
        return TRUCE_EXIT_USAGE;
    }
    if (snapshot_rebase(base, diff, err, sizeof(err)) < 0) {
        fprintf(stderr, "truce: %s\n", err);
        return TRUCE_EXIT_USAGE;
    }
    return 0;
}
