/* slirp_lib.h — libslirp, loaded only by a VM that asks for user networking (dlopen). */
#ifndef TRUCE_SLIRP_LIB_H
#define TRUCE_SLIRP_LIB_H

#include <slirp/libslirp.h>
#include <stddef.h>

/* The libslirp entry points truce uses, typed from the library's own header. */
struct slirp_lib {
    __typeof__(slirp_new) *new_;
    __typeof__(slirp_cleanup) *cleanup;
    __typeof__(slirp_input) *input;
    __typeof__(slirp_pollfds_fill) *pollfds_fill;
    __typeof__(slirp_pollfds_poll) *pollfds_poll;
    __typeof__(slirp_add_hostfwd) *add_hostfwd;
    __typeof__(slirp_handle_timer) *handle_timer;
};

/* Load libslirp (SLIRP_SONAME) and with it glib, once per process; a VM without --net user
 * maps neither. Returns the table, or NULL with one line in ERR naming the library and the
 * package to install. Thread-safe. */
#define SLIRP_SONAME "libslirp.so.0"
const struct slirp_lib *slirp_lib_get(char *err, size_t errlen);

#endif
