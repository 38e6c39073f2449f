/* api.h — contract of the control plane: Firecracker-compatible REST API, config file, metrics. */
#ifndef TRUCE_API_H
#define TRUCE_API_H

#include <stdbool.h>
#include <stddef.h>

/* ---- entry point (api/api_main.c) -----------------------------------------------------------
 * `truce --api-sock PATH [--config-file FILE] [--no-api] [--id ID] [--log-path P] [--level L]
 *  [--show-level] [--show-log-origin] [--metrics-path P] [--http-api-max-payload-size N] ...`
 * Parses these top-level flags itself (ARGV[0] is the program name), serves the API and/or boots
 * the configured VM, and returns the process exit status: the VM's enum truce_status once it
 * ran, TRUCE_EXIT_USAGE for bad flags or configuration. */
int api_main(int argc, char **argv);
/* True when ARG (argv[1]) selects api_main rather than a subcommand. */
bool api_is_api_flag(const char *arg);

/* ---- the API object, usable without a socket (unit tests, fuzzing) ---------------------------
 * One struct api holds one VM's configuration-in-progress, its telemetry and its lifecycle. */
struct api;

struct api_reply {
    int status; /* HTTP status: 200, 204, 400, 413, 500 */
    char *body; /* malloc'd JSON text, or NULL for an empty body (204) */
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
