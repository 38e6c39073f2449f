/* api.h — contract of the control plane: Firecracker-compatible REST API, config file, metrics. */
#ifndef TRUCE_API_H
#define TRUCE_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- entry point (api/api_main.c) -----------------------------------------------------------
 * `truce --api-sock PATH [--config-file FILE] [--no-api] [--id ID] [--log-path P] [--level L]
 *  [--show-level] [--show-log-origin] [--metrics-path P] [--http-api-max-payload-size N] ...`
 * Parses these top-level flags itself (ARGV[0] is the program name), serves the API and/or boots
 * the configured VM, and returns the process exit status: the VM's enum truce_status once it
 * ran, TRUCE_EXIT_USAGE for bad flags or configuration. */
int api_main(int argc, char **argv);
/* True when ARG (argv[1]) selects api_main rather than a subcommand. */
bool api_is_api_flag(const char *arg);

/* What api_main's flags (and the `firecracker` command line, cli_firecracker.c) ask for. */
struct api_opts {
    const char *api_sock;    /* NULL: no API socket */
    const char *config_file; /* NULL: configured through the API */
    const char *id;          /* NULL: API_DEFAULT_ID */
    const char *log_path, *level, *metrics_path, *metadata;
    bool show_level, show_origin;
    bool enable_pci;          /* virtio over PCI; MMIO otherwise, as Firecracker */
    bool boot_timer;          /* Firecracker's boot-timer device (--boot-timer) */
    uint64_t max_payload;     /* --http-api-max-payload-size */
    uint64_t mmds_size_limit; /* --mmds-size-limit; 0: max_payload, as Firecracker */
};
/* Where api_run failed, for callers that word the error their own way. */
enum api_run_fail {
    API_FAIL_NONE,
    API_FAIL_LEVEL,      /* --level not a level */
    API_FAIL_LOGGER,     /* --log-path cannot be opened */
    API_FAIL_METRICS,    /* --metrics-path cannot be opened */
    API_FAIL_METADATA,   /* --metadata */
    API_FAIL_CONFIG,     /* --config-file unreadable or invalid */
    API_FAIL_SOCK_INUSE, /* --api-sock exists */
    API_FAIL_SOCK,       /* --api-sock: other bind failure */
    API_FAIL_START,      /* the config-file VM's configuration was refused when it started */
    API_FAIL_HOST,       /* the config-file VM could not be built: host failure */
    API_FAIL_NOMEM,
};
/* Fill OPTS with the defaults (no socket, no config file, payload limit 51200). */
void api_opts_defaults(struct api_opts *opts);
/* Configure the logger and metrics, load the config file, serve the API, boot the config-file VM
 * and wait for it. Returns the VM's exit status (enum truce_status) once it ran, or -1 with
 * *FAIL and one line in ERR when it could not get that far. LISTENING (may be NULL) is called once
 * the socket is bound. */
int api_run(const struct api_opts *opts, void (*listening)(const char *path),
            enum api_run_fail *fail, char *err, size_t errlen);

/* ---- the API object, usable without a socket (unit tests, fuzzing) ---------------------------
 * One struct api holds one VM's configuration-in-progress, its telemetry and its lifecycle. */
struct api;

struct api_reply {
    int status;               /* HTTP status: 200, 204, 400, 413, 500 */
    char *body;               /* malloc'd JSON text, or NULL for an empty body (204) */
    size_t body_len;          /* 0: strlen(body); else the length of a binary body */
    const char *content_type; /* NULL: application/json */
};

/* Create an API object for instance ID (NULL: "anonymous-instance"), with default
 * configuration. Returns NULL when out of memory. */
struct api *api_new(const char *id);
/* Stop and destroy the VM if one runs, close telemetry files, free everything. */
void api_free(struct api *api);

/* Handle one request: METHOD and PATH (no query string) with BODY of LEN bytes (LEN 0: no body).
 * Fills OUT (the caller frees it with api_reply_free). Thread-safe; never blocks on the guest. */
void api_handle(struct api *api, const char *method, const char *path, const char *body, size_t len,
                struct api_reply *out);
void api_reply_free(struct api_reply *r);

/* Apply a Firecracker full-configuration JSON document (boot-source, drives, machine-config,
 * network-interfaces, vsock, entropy, serial, logger, metrics, cpu-config) of LEN bytes to API,
 * then run config_validate(). On error returns -EINVAL with one line in ERR that starts with the
 * JSON path of the offending field ("drives[1].path_on_host: ..."). */
int api_load_config(struct api *api, const char *json, size_t len, char *err, size_t errlen);

/* Largest request body accepted by default (Firecracker's --http-api-max-payload-size). */
#define API_MAX_PAYLOAD_DEFAULT 51200

#endif
