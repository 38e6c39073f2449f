/* cli.h — command-line front end: `truce run|check|--help|--version`. */
#ifndef TRUCE_CLI_H
#define TRUCE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "platform/config.h"

/* Parse `run` options (ARGV[0] is "run") into CFG (defaults applied first) and validate them.
 * Returns 0, 1 when --help was asked (usage printed), or -EINVAL with one line in ERR. */
int cli_parse_run(int argc, char **argv, struct vm_config *cfg, char *err, size_t errlen);

/* Run one VM to completion in this process: open /dev/kvm, warn on PVM hosts, create, start,
 * wait, print the one-line reason, tear down. Returns the process exit status. */
int cli_run_vm(const struct vm_config *cfg);

/* Where cli_run gets its VM: CFG booted afresh, or SNAPSHOT + MEM restored (OV applied). */
struct snapshot_overrides;
struct cli_vm_source {
    const struct vm_config *cfg;
    const char *snapshot, *mem;
    const char *listen; /* migrate-receive: build the VM from the source that connects here */
    int wait_ms;        /* ... at most this long after listening (<0: no limit) */
    const struct snapshot_overrides *ov;
    /* set: CFG is this malloc'd configuration, which cli_run frees as soon as the VM holds its
     * own copy (a VM's pages are what N VMs cost: bench/footprint.sh) and on every error path */
    struct vm_config *own_cfg;
};
int cli_run(const struct cli_vm_source *src);

/* `truce restore` / `truce migrate-receive` (ARGV[0] is the command): parse, build the VM from
 * the snapshot or the incoming migration, run it here. Returns the exit status. */
int cli_restore_main(int argc, char **argv);
/* `truce snapshot-rebase --base-mem F --diff-mem D`. Returns the exit status. */
int cli_rebase_main(int argc, char **argv);

/* Read the CpuConfig JSON file PATH into T. Returns 0 or -EINVAL with ERR naming the field. */
struct cpu_template;
int cli_load_cpu_template(const char *path, struct cpu_template *t, char *err, size_t errlen);
/* `truce cpu-template ...` (ARGV[0] is "cpu-template"). Returns the exit status. */
int cli_cpu_template_main(int argc, char **argv);

/* ---- the firecracker command line (cli_firecracker.c) ----------------------------------------
 * Started under the name `firecracker` (ARGV0's basename), truce takes Firecracker's process
 * flags with Firecracker's rules: `--name value` only, no `=`; a value never starts with "--";
 * each flag at most once; `--help`/`-h` or `--version` anywhere wins; arguments after "--" are
 * ignored. */
#define FC_COMPAT_VERSION   "1.17.0-dev" /* the Firecracker release whose API truce follows */
#define FC_DEFAULT_API_SOCK "/run/firecracker.socket"
#define FC_NFLAGS           23
#define FC_MSG_UNEXPECTED                                                                          \
    "Found argument '%s' which wasn't expected, or isn't valid in this context."
struct fc_args {
    bool help;
    bool set[FC_NFLAGS];          /* flag given */
    const char *value[FC_NFLAGS]; /* its value (flags that take one) */
};
bool cli_is_firecracker(const char *argv0);
/* Parse ARGV (ARGV[0] is the program) into A. Returns 0 or -EINVAL with Firecracker's message for
 * the first problem in ERR (unexpected or repeated flag, missing value, missing or forbidden
 * companion flag). Values are not checked here. */
int cli_fc_parse(int argc, char **argv, struct fc_args *a, char *err, size_t errlen);
/* NAME's value: given, else Firecracker's default (api-sock, id, http-api-max-payload-size), else
 * NULL. */
const char *cli_fc_value(const struct fc_args *a, const char *name);
/* NAME was given. */
bool cli_fc_flag(const struct fc_args *a, const char *name);
/* The values into O, checked (instance id, numbers). Returns 0 or -EINVAL with ERR. */
struct api_opts;
int cli_fc_options(const struct fc_args *a, struct api_opts *o, char *err, size_t errlen);
/* Firecracker's exit code for the truce status STATUS (guest reboot and poweroff are 0). */
int cli_fc_exit_status(int status);
/* Run as Firecracker's binary: returns its exit code. */
int cli_firecracker_main(int argc, char **argv);

/* `--mmds SPEC` (version=V1|V2, ipv4=ADDR, imds_compat=on|off, data=FILE) into cfg->mmds
 * (cli_mmds.c). Returns 0 or -EINVAL with ERR. */
int cli_parse_mmds(struct vm_config *cfg, const char *spec, char *err, size_t errlen);
/* The data store for M, filled from M->cli_data when set. NULL with ERR on failure. */
struct mmds;
struct mmds *cli_mmds_open(const struct mmds_config *m, char *err, size_t errlen);

int cli_main(int argc, char **argv);
/* `truce screenshot --api-sock PATH -o FILE.png` (cli_screenshot.c): 0, 1 (the API or the socket
 * failed) or TRUCE_EXIT_USAGE, with one line on stderr. */
int cli_screenshot_main(int argc, char **argv);
void cli_usage(FILE *out);

#endif
