/* cli.h — command-line front end: `truce run|check|--help|--version`. */
#ifndef TRUCE_CLI_H
#define TRUCE_CLI_H

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
    const struct snapshot_overrides *ov;
};
int cli_run(const struct cli_vm_source *src);

/* `truce restore` / `truce migrate-receive` (ARGV[0] is the command): parse, build the VM from
 * the snapshot or the incoming migration, run it here. Returns the exit status. */
int cli_restore_main(int argc, char **argv);

/* Read the CpuConfig JSON file PATH into T. Returns 0 or -EINVAL with ERR naming the field. */
struct cpu_template;
int cli_load_cpu_template(const char *path, struct cpu_template *t, char *err, size_t errlen);
/* `truce cpu-template ...` (ARGV[0] is "cpu-template"). Returns the exit status. */
int cli_cpu_template_main(int argc, char **argv);

int cli_main(int argc, char **argv);
void cli_usage(FILE *out);

#endif
