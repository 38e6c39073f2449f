/* ui_lib.h — libpng and libvncserver, loaded (dlopen) only by a VM with a display: a VM without
 * one maps neither. */
#ifndef TRUCE_UI_LIB_H
#define TRUCE_UI_LIB_H

#include <png.h>
#include <rfb/rfb.h>
#include <stddef.h>

/* The libpng entry points truce uses, typed from the library's own header. */
struct png_lib {
    __typeof__(png_create_write_struct) *create_write_struct;
    __typeof__(png_create_info_struct) *create_info_struct;
    __typeof__(png_destroy_write_struct) *destroy_write_struct;
    __typeof__(png_set_longjmp_fn) *set_longjmp_fn;
    __typeof__(png_set_write_fn) *set_write_fn;
    __typeof__(png_get_io_ptr) *get_io_ptr;
    __typeof__(png_set_IHDR) *set_IHDR;
    __typeof__(png_set_compression_level) *set_compression_level;
    __typeof__(png_set_filter) *set_filter;
    __typeof__(png_write_info) *write_info;
    __typeof__(png_write_row) *write_row;
    __typeof__(png_write_end) *write_end;
};

/* The libvncserver entry points (and its two log hooks, which are variables). */
struct vnc_lib {
    __typeof__(rfbGetScreen) *get_screen;
    __typeof__(rfbInitServerWithPthreadsAndZRLE) *init_server;
    __typeof__(rfbNewClient) *new_client;
    __typeof__(rfbProcessEvents) *process_events;
    __typeof__(rfbCheckFds) *check_fds;
    __typeof__(rfbMarkRectAsModified) *mark_rect;
    __typeof__(rfbShutdownServer) *shutdown_server;
    __typeof__(rfbScreenCleanup) *screen_cleanup;
    __typeof__(rfbNewFramebuffer) *new_framebuffer;
    __typeof__(rfbCheckPasswordByList) *check_password_by_list;
    __typeof__(rfbGetClientIterator) *client_iter;
    __typeof__(rfbClientIteratorNext) *client_next;
    __typeof__(rfbReleaseClientIterator) *client_iter_release;
    __typeof__(rfbRandomBytes) *random_bytes;
    __typeof__(rfbEncryptBytes) *encrypt_bytes;
    rfbLogProc *log, *err;
};

#define PNG_SONAME "libpng16.so.16"
#define VNC_SONAME "libvncserver.so.1"
/* Load the library once per process. Return the table, or NULL with one line in ERR naming the
 * library and the Debian package. Thread-safe. */
const struct png_lib *png_lib_get(char *err, size_t errlen);
const struct vnc_lib *vnc_lib_get(char *err, size_t errlen);

#endif
