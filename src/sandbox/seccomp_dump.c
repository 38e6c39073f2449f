/* seccomp_dump.c — `truce seccomp dump`: the built-in lists as text, and their syscall counts. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sandbox/sandbox.h"
#include "vm/vm.h"

unsigned sandbox_list_count(const struct sandbox_list *list)
{
    unsigned n = 0;
    for (size_t i = 0; i < list->nrules; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = list->rules[j].nr == list->rules[i].nr;
        n += !seen;
    }
    return n;
}

void sandbox_dump(FILE *out)
{
    fprintf(out, "# kind  syscall  argument rule  # who needs it\n");
    for (int k = 0; k < SANDBOX_NKINDS; k++) {
        const struct sandbox_list *l = &sandbox_lists[k];
        for (size_t i = 0; i < l->nrules; i++) {
            const struct sandbox_rule *r = &l->rules[i];
            char rule[256];
            snprintf(rule, sizeof(rule), "%s%s%s%s%s%s%s%s%s%s", r->nargs ? r->argtext : "any",
                     r->fail_errno ? " -> fails with " : "",
                     r->fail_errno ? strerrorname_np(r->fail_errno) : "",
                     r->only & SANDBOX_IF_USERNET ? " (only with --net user)" : "",
                     r->only & SANDBOX_IF_VSOCK ? " (only with --vsock)" : "",
                     r->only & SANDBOX_IF_RNG ? " (only with --rng)" : "",
                     r->only & SANDBOX_IF_MMDS ? " (only with MMDS)" : "",
                     r->only & SANDBOX_IF_FLASH ? " (only with --firmware)" : "",
                     r->only & SANDBOX_IF_DISPLAY ? " (only with --display)" : "",
                     r->only & SANDBOX_IF_VHOST ? " (only with vhost=on)" : "");
            fprintf(out, "%-5s %-16s %-24s # %s\n", l->kind, r->name, rule, r->why);
        }
    }
    for (size_t i = 0; i < sandbox_common_nrules; i++)
        fprintf(out, "%-5s %-16s %-24s # %s\n", "all", sandbox_common_rules[i].name, "any",
                sandbox_common_rules[i].why);
    fprintf(out, "# syscalls per kind:");
    for (int k = 0; k < SANDBOX_NKINDS; k++)
        fprintf(out, " %s %u%s", sandbox_lists[k].kind, sandbox_list_count(&sandbox_lists[k]),
                k + 1 < SANDBOX_NKINDS ? "," : "\n");
}

int sandbox_main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "dump")) {
        sandbox_dump(stdout);
        return 0;
    }
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: truce seccomp dump    print the built-in seccomp lists\n");
        return 0;
    }
    fprintf(stderr, "truce: seccomp: %s (usage: truce seccomp dump)\n",
            argc < 2 ? "missing subcommand" : "unknown subcommand");
    return TRUCE_EXIT_USAGE;
}
