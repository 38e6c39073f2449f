/* vnc_priv.h — the VNC server's state, shared by ui/vnc.c and its unit test. */
#ifndef TRUCE_VNC_PRIV_H
#define TRUCE_VNC_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dev/vga.h"
#include "ui/ui_lib.h"

struct vnc {
    struct vm *vm;
    struct vga *g;
    const struct vnc_lib *L;
    rfbScreenInfoPtr screen;
    int listen_fd, stop_fd;
    char unix_path[108]; /* removed at the end */
    char *passwords[2];  /* rfbCheckPasswordByList's list */
    pthread_t thread;
    bool started;
    atomic_bool stop;
    int (*enter)(struct vm *vm);
    /* server thread only */
    int nclients;
    uint32_t *fb, *scratch; /* what clients have / the render target, w x h */
    unsigned w, h;
    struct vga_mode mode; /* at the last refresh */
    bool full;            /* the next refresh compares every row */
    uint64_t *dirty;      /* KVM dirty log of the VRAM, npages bits */
    uint64_t npages;
    uint8_t *low;              /* text and chain-4: the 0xA0000 window as last rendered */
    struct vga_state low_regs; /* and the registers then */
    bool have_ptr;
    int ptr_x, ptr_y;
    uint64_t keys_unmapped, keys_dropped;
};

#endif
