/* ui_lib.c — dlopen of libpng and libvncserver: a display costs nothing until a VM asks for it. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui/ui_lib.h"
#include "util/util.h"

static struct png_lib png;
static struct vnc_lib vnc;
static char png_load_error[256], vnc_load_error[256];
static pthread_once_t png_once = PTHREAD_ONCE_INIT, vnc_once = PTHREAD_ONCE_INIT;

/* Resolve NAME of SONAME into *SLOT; false (with ERR) when the library lacks it. */
static bool sym(void *h, const char *soname, const char *name, void *slot, char *err)
{
    return dl_sym(h, soname, name, slot, "library too old?", err, 256);
}

static void *open_lib(const char *soname, const char *pkg, char *err)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        snprintf(err, 256, "the display needs %s (Debian package %s): %s", soname, pkg, dlerror());
    return h;
}

static void png_load(void)
{
    void *h = open_lib(PNG_SONAME, "libpng16-16", png_load_error);
    struct png_lib l;
#define S(f, n) sym(h, PNG_SONAME, n, &l.f, png_load_error)
    if (h && S(create_write_struct, "png_create_write_struct") &&
        S(create_info_struct, "png_create_info_struct") &&
        S(destroy_write_struct, "png_destroy_write_struct") &&
        S(set_longjmp_fn, "png_set_longjmp_fn") && S(set_write_fn, "png_set_write_fn") &&
        S(get_io_ptr, "png_get_io_ptr") && S(set_IHDR, "png_set_IHDR") &&
        S(set_compression_level, "png_set_compression_level") && S(set_filter, "png_set_filter") &&
        S(write_info, "png_write_info") && S(write_row, "png_write_row") &&
        S(write_end, "png_write_end"))
        png = l; /* the library stays loaded for the process's life */
    else if (h)
        dlclose(h);
#undef S
}

static void vnc_load(void)
{
    /* Debian's libvncserver links GnuTLS (for TLS WebSockets, which truce does not offer), whose
     * constructor initialises the library at load time: it loads p11-kit's trust modules and
     * fills its tables, about 0.8 MiB of resident memory (bench/display.sh). This asks it not to;
     * libvncserver initialises GnuTLS itself before any TLS use. A value the user set is kept. */
    bool set = !getenv("GNUTLS_NO_IMPLICIT_INIT") && !setenv("GNUTLS_NO_IMPLICIT_INIT", "1", 0);
    void *h = open_lib(VNC_SONAME, "libvncserver1", vnc_load_error);
    if (set)
        unsetenv("GNUTLS_NO_IMPLICIT_INIT");
    struct vnc_lib l;
#define S(f, n) sym(h, VNC_SONAME, n, &l.f, vnc_load_error)
    if (h && S(get_screen, "rfbGetScreen") && S(init_server, "rfbInitServerWithPthreadsAndZRLE") &&
        S(new_client, "rfbNewClient") && S(process_events, "rfbProcessEvents") &&
        S(check_fds, "rfbCheckFds") && S(mark_rect, "rfbMarkRectAsModified") &&
        S(shutdown_server, "rfbShutdownServer") && S(screen_cleanup, "rfbScreenCleanup") &&
        S(new_framebuffer, "rfbNewFramebuffer") &&
        S(check_password_by_list, "rfbCheckPasswordByList") &&
        S(client_iter, "rfbGetClientIterator") && S(client_next, "rfbClientIteratorNext") &&
        S(client_iter_release, "rfbReleaseClientIterator") && S(random_bytes, "rfbRandomBytes") &&
        S(encrypt_bytes, "rfbEncryptBytes") && S(log, "rfbLog") && S(err, "rfbErr"))
        vnc = l;
    else if (h)
        dlclose(h);
#undef S
}

const struct png_lib *png_lib_get(char *err, size_t errlen)
{
    pthread_once(&png_once, png_load);
    if (png.write_end)
        return &png;
    snprintf(err, errlen, "%s", png_load_error);
    return NULL;
}

const struct vnc_lib *vnc_lib_get(char *err, size_t errlen)
{
    pthread_once(&vnc_once, vnc_load);
    if (vnc.err)
        return &vnc;
    snprintf(err, errlen, "%s", vnc_load_error);
    return NULL;
}
