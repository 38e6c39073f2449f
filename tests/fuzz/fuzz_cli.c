/* fuzz_cli.c — libFuzzer target: the command-line parsers, `truce run` (flags and config
 * validation), `truce jail` (Firecracker jailer flags) and the `firecracker` command line. The
 * input is the argument list, NUL-separated; a first argument "jail" or "firecracker" selects
 * that parser, anything else is parsed as the arguments of `run`. The contract of both: 0 (parsed
 * and valid), 1 (--help) or -EINVAL with a message naming what is wrong (one line, unless it quotes
 * an argument that holds a newline). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cli.h"
#include "sandbox/jail.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vm_config cfg;
    static struct jail_config jc;
    char *buf = malloc(size + 1), *argv[MAX_ARGS + 2], err[512] = "";
    int argc = 0, rc;
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    argv[argc++] = "run";
    for (char *p = buf; p <= buf + size && argc <= MAX_ARGS; p += strlen(p) + 1)
        argv[argc++] = p;
    argv[argc] = NULL;
    if (argc > 1 && !strcmp(argv[1], "jail")) {
        rc = jail_parse(argc - 1, argv + 1, &jc, err, sizeof(err));
    } else if (argc > 1 && !strcmp(argv[1], "firecracker")) {
        struct fc_args fa;
        struct api_opts o;
        rc = cli_fc_parse(argc - 1, argv + 1, &fa, err, sizeof(err));
        if (!rc)
            rc = cli_fc_options(&fa, &o, err, sizeof(err));
    } else {
        rc = cli_parse_run(argc, argv, &cfg, err, sizeof(err));
    }
    if ((rc != 0 && rc != 1 && rc != -EINVAL) || (rc < 0 && !err[0])) {
        fprintf(stderr, "fuzz_cli: %s parser returned %d with \"%s\"\n", argv[1], rc, err);
        abort();
    }
    free(buf);
    return 0;
}
