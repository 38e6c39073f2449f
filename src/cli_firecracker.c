/* cli_firecracker.c — started as `firecracker` (a symlink to truce), truce takes Firecracker's
 * process command line: its flags, defaults, parsing rules, messages and exit statuses. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cli.h"
#include "machine/snapshot.h"
#include "sandbox/sandbox.h"
#include "util/util.h"
#include "vm/vm.h"

/* Firecracker's exit codes (its FcExitCode). */
enum {
    FC_EXIT_OK = 0,
    FC_EXIT_ERROR = 1,
    FC_EXIT_BAD_SYSCALL = 148,
    FC_EXIT_BAD_CONFIG = 152,
    FC_EXIT_ARG_PARSING = 153,
};

/* The flags in Firecracker's order (sorted by name: its checks run in this order). */
struct fc_flag {
    const char *name;
    bool value;           /* takes a value (the next argument, which must not start with --) */
    const char *deflt;    /* shown by --help */
    const char *requires; /* another flag that must be given too */
    const char *forbids;  /* a flag that must not be given with it */
    const char *help;
};

static const struct fc_flag fc_flags[FC_NFLAGS] = {
    {"api-sock", true, FC_DEFAULT_API_SOCK, NULL, NULL, "UNIX socket the API is served on."},
    {"boot-timer", false, NULL, NULL, NULL,
     "Log the guest's boot time when it writes 123 to the boot-timer page (0xc0000000)."},
    {"config-file", true, NULL, NULL, NULL, "Full VM configuration (JSON) to boot at once."},
    {"describe-snapshot", true, NULL, NULL, NULL,
     "Print the state-file format version of this snapshot and exit."},
    {"enable-pci", false, NULL, NULL, NULL, "Put the virtio devices on PCI instead of MMIO."},
    {"http-api-max-payload-size", true, "51200", NULL, NULL, "Largest API request body, bytes."},
    {"id", true, "anonymous-instance", NULL, NULL, "The microVM's id (1-64 of [A-Za-z0-9-])."},
    {"level", true, NULL, NULL, NULL, "Log level: Error, Warning, Info, Debug, Trace or Off."},
    {"log-path", true, NULL, NULL, NULL, "Log to this file or named pipe."},
    {"metadata", true, NULL, NULL, NULL, "JSON file with the initial MMDS contents."},
    {"metrics-path", true, NULL, NULL, NULL, "Write metrics to this file or named pipe."},
    {"mmds-size-limit", true, NULL, NULL, NULL,
     "Largest MMDS data store, bytes (default: the API payload limit)."},
    {"module", true, NULL, NULL, NULL, "Log module filter (accepted; truce logs have none)."},
    {"no-api", false, NULL, "config-file", NULL, "Serve no API: boot --config-file only."},
    {"no-seccomp", false, NULL, NULL, "seccomp-filter", "Run without seccomp filters."},
    {"parent-cpu-time-us", true, NULL, NULL, NULL, "Jailer's CPU time, microseconds."},
    {"seccomp-filter", true, NULL, NULL, "no-seccomp", "Custom seccomp BPF filter file."},
    {"show-level", false, NULL, NULL, NULL, "Show the level in log lines."},
    {"show-log-origin", false, NULL, NULL, NULL, "Show file:line in log lines."},
    {"snapshot-version", false, NULL, NULL, NULL, "Print the snapshot format version and exit."},
    {"start-time-cpu-us", true, NULL, NULL, NULL, "Process start CPU time, microseconds."},
    {"start-time-us", true, NULL, NULL, NULL, "Process start wall time, microseconds."},
    {"version", false, NULL, NULL, NULL, "Print the version and exit."},
};

bool cli_is_firecracker(const char *argv0)
{
    const char *base = argv0 ? strrchr(argv0, '/') : NULL;
    base = base ? base + 1 : argv0;
    return base && !strcmp(base, "firecracker");
}

static int flag_index(const char *name)
{
    for (int i = 0; i < FC_NFLAGS; i++)
        if (!strcmp(fc_flags[i].name, name))
            return i;
    return -1;
}

/* ARGS (N of them) contains "--NAME" literally. */
static bool has_arg(char **args, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strncmp(args[i], "--", 2) && !strcmp(args[i] + 2, name))
            return true;
    return false;
}

int cli_fc_parse(int argc, char **argv, struct fc_args *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    int n = 0; /* arguments before the first "--" (what follows it is ignored) */
    char **args = argv + 1;
    while (n < argc - 1 && strcmp(args[n], "--"))
        n++;
    for (int i = 0; i < n; i++)
        if (!strcmp(args[i], "--help") || !strcmp(args[i], "-h"))
            return a->help = true, 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(args[i], "--version"))
            return a->set[flag_index("version")] = true, 0;
    for (int i = 0; i < n; i++) {
        const char *arg = args[i];
        if (strncmp(arg, "--", 2))
            return snprintf(err, errlen, FC_MSG_UNEXPECTED, arg), -EINVAL;
        int f = flag_index(arg + 2);
        if (f < 0)
            return snprintf(err, errlen, FC_MSG_UNEXPECTED, arg + 2), -EINVAL;
        if (a->set[f])
            return snprintf(err, errlen, "The argument '%s' was provided more than once.",
                            fc_flags[f].name),
                   -EINVAL;
        if (fc_flags[f].value) {
            if (i + 1 >= n || !strncmp(args[i + 1], "--", 2))
                return snprintf(err, errlen,
                                "The argument '%s' requires a value, but none was supplied.",
                                fc_flags[f].name),
                       -EINVAL;
            a->value[f] = args[++i];
        }
        a->set[f] = true;
    }
    for (int f = 0; f < FC_NFLAGS; f++) {
        if (!a->set[f])
            continue;
        if (fc_flags[f].requires && !has_arg(args, n, fc_flags[f].requires))
            return snprintf(err, errlen, "Argument '%s' required, but not found.",
                            fc_flags[f].requires),
                   -EINVAL;
        if (fc_flags[f].forbids && has_arg(args, n, fc_flags[f].forbids))
            return snprintf(err, errlen,
                            "Argument '%s' cannot be used together with argument '%s'.",
                            fc_flags[f].forbids, fc_flags[f].name),
                   -EINVAL;
    }
    return 0;
}

const char *cli_fc_value(const struct fc_args *a, const char *name)
{
    int f = flag_index(name);
    if (f < 0)
        return NULL;
    return a->set[f] ? a->value[f] : fc_flags[f].deflt;
}

bool cli_fc_flag(const struct fc_args *a, const char *name)
{
    int f = flag_index(name);
    return f >= 0 && a->set[f];
}

/* Firecracker's instance-id rule: 1 to 64 characters, each alphanumeric or '-'. */
static int check_id(const char *id, char *err, size_t errlen)
{
    size_t len = strlen(id);
    if (len < 1 || len > 64)
        return snprintf(err, errlen,
                        "Invalid instance ID: Invalid len (%zu);  the length must be between 1 "
                        "and 64",
                        len),
               -EINVAL;
    for (size_t i = 0; i < len; i++)
        if (id[i] != '-' && !(id[i] >= '0' && id[i] <= '9') && !(id[i] >= 'a' && id[i] <= 'z') &&
            !(id[i] >= 'A' && id[i] <= 'Z'))
            return snprintf(err, errlen, "Invalid instance ID: Invalid char (%c) at position %zu",
                            id[i], i),
                   -EINVAL;
    return 0;
}

/* NAME's value (if given) must be an unsigned number of TYPE. */
static int check_number(const struct fc_args *a, const char *name, const char *type, uint64_t min,
                        uint64_t max, uint64_t *out, char *err, size_t errlen)
{
    const char *v = cli_fc_value(a, name);
    uint64_t x;
    if (!v)
        return 0;
    if (parse_uint(v, 0, UINT64_MAX, &x) < 0)
        return snprintf(err, errlen, "'%s' parameter expected to be of '%s' type.", name, type),
               -EINVAL;
    if (x < min || x > max)
        return snprintf(err, errlen, "'%s': %s is outside what truce takes (%llu to %llu)", name, v,
                        (unsigned long long)min, (unsigned long long)max),
               -EINVAL;
    if (out)
        *out = x;
    return 0;
}

int cli_fc_options(const struct fc_args *a, struct api_opts *o, char *err, size_t errlen)
{
    api_opts_defaults(o);
    o->id = cli_fc_value(a, "id");
    if (check_id(o->id, err, errlen) < 0 ||
        check_number(a, "http-api-max-payload-size", "usize", 1024, 16 << 20, &o->max_payload, err,
                     errlen) < 0 ||
        check_number(a, "mmds-size-limit", "usize", 1, 1u << 30, &o->mmds_size_limit, err, errlen) <
            0)
        return -EINVAL;
    if (!cli_fc_flag(a, "no-api")) {
        static const char *const times[] = {"start-time-us", "start-time-cpu-us",
                                            "parent-cpu-time-us"};
        for (size_t i = 0; i < ARRAY_SIZE(times); i++)
            if (check_number(a, times[i], "u64", 0, UINT64_MAX, NULL, err, errlen) < 0)
                return -EINVAL;
        o->api_sock = cli_fc_value(a, "api-sock");
    }
    o->config_file = cli_fc_value(a, "config-file");
    o->log_path = cli_fc_value(a, "log-path");
    o->level = cli_fc_value(a, "level");
    o->metrics_path = cli_fc_value(a, "metrics-path");
    o->metadata = cli_fc_value(a, "metadata");
    o->show_level = cli_fc_flag(a, "show-level");
    o->show_origin = cli_fc_flag(a, "show-log-origin");
    o->enable_pci = cli_fc_flag(a, "enable-pci");
    o->boot_timer = cli_fc_flag(a, "boot-timer");
    return 0;
}

int cli_fc_exit_status(int status)
{
    if (status & 1) /* the debug-exit port's statuses: a truce extension, kept */
        return status;
    switch (status) {
    case TRUCE_EXIT_POWEROFF:
    case TRUCE_EXIT_REBOOT: /* Firecracker ends on the guest's reset (reboot=k) with 0 */
    case TRUCE_EXIT_MIGRATED:
        return FC_EXIT_OK;
    case TRUCE_EXIT_SECCOMP:
        return FC_EXIT_BAD_SYSCALL;
    default:
        return FC_EXIT_ERROR;
    }
}

static void help(void)
{
    size_t width = 0;
    char names[FC_NFLAGS][64];
    printf("Firecracker v%s\n\n", FC_COMPAT_VERSION);
    for (int f = 0; f < FC_NFLAGS; f++) {
        snprintf(names[f], sizeof(names[f]), fc_flags[f].value ? "  --%s <%s>" : "  --%s",
                 fc_flags[f].name, fc_flags[f].name);
        width = MAX(width, strlen(names[f]));
    }
    printf("optional arguments:\n");
    for (int f = 0; f < FC_NFLAGS; f++) {
        printf("%-*s   %s", (int)width, names[f], fc_flags[f].help);
        if (fc_flags[f].deflt)
            printf(" [default: \"%s\"]", fc_flags[f].deflt);
        printf("\n");
    }
    printf("\nThis is truce %s answering to the name firecracker (see truce --help).\n",
           TRUCE_VERSION);
}

/* --describe-snapshot FILE: the format version of a truce snapshot state file. */
static int describe_snapshot(const char *path)
{
    uint8_t *buf;
    size_t len, plen;
    const uint8_t *payload;
    char err[256];
    int rc = read_file(path, SNAP_MAX_PAYLOAD + sizeof(struct snap_header), &buf, &len);
    if (rc < 0) {
        fprintf(stderr,
                "Error: When printing Snapshot Data format: Unable to open snapshot state "
                "file: %s\n",
                strerror(-rc));
        return FC_EXIT_ERROR;
    }
    rc = snapfile_parse(buf, len, &payload, &plen, err, sizeof(err));
    if (!rc) {
        struct snap_header h;
        memcpy(&h, buf, sizeof(h));
        printf("v%u.0.0\n", h.format_version);
    } else {
        fprintf(stderr,
                "Error: When printing Snapshot Data format: Invalid data format version of "
                "snapshot file: %s\n",
                err);
    }
    free(buf);
    return rc ? FC_EXIT_ERROR : FC_EXIT_OK;
}

static bool logging_to_file;

/* An error as Firecracker reports it: "Error: ..." on stderr, and the log file when there is
 * one; then the exit line. Returns CODE. */
static int fc_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fc_fail(int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "Error: %s\n", msg);
    if (logging_to_file)
        log_err("%s", msg);
    log_err("Firecracker exiting with error. exit_code=%d", code);
    return code;
}

static void listening(const char *path)
{
    log_info("Listening on API socket (\"%s\").", path);
}

/* The logger flags, as Firecracker applies them before anything else. Returns 0 or an exit code. */
static int logger_setup(const struct api_opts *o)
{
    enum log_level lvl = LOG_LVL_INFO;
    if (o->level && log_level_parse(o->level, &lvl) < 0)
        return fc_fail(FC_EXIT_BAD_CONFIG,
                       "Invalid value for logger level: Failed to parse string to level filter: "
                       "%s.Possible values: [Error, Warning, Info, Debug]",
                       o->level);
    log_configure(lvl, o->show_level, o->show_origin);
    int rc = o->log_path ? log_set_path(o->log_path) : 0;
    if (rc < 0)
        return fc_fail(FC_EXIT_ERROR,
                       "Could not initialize logger: Failed to open target file: %s (os error %d)",
                       strerror(-rc), -rc);
    logging_to_file = o->log_path != NULL;
    log_info("Running Firecracker v%s (truce %s)", FC_COMPAT_VERSION, TRUCE_VERSION);
    return 0;
}

/* Stopped by a signal: end the way Firecracker does, killed by SIGTERM (its default action, which
 * truce never changes: the signal was only blocked for the signalfd, now closed). */
static int killed(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    raise(SIGTERM);
    return 128 + SIGTERM;
}

/* api_run's failure in Firecracker's words. */
static int run_failed(enum api_run_fail fail, const struct api_opts *o, const char *err)
{
    switch (fail) {
    case API_FAIL_SOCK_INUSE:
        return fc_fail(FC_EXIT_ERROR,
                       "RunWithApiError error: Failed to open the API socket at: %s. Check that "
                       "it is not already used.",
                       o->api_sock);
    case API_FAIL_METRICS:
        return fc_fail(FC_EXIT_ERROR, "Could not initialize metrics: %s", err);
    case API_FAIL_CONFIG:
    case API_FAIL_START:
    case API_FAIL_HOST:
        return fc_fail(FC_EXIT_ERROR, "%s error: Failed to build MicroVM from Json: %s",
                       o->api_sock ? "RunWithApiError" : "RunWithoutApiError", err);
    default:
        return fc_fail(FC_EXIT_ERROR, "%s", err);
    }
}

int cli_firecracker_main(int argc, char **argv)
{
    struct fc_args a;
    struct api_opts o;
    char err[1024];
    enum api_run_fail fail;
    log_configure(LOG_LVL_INFO, false, false); /* Firecracker's logger defaults */
    if (cli_fc_parse(argc, argv, &a, err, sizeof(err)) < 0)
        return fc_fail(FC_EXIT_ARG_PARSING,
                       "Arguments parsing error: %s \n\nFor more information try --help.", err);
    if (a.help)
        return help(), FC_EXIT_OK;
    if (cli_fc_flag(&a, "version"))
        return printf("Firecracker v%s\n\n", FC_COMPAT_VERSION), FC_EXIT_OK;
    if (cli_fc_flag(&a, "snapshot-version"))
        return printf("v%d.0.0\n", SNAP_FORMAT_VERSION), FC_EXIT_OK;
    if (cli_fc_flag(&a, "describe-snapshot"))
        return describe_snapshot(cli_fc_value(&a, "describe-snapshot"));
    if (cli_fc_options(&a, &o, err, sizeof(err)) < 0)
        return fc_fail(FC_EXIT_ERROR, "%s", err);
    int rc = logger_setup(&o);
    if (rc)
        return rc;
    o.log_path = o.level = NULL; /* the logger is set up: api_run leaves it alone */
    o.show_level = o.show_origin = false;
    sandbox_reset();
    if (cli_fc_flag(&a, "no-seccomp") || cli_fc_flag(&a, "seccomp-filter")) {
        bool off = cli_fc_flag(&a, "no-seccomp");
        if (sandbox_parse_flag(off ? "--no-seccomp" : "--seccomp-filter",
                               cli_fc_value(&a, "seccomp-filter"), err, sizeof(err)) < 0)
            return fc_fail(FC_EXIT_ERROR, "Seccomp error: %s", err);
    }
    int status = api_run(&o, listening, &fail, err, sizeof(err));
    if (status < 0)
        return run_failed(fail, &o, err);
    if (status == TRUCE_EXIT_SIGNAL)
        return killed();
    int code = cli_fc_exit_status(status);
    if (code == FC_EXIT_OK)
        log_info("Firecracker exiting successfully. exit_code=0");
    else
        log_err("Firecracker exiting with error. exit_code=%d", code);
    return code;
}
