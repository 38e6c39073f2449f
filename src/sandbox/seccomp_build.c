/* seccomp_build.c — the built-in lists compiled to BPF with libseccomp (also linked into the
 * build-time generator tools/seccomp_gen.c, so it depends on nothing but the lists). */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

/* Add N RULES (those PARTS calls for) to CTX. Returns 0 or <0. */
static int add_rules(scmp_filter_ctx ctx, const struct sandbox_rule *rules, size_t n,
                     unsigned parts)
{
    for (size_t i = 0; i < n; i++) {
        const struct sandbox_rule *r = &rules[i];
        if (r->only && !(r->only & parts))
            continue;
        uint32_t act = r->fail_errno ? SCMP_ACT_ERRNO(r->fail_errno) : SCMP_ACT_ALLOW;
        int rc = seccomp_rule_add_exact_array(ctx, act, r->nr, r->nargs, r->args);
        if (rc < 0)
            return rc;
    }
    return 0;
}

scmp_filter_ctx sandbox_build_lists(enum sandbox_kind kind, unsigned parts, bool sanitizer)
{
    if ((unsigned)kind >= SANDBOX_NKINDS)
        return NULL;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
    if (!ctx)
        return NULL;
    /* i386 (int 0x80) and x32 calls are foreign architectures here: trapped as well. */
    if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP) < 0)
        goto fail;
    const struct sandbox_list *l = &sandbox_lists[kind];
    if (add_rules(ctx, l->rules, l->nrules, parts) < 0 ||
        add_rules(ctx, sandbox_common_rules, sandbox_common_nrules, parts) < 0 ||
        (sanitizer && add_rules(ctx, sandbox_sanitizer_rules, sandbox_sanitizer_nrules, parts) < 0))
        goto fail;
    return ctx;
fail:
    seccomp_release(ctx);
    return NULL;
}

scmp_filter_ctx sandbox_build(enum sandbox_kind kind, unsigned parts)
{
    return sandbox_build_lists(kind, parts, true);
}

/* The SANDBOX_IF_* bits of N RULES. */
static unsigned rules_parts(const struct sandbox_rule *rules, size_t n)
{
    unsigned parts = 0;
    for (size_t i = 0; i < n; i++)
        parts |= rules[i].only;
    return parts;
}

unsigned sandbox_parts_used(enum sandbox_kind kind)
{
    if ((unsigned)kind >= SANDBOX_NKINDS)
        return 0;
    return rules_parts(sandbox_lists[kind].rules, sandbox_lists[kind].nrules) |
           rules_parts(sandbox_common_rules, sandbox_common_nrules) |
           rules_parts(sandbox_sanitizer_rules, sandbox_sanitizer_nrules);
}

int sandbox_export(scmp_filter_ctx ctx, struct sock_filter **prog, unsigned short *len)
{
    /* libseccomp 2.5 exports to a file descriptor only: a memory file, read back whole */
    int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = seccomp_export_bpf(ctx, fd);
    off_t size = rc < 0 ? -1 : lseek(fd, 0, SEEK_END);
    if (rc >= 0 && (size <= 0 || size % sizeof(struct sock_filter) ||
                    size > (off_t)(BPF_MAXINSNS * sizeof(struct sock_filter))))
        rc = -E2BIG;
    struct sock_filter *p = rc < 0 ? NULL : malloc((size_t)size);
    if (rc >= 0 && !p)
        rc = -ENOMEM;
    if (rc >= 0 && pread(fd, p, (size_t)size, 0) != size)
        rc = -EIO;
    close(fd);
    if (rc < 0) {
        free(p);
        return rc;
    }
    *prog = p;
    *len = (unsigned short)(size / sizeof(struct sock_filter));
    return 0;
}
