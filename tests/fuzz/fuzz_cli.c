/* fuzz_cli.c — libFuzzer target: `truce run` flag parsing and config validation. The input is
 * the argument list after "run", NUL-separated. The contract: 0 (parsed and valid), 1 (--help) or
 * -EINVAL with a message naming what is wrong (one line, unless it quotes an argument that itself
 * holds a newline). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vm_config cfg;
    char *buf = malloc(size + 1), *argv[MAX_ARGS + 2], err[512] = "";
    int argc = 0;
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    argv[argc++] = "run";
    for (char *p = buf; p <= buf + size && argc <= MAX_ARGS; p += strlen(p) + 1)
        argv[argc++] = p;
    argv[argc] = NULL;
    int rc = cli_parse_run(argc, argv, &cfg, err, sizeof(err));
    if ((rc != 0 && rc != 1 && rc != -EINVAL) || (rc < 0 && !err[0])) {
        fprintf(stderr, "fuzz_cli: cli_parse_run returned %d with \"%s\"\n", rc, err);
        abort();
    }
    free(buf);
    return 0;
}
