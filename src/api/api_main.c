/* api_main.c — `truce --api-sock ... | --config-file ...`: Firecracker's top-level flags, run. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    OPT_BOOT_TIMER,
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
    {"boot-timer", no_argument, 0, OPT_BOOT_TIMER},
    {0, 0, 0, 0},
};

struct flags {
    struct api_opts o;
    bool no_api, help, version;
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
    fprintf(
        out,
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
        "Firecracker)\n"
        "  --boot-timer             log the guest's boot time when it writes 123 to 0xc0000000\n"
        "  (started as `firecracker`, truce takes Firecracker's command line "
        "exactly)\n" SANDBOX_FLAGS_HELP,
        API_DEFAULT_ID, API_MAX_PAYLOAD_DEFAULT);
}

static int parse_flags(int argc, char **argv, struct flags *f, char *err, size_t errlen)
{
    uint64_t v;
    *f = (struct flags){0};
    api_opts_defaults(&f->o);
    sandbox_reset();
    optind = 1;
    opterr = 0;
    for (;;) {
        int prev = optind, opt = getopt_long(argc, argv, "", opts, NULL);
        if (opt == -1)
            break;
        switch (opt) {
        case OPT_API_SOCK:
            f->o.api_sock = optarg;
            break;
        case OPT_CONFIG_FILE:
            f->o.config_file = optarg;
            break;
        case OPT_NO_API:
            f->no_api = true;
            break;
        case OPT_ID:
            f->o.id = optarg;
            break;
        case OPT_LOG_PATH:
            f->o.log_path = optarg;
            break;
        case OPT_LEVEL:
            f->o.level = optarg;
            break;
        case OPT_SHOW_LEVEL:
            f->o.show_level = true;
            break;
        case OPT_SHOW_ORIGIN:
            f->o.show_origin = true;
            break;
        case OPT_METRICS_PATH:
            f->o.metrics_path = optarg;
            break;
        case OPT_HELP:
            f->help = true;
            break;
        case OPT_VERSION:
            f->version = true;
            break;
        case OPT_ENABLE_PCI:
            f->o.enable_pci = true;
            break;
        case OPT_MAX_PAYLOAD:
            if (parse_uint(optarg, 1024, 16 << 20, &f->o.max_payload) < 0)
                return snprintf(err, errlen,
                                "--http-api-max-payload-size: '%s': expected "
                                "1024 to %d bytes",
                                optarg, 16 << 20),
                       -EINVAL;
            break;
        case OPT_MMDS_LIMIT:
            if (parse_uint(optarg, 1, 1u << 30, &f->o.mmds_size_limit) < 0)
                return snprintf(err, errlen, "--mmds-size-limit: '%s': expected 1 to %u bytes",
                                optarg, 1u << 30),
                       -EINVAL;
            break;
        case OPT_METADATA:
            f->o.metadata = optarg;
            break;
        case OPT_NO_SECCOMP:
        case OPT_SECCOMP_FILTER:
            if (sandbox_parse_flag(opt == OPT_NO_SECCOMP ? "--no-seccomp" : "--seccomp-filter",
                                   optarg, err, errlen) < 0)
                return -EINVAL;
            break;
        case OPT_BOOT_TIMER:
            f->o.boot_timer = true;
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
    if (f->no_api && f->o.api_sock)
        return snprintf(err, errlen, "--no-api: cannot be combined with --api-sock"), -EINVAL;
    if (f->no_api && !f->o.config_file)
        return snprintf(err, errlen, "--no-api: needs --config-file"), -EINVAL;
    if (!f->o.api_sock && !f->o.config_file)
        return snprintf(err, errlen, "give --api-sock PATH and/or --config-file FILE"), -EINVAL;
    if (f->o.id && (!*f->o.id || strlen(f->o.id) >= CFG_ID_LEN))
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

void api_opts_defaults(struct api_opts *o)
{
    *o = (struct api_opts){.max_payload = API_MAX_PAYLOAD_DEFAULT};
}

#define FAIL(kind, ...) (*fail = (kind), snprintf(err, errlen, __VA_ARGS__), -EINVAL)

/* Logger and metrics flags, then the config file. Returns 0 or -EINVAL with *FAIL and ERR. */
static int setup(struct api *api, const struct api_opts *o, enum api_run_fail *fail, char *err,
                 size_t errlen)
{
    enum log_level lvl = LOG_LVL_WARN;
    int rc;
    if (o->level && log_level_parse(o->level, &lvl) < 0)
        return FAIL(API_FAIL_LEVEL,
                    "--level: '%s': expected Error, Warning, Info, Debug, Trace or Off", o->level);
    if (o->level || o->show_level || o->show_origin)
        log_configure(lvl, o->show_level, o->show_origin);
    if (o->log_path && (rc = log_set_path(o->log_path)) < 0)
        return FAIL(API_FAIL_LOGGER, "--log-path: %s: %s", o->log_path, strerror(-rc));
    if (o->metrics_path && (rc = api_metrics_open(&api->metrics, o->metrics_path)) < 0)
        return FAIL(API_FAIL_METRICS, "--metrics-path: %s: %s", o->metrics_path, strerror(-rc));
    api->max_payload = o->max_payload;
    mmds_set_limit(api->mmds, o->mmds_size_limit ? o->mmds_size_limit : o->max_payload);
    if (o->metadata && load_metadata(api, o->metadata, err, errlen) < 0)
        return *fail = API_FAIL_METADATA, -EINVAL;
    api->cfg.transport = o->enable_pci ? TRANSPORT_PCI : TRANSPORT_MMIO; /* as Firecracker */
    api->cfg.boot_timer = o->boot_timer;
    if (!o->config_file)
        return 0;
    uint8_t *buf;
    size_t len;
    if ((rc = read_file(o->config_file, CONFIG_FILE_MAX, &buf, &len)) < 0)
        return FAIL(API_FAIL_CONFIG, "--config-file: %s: %s", o->config_file, strerror(-rc));
    char why[API_ERR_LEN];
    rc = api_load_config(api, (const char *)buf, len, why, sizeof(why));
    free(buf);
    if (rc < 0)
        return FAIL(API_FAIL_CONFIG, "--config-file: %s: %s", o->config_file, why);
    return 0;
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

/* Boot the config-file VM now. Returns 0 or -1 with *FAIL and ERR. */
static int boot_now(struct api *api, enum api_run_fail *fail, char *err, size_t errlen)
{
    pthread_mutex_lock(&api->lock);
    int rc = api_start_vm(api, err, errlen);
    pthread_mutex_unlock(&api->lock);
    if (rc)
        *fail = rc == -EINVAL || rc == -EFBIG ? API_FAIL_START : API_FAIL_HOST;
    return rc ? -1 : 0;
}

int api_run(const struct api_opts *o, void (*listening)(const char *path), enum api_run_fail *fail,
            char *err, size_t errlen)
{
    struct api *api = api_new(o->id);
    struct api_server *server = NULL;
    struct ticker ticker;
    bool ticking = false;
    int status = -1;
    *fail = API_FAIL_NOMEM;
    if (!api)
        return snprintf(err, errlen, "out of memory"), -1;
    *fail = API_FAIL_NONE;
    if (setup(api, o, fail, err, errlen) < 0)
        goto out;
    if (o->api_sock && !(server = api_server_start(api, o->api_sock, err, errlen))) {
        struct stat st;
        *fail = lstat(o->api_sock, &st) == 0 ? API_FAIL_SOCK_INUSE : API_FAIL_SOCK;
        goto out;
    }
    if (server && listening)
        listening(o->api_sock);
    ticking = ticker_start(&ticker, api) == 0;
    if (!o->config_file) /* a VM to be built on request: what every build starts with, now */
        api_kvm_warm(api);
    if (o->config_file && boot_now(api, fail, err, errlen) < 0)
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

int api_main(int argc, char **argv)
{
    struct flags f;
    char err[2 * API_ERR_LEN];
    enum api_run_fail fail;
    if (parse_flags(argc, argv, &f, err, sizeof(err)) < 0) {
        fprintf(stderr, "truce: %s\n", err);
        return TRUCE_EXIT_USAGE;
    }
    if (f.help || f.version) {
        f.help ? usage(stdout) : (void)printf("truce %s\n", TRUCE_VERSION);
        return 0;
    }
    int status = api_run(&f.o, NULL, &fail, err, sizeof(err));
    if (status >= 0)
        return status;
    fprintf(stderr, "truce: %s\n", err);
    return fail == API_FAIL_NOMEM || fail == API_FAIL_HOST ? TRUCE_EXIT_HOST : TRUCE_EXIT_USAGE;
}
