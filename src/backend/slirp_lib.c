/* slirp_lib.c — dlopen of libslirp: user networking costs nothing until a VM asks for it. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/slirp_lib.h"
#include "util/util.h"

static struct slirp_lib lib;
static char load_error[256];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Resolve NAME into *SLOT; false (with load_error) when the library lacks it. */
static bool sym(void *h, const char *name, void *slot)
{
    return dl_sym(h, SLIRP_SONAME, name, slot, "libslirp too old?", load_error, sizeof(load_error));
}

static void load(void)
{
    /* glib's slice allocator keeps per-size magazines and chunk caches (a heap page or more of
     * each VM's private memory) for the few objects libslirp allocates through it: plain malloc
     * instead, as glib itself does from 2.76 on. Read once, when glib starts (its constructor
     * runs inside dlopen); a value the user set is kept. */
    setenv("G_SLICE", "always-malloc", 0);
    void *h = dlopen(SLIRP_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(load_error, sizeof(load_error),
                 "user networking needs %s (Debian package libslirp0): %s", SLIRP_SONAME,
                 dlerror());
        return;
    }
    struct slirp_lib l;
    if (sym(h, "slirp_new", &l.new_) && sym(h, "slirp_cleanup", &l.cleanup) &&
        sym(h, "slirp_input", &l.input) && sym(h, "slirp_pollfds_fill", &l.pollfds_fill) &&
        sym(h, "slirp_pollfds_poll", &l.pollfds_poll) &&
        sym(h, "slirp_add_hostfwd", &l.add_hostfwd) &&
        sym(h, "slirp_handle_timer", &l.handle_timer))
        lib = l; /* the library stays loaded for the process's life */
    else
        dlclose(h);
}

const struct slirp_lib *slirp_lib_get(char *err, size_t errlen)
{
    pthread_once(&once, load);
    if (lib.new_)
        return &lib;
    snprintf(err, errlen, "%s", load_error);
    return NULL;
}
