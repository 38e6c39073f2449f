/* seccomp_lib.c — libseccomp loaded on first use: a VM runs filters compiled at build time. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <seccomp.h>
#include <string.h>

#include "sandbox/sandbox.h"
#include "util/util.h"

/* build/truce loads the programs tools/seccomp_gen compiled at build time (seccomp_bpf.inc), so
 * a VM needs none of libseccomp: not linked, its pages (code, and the relocated data each process
 * keeps a private copy of) are mapped only by what compiles a filter: `truce seccomp` and binaries
 * whose lists differ from the build-time ones (sanitizer builds; those load it at start, before
 * Landlock would refuse the library's file). The functions below are libseccomp's own names and
 * prototypes (seccomp.h), forwarded; tools/seccomp_gen links the library itself. */
#define SECCOMP_SONAME "libseccomp.so.2"

static struct {
    scmp_filter_ctx (*init)(uint32_t);
    void (*release)(scmp_filter_ctx);
    int (*attr_set)(scmp_filter_ctx, enum scmp_filter_attr, uint32_t);
    int (*rule_add_exact_array)(scmp_filter_ctx, uint32_t, int, unsigned int,
                                const struct scmp_arg_cmp *);
    int (*export_bpf)(const scmp_filter_ctx, int);
    char *(*resolve_num_arch)(uint32_t, int);
} lib;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Resolve NAME into *SLOT; false (logged) when the library lacks it. */
static bool sym(void *h, const char *name, void *slot)
{
    char err[160];
    bool ok = dl_sym(h, SECCOMP_SONAME, name, slot, "libseccomp too old?", err, sizeof(err));
    if (!ok)
        log_err("seccomp: %s", err);
    return ok;
}

static void load(void)
{
    void *h = dlopen(SECCOMP_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        log_err("seccomp: compiling a filter needs %s (Debian package libseccomp2): %s",
                SECCOMP_SONAME, dlerror());
        return;
    }
    typeof(lib) l;
    if (sym(h, "seccomp_init", &l.init) && sym(h, "seccomp_release", &l.release) &&
        sym(h, "seccomp_attr_set", &l.attr_set) &&
        sym(h, "seccomp_rule_add_exact_array", &l.rule_add_exact_array) &&
        sym(h, "seccomp_export_bpf", &l.export_bpf) &&
        sym(h, "seccomp_syscall_resolve_num_arch", &l.resolve_num_arch))
        lib = l; /* stays loaded for the process's life */
    else
        dlclose(h);
}

static bool loaded(void)
{
    pthread_once(&once, load);
    return lib.init != NULL;
}

/* A binary that compiles its filters when its threads enter them loads the library now. */
__attribute__((constructor)) static void load_if_compiling(void)
{
    if (sandbox_sanitizer_nrules || !sandbox_prebuilt_count())
        pthread_once(&once, load);
}

scmp_filter_ctx seccomp_init(uint32_t def_action)
{
    return loaded() ? lib.init(def_action) : NULL;
}

void seccomp_release(scmp_filter_ctx ctx)
{
    if (ctx && loaded())
        lib.release(ctx);
}

int seccomp_attr_set(scmp_filter_ctx ctx, enum scmp_filter_attr attr, uint32_t value)
{
    return loaded() ? lib.attr_set(ctx, attr, value) : -ENOSYS;
}

int seccomp_rule_add_exact_array(scmp_filter_ctx ctx, uint32_t action, int syscall,
                                 unsigned int arg_cnt, const struct scmp_arg_cmp *arg_array)
{
    return loaded() ? lib.rule_add_exact_array(ctx, action, syscall, arg_cnt, arg_array) : -ENOSYS;
}

int seccomp_export_bpf(const scmp_filter_ctx ctx, int fd)
{
    return loaded() ? lib.export_bpf(ctx, fd) : -ENOSYS;
}

char *seccomp_syscall_resolve_num_arch(uint32_t arch_token, int num)
{
    return loaded() ? lib.resolve_num_arch(arch_token, num) : NULL;
}
