/* api_main.c — `truce --api-sock ... | --config-file ...`: Firecracker's top-level flags, run. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"
#include "mmds/mmds.h"
#include "sandbox/sandbox.h"

#define CONFIG_FILE_MAX  (1 << 20)
#define METRICS_PERIOD_S 60

enum {
    OPT_API_SOCK = 256,
    OPT_CONFIG_FILE,
    OPT_NO_API,
    OPT_ID,
    OPT_LOG_PATH,
    OPT_LEVEL,
    OPT_SHOW_LEVEL,
    OPT_SHOW_ORIGIN,
    OPT_METRICS_PATH,
    OPT_MAX_PAYLOAD,
    OPT_MMDS_LIMIT,
    OPT_METADATA,
    OPT_JAILER_TIME,
    OPT_HELP,
    OPT_VERSION,
    OPT_ENABLE_PCI,
    OPT_NO_SECCOMP,
    OPT_SECCOMP_FILTER,
};

static const struct option opts[] = {
    {"api-sock", required_argument, 0, OPT_API_SOCK},
    {"config-file", required_argument, 0, OPT_CONFIG_FILE},
    {"no-api", no_argument, 0, OPT_NO_API},
    {"id", required_argument, 0, OPT_ID},
    {"log-path", required_argument, 0, OPT_LOG_PATH},
    {"level", required_argument, 0, OPT_LEVEL},
    {"show-level", no_argument, 0, OPT_SHOW_LEVEL},
    {"show-log-origin", no_argument, 0, OPT_SHOW_ORIGIN},
    {"metrics-path", required_argument, 0, OPT_METRICS_PATH},
    {"http-api-max-payload-size", required_argument, 0, OPT_MAX_PAYLOAD},
    {"mmds-size-limit", required_argument, 0, OPT_MMDS_LIMIT},
    {"metadata", required_argument, 0, OPT_METADATA},
    /* passed by Firecracker's jailer for boot-time metrics; accepted and checked */
    {"start-time-us", required_argument, 0, OPT_JAILER_TIME},
    {"start-time-cpu-us", required_argument, 0, OPT_JAILER_TIME},
    {"parent-cpu-time-us", required_argument, 0, OPT_JAILER_TIME},
    {"help", no_argument, 0, OPT_HELP},
    {"version", no_argument, 0, OPT_VERSION},
    {"enable-pci", no_argument, 0, OPT_ENABLE_PCI},
    {"no-seccomp", no_argument, 0, OPT_NO_SECCOMP},
    {"seccomp-filter", required_argument, 0, OPT_SECCOMP_FILTER},
    {0, 0, 0, 0},
};

struct flags {
    const char *api_sock, *config_file, *id, *log_path, *level, *metrics_path, *metadata;
    bool no_api, show_level, show_origin, help, version, enable_pci;
    uint64_t max_payload;
    uint64_t mmds_limit; /* 0: the payload limit, as Firecracker */
};

bool api_is_api_flag(const char *arg)
{
    if (!arg || strncmp(arg, "--", 2))
        return false;
    size_t n = strcspn(arg + 2, "=");
    for (const struct option *o = opts; o->name; o++)
        if (o->val != OPT_HELP && o->val != OPT_VERSION && strlen(o->name) == n &&
            !strncmp(arg + 2, o->name, n))
            return true;
    return false;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: truce --api-sock PATH [--config-file FILE] [options]\n"
            "       truce --config-file FILE [--no-api] [options]\n"
            "  --api-sock PATH          serve the Firecracker REST API on this UNIX socket\n"
            "  --config-file FILE       Firecracker full-configuration JSON: boot it at once\n"
            "  --no-api                 no API socket (needs --config-file)\n"
            "  --id ID                  instance id (default %s)\n"
            "  --log-path PATH          log to this file or named pipe\n"
            "  --level LEVEL            Error | Warning | Info | Debug | Trace | Off\n"
            "  --show-level             prefix log lines with their level\n"
            "  --show-log-origin        prefix log lines with file:line\n"
            "  --metrics-path PATH      metrics JSON lines to this file or named pipe\n"
            "  --http-api-max-payload-size N   largest request body (default %d bytes)\n"
            "  --mmds-size-limit N      largest MMDS data store, bytes (default: the payload "
            "limit)\n"
            "  --metadata FILE          JSON file to fill the MMDS data store with\n"
            "  --enable-pci             virtio devices on PCI (default: virtio-mmio, as "
            "Firecracker)\n" SANDBOX_FLAGS_HELP,
            API_DEFAULT_ID, API_MAX_PAYLOAD_DEFAULT);
}

static int parse_flags(int argc, char **argv, struct flags *f, char *err, size_t errlen)
{
    uint64_t v;
    *f = (struct flags){.max_payload = API_MAX_PAYLOAD_DEFAULT};
    sandbox_reset();
    optind = 1;
    opterr = 0;
    for (;;) {
        int prev = optind, opt = getopt_long(argc, argv, "", opts, NULL);
        if (opt == -1)
            break;
        switch (opt) {
        case OPT_API_SOCK:
            f->api_sock = optarg;
            break;
        case OPT_CONFIG_FILE:
            f->config_file = optarg;
            break;
        case OPT_NO_API:
            f->no_api = true;
            break;
        case OPT_ID:
            f->id = optarg;
            break;
        case OPT_LOG_PATH:
            f->log_path = optarg;
            break;
        case OPT_LEVEL:
            f->level = optarg;
            break;
        case OPT_SHOW_LEVEL:
            f->show_level = true;
            break;
        case OPT_SHOW_ORIGIN:
            f->show_origin = true;
            break;
        case OPT_METRICS_PATH:
            f->metrics_path = optarg;
            break;
        case OPT_HELP:
            f->help = true;
            break;
        case OPT_VERSION:
            f->version = true;
            break;
        case OPT_ENABLE_PCI:
            f->enable_pci = true;
            break;
        case OPT_MAX_PAYLOAD:
            if (parse_uint(optarg, 1024, 16 << 20, &f->max_payload) < 0)
                return snprintf(err, errlen,
                                "--http-api-max-payload-size: '%s': expected "
                                "1024 to %d bytes",
                                optarg, 16 << 20),
                       -EINVAL;
            break;
        case OPT_MMDS_LIMIT:
            if (parse_uint(optarg, 1, 1u << 30, &f->mmds_limit) < 0)
                return snprintf(err, errlen, "--mmds-size-limit: '%s': expected 1 to %u bytes",
                                optarg, 1u << 30),
                       -EINVAL;
            break;
        case OPT_METADATA:
            f->metadata = optarg;
            break;
        case OPT_NO_SECCOMP:
        case OPT_SECCOMP_FILTER:
            if (sandbox_parse_flag(opt == OPT_NO_SECCOMP ? "--no-seccomp" : "--seccomp-filter",
                                   optarg, err, errlen) < 0)
                return -EINVAL;
            break;
        case OPT_JAILER_TIME:
            if (parse_uint(optarg, 0, UINT64_MAX, &v) < 0)
                return snprintf(err, errlen, "%s: '%s' is not a number", argv[prev], optarg),
                       -EINVAL;
            break;
        default:
            return snprintf(err, errlen, "%s: %s (see truce --help)",
                            prev < argc ? argv[prev] : "?",
                            optopt ? "missing value" : "unknown option"),
                   -EINVAL;
        }
    }
    if (optind < argc)
        return snprintf(err, errlen, "%s: unexpected argument", argv[optind]), -EINVAL;
    if (f->help || f->version)
        return 0;
    if (f->no_api && f->api_sock)
        return snprintf(err, errlen, "--no-api: cannot be combined with --api-sock"), -EINVAL;
    if (f->no_api && !f->config_file)
        return snprintf(err, errlen, "--no-api: needs --config-file"), -EINVAL;
    if (!f->api_sock && !f->config_file)
        return snprintf(err, errlen, "give --api-sock PATH and/or --config-file FILE"), -EINVAL;
    if (f->id && (!*f->id || strlen(f->id) >= CFG_ID_LEN))
        return snprintf(err, errlen, "--id: 1 to %d characters", CFG_ID_LEN - 1), -EINVAL;
    return 0;
}

/* --metadata FILE: the MMDS data store's first contents. Returns 0 or <0 with ERR. */
static int load_metadata(struct api *api, const char *path, char *err, size_t errlen)
{
    uint8_t *buf;
    size_t len;
    int rc = read_file(path, CONFIG_FILE_MAX, &buf, &len);
    if (rc < 0)
        return snprintf(err, errlen, "--metadata: %s: %s", path, strerror(-rc)), rc;
    json_error_t je;
    json_t *j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (!j)
        return snprintf(err, errlen, "--metadata: %s: invalid JSON: %s (line %d)", path, je.text,
                        je.line),
               -EINVAL;
    char why[API_ERR_LEN];
    rc = api_put_mmds(api, j, false, why, sizeof(why));
    json_decref(j);
    if (rc < 0)
        snprintf(err, errlen, "--metadata: %s: %s", path, why);
    return rc;
}

/* Logger and metrics flags, then the config file. Returns 0 or -errno with ERR. */
static int setup(struct api *api, const struct flags *f, char *err, size_t errlen)
{
    enum log_level lvl = LOG_LVL_WARN;
    int rc;
    if (f->level && log_level_parse(f->level, &lvl) < 0)
        return snprintf(err, errlen,
                        "--level: '%s': expected Error, Warning, Info, Debug, "
                        "Trace or Off",
                        f->level),
               -EINVAL;
    if (f->level || f->show_level || f->show_origin)
        log_configure(lvl, f->show_level, f->show_origin);
    if (f->log_path && (rc = log_set_path(f->log_path)) < 0)
        return snprintf(err, errlen, "--log-path: %s: %s", f->log_path, strerror(-rc)), rc;
    if (f->metrics_path && (rc = api_metrics_open(&api->metrics, f->metrics_path)) < 0)
        return snprintf(err, errlen, "--metrics-path: %s: %s", f->metrics_path, strerror(-rc)), rc;
    api->max_payload = f->max_payload;
    mmds_set_limit(api->mmds, f->mmds_limit ? f->mmds_limit : f->max_payload);
    uint8_t *buf;
    size_t len;
    if (f->metadata && (rc = load_metadata(api, f->metadata, err, errlen)) < 0)
        return rc;
    if (!f->config_file)
        return 0;
    if ((rc = read_file(f->config_file, CONFIG_FILE_MAX, &buf, &len)) < 0)
        return snprintf(err, errlen, "--config-file: %s: %s", f->config_file, strerror(-rc)), rc;
    char why[API_ERR_LEN];
    rc = api_load_config(api, (const char *)buf, len, why, sizeof(why));
    free(buf);
    if (rc < 0)
        snprintf(err, errlen, "--config-file: %s: %s", f->config_file, why);
    return rc;
}

/* Flushes metrics every METRICS_PERIOD_S seconds until stopped. */
struct ticker {
    struct api *api;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
};

static void *ticker_run(void *arg)
{
    struct ticker *t = arg;
    sandbox_enter(NULL, SANDBOX_API); /* it only writes metrics: filtered from its start */
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += METRICS_PERIOD_S;
        while (!t->stop && pthread_cond_timedwait(&t->cond, &t->lock, &ts) != ETIMEDOUT)
            ;
        if (t->stop)
            break;
        pthread_mutex_unlock(&t->lock);
        pthread_mutex_lock(&t->api->lock);
        api_metrics_flush(t->api);
        pthread_mutex_unlock(&t->api->lock);
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

static int ticker_start(struct ticker *t, struct api *api)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&t->lock, NULL);
    t->api = api;
    t->stop = false;
    return -pthread_create(&t->thread, NULL, ticker_run, t);
}

static void ticker_stop(struct ticker *t)
{
    pthread_mutex_lock(&t->lock);
    t->stop = true;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
}

/* Boot the config-file VM now. Returns 0 or the exit status to leave with. */
static int boot_now(struct api *api)
{
    char err[API_ERR_LEN] = "";
    pthread_mutex_lock(&api->lock);
    int rc = api_start_vm(api, err, sizeof(err));
    pthread_mutex_unlock(&api->lock);
    if (!rc)
        return 0;
    fprintf(stderr, "truce: %s\n", err);
    return rc == -EINVAL || rc == -EFBIG ? TRUCE_EXIT_USAGE : TRUCE_EXIT_HOST;
}

int api_main(int argc, char **argv)
{
    struct flags f;
    char err[2 * API_ERR_LEN];
    if (parse_flags(argc, argv, &f, err, sizeof(err)) < 0) {
        fprintf(stderr, "truce: %s\n", err);
        return TRUCE_EXIT_USAGE;
    }
    if (f.help || f.version) {
        f.help ? usage(stdout) : (void)printf("truce %s\n", TRUCE_VERSION);
        return 0;
    }
    struct api *api = api_new(f.id);
    struct api_server *server = NULL;
    struct ticker ticker;
    bool ticking = false;
    int status = TRUCE_EXIT_HOST;
    if (!api)
        return TRUCE_EXIT_HOST;
    api->cfg.transport = f.enable_pci ? TRANSPORT_PCI : TRANSPORT_MMIO; /* as Firecracker */
    if (setup(api, &f, err, sizeof(err)) < 0) {
        fprintf(stderr, "truce: %s\n", err);
        status = TRUCE_EXIT_USAGE;
        goto out;
    }
    if (f.api_sock && !(server = api_server_start(api, f.api_sock, err, sizeof(err)))) {
        fprintf(stderr, "truce: %s\n", err);
        status = TRUCE_EXIT_USAGE;
        goto out;
    }
    ticking = ticker_start(&ticker, api) == 0;
    if (f.config_file && (status = boot_now(api)) != 0)
        goto out;
    status = api_wait(api);
out:
    if (ticking)
        ticker_stop(&ticker);
    api_server_stop(server);
    pthread_mutex_lock(&api->lock);
    api_metrics_flush(api); /* the last line, with the final counters */
    if (api->vm)
        fprintf(stderr, "truce: %s (exit status %d)\n", api->vm->exit_reason, status);
    pthread_mutex_unlock(&api->lock);
    api_free(api);
    return status;
}
