/* vnc.c — the display's host side: libraries loaded before the sandbox, and the VNC server
 * (libvncserver) on its own thread, with damage tracking and keyboard/pointer input to the guest
 * (virtio-input when its driver is up, else PS/2). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dev/dev.h"
#include "ui/ui.h"
#include "ui/ui_lib.h"
#include "ui/vnc_priv.h"
#include "util/util.h"
#include "virtio/virtio.h"
#include "vm/vm.h"

#define VNC_MAX_CLIENTS  8
#define VNC_TICK_US      33000 /* screen refresh while a client is connected (about 30 Hz) */
#define VNC_CLIENT_WAIT  2000  /* ms a client may stall a write before it is dropped */
#define VNC_INPUT_BUDGET 512   /* client messages read per refresh, at most */

static const struct device_ops ui_dev_ops;

static void vnc_log(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    line[strcspn(line, "\n")] = '\0';
    log_debug("vnc: %s", line);
}

/* ---- input ------------------------------------------------------------------------------- */

static void vnc_key(rfbBool down, rfbKeySym sym, rfbClientPtr cl)
{
    struct vnc *v = cl->screen->screenData;
    int rc = virtio_input_keysym(v->vm, (uint32_t)sym, down); /* -ENODEV: none, or no driver */
    if (rc == -ENODEV)
        rc = i8042_keysym(v->vm, (uint32_t)sym, down);
    if (rc == -ENOENT)
        v->keys_unmapped++;
    else if (rc < 0)
        v->keys_dropped++;
}

static void vnc_pointer(int mask, int x, int y, rfbClientPtr cl)
{
    struct vnc *v = cl->screen->screenData;
    int dz = (mask & 0x08) ? -1 : (mask & 0x10) ? 1 : 0; /* buttons 4 and 5: the wheel */
    unsigned buttons = (mask & 1) | (mask & 4 ? 2 : 0) | (mask & 2 ? 4 : 0);
    /* the absolute tablet when its driver is up, else relative PS/2 motion */
    int rc = virtio_input_pointer(v->vm, (unsigned)MAX(x, 0), (unsigned)MAX(y, 0), v->w, v->h, dz,
                                  buttons);
    if (rc == -ENODEV && v->have_ptr)
        i8042_mouse(v->vm, x - v->ptr_x, v->ptr_y - y, dz, buttons);
    else if (rc == -ENODEV)
        i8042_mouse(v->vm, 0, 0, dz, buttons);
    v->have_ptr = true;
    v->ptr_x = x;
    v->ptr_y = y;
    cl->screen->cursorX = x;
    cl->screen->cursorY = y;
}

static void vnc_client_gone(rfbClientPtr cl)
{
    struct vnc *v = cl->screen->screenData;
    v->nclients--;
}

static enum rfbNewClientAction vnc_new_client(rfbClientPtr cl)
{
    struct vnc *v = cl->screen->screenData;
    v->nclients++;
    cl->clientGoneHook = vnc_client_gone;
    v->full = true;
    return RFB_CLIENT_ACCEPT;
}

/* ---- screen ------------------------------------------------------------------------------ */

/* Give the server a framebuffer of W x H (a new mode). */
static int vnc_resize(struct vnc *v, unsigned w, unsigned h)
{
    uint32_t *fb = calloc((size_t)w * h, sizeof(uint32_t));
    uint32_t *scratch = calloc((size_t)w * h, sizeof(uint32_t));
    if (!fb || !scratch) {
        free(fb);
        free(scratch);
        return -ENOMEM;
    }
    v->L->new_framebuffer(v->screen, (char *)fb, (int)w, (int)h, 8, 3, 4);
    rfbPixelFormat *f = &v->screen->serverFormat; /* 0x00RRGGBB, little-endian */
    f->redShift = 16;
    f->greenShift = 8;
    f->blueShift = 0;
    free(v->fb);
    free(v->scratch);
    v->fb = fb;
    v->scratch = scratch;
    v->w = w;
    v->h = h;
    return 0;
}

/* Render rows [Y0, Y1) into the scratch line and copy the ones that changed; mark them. */
static void vnc_update_rows(struct vnc *v, const struct vga_mode *m, unsigned y0, unsigned y1)
{
    struct vga_image img = {
        .px = v->scratch, .width = m->width, .height = m->height, .stride = m->width};
    struct vga *g = v->g;
    pthread_mutex_lock(&g->lock);
    const uint8_t *low = gpa_to_hva(&v->vm->mem, VGA_LOW_BASE, VGA_LOW_SIZE);
    struct vga_mode now;
    vga_mode_get(&g->s, g->vram_size, &now);
    if (memcmp(&now, m, sizeof(now))) { /* changed meanwhile: the next tick sees it */
        pthread_mutex_unlock(&g->lock);
        return;
    }
    vga_render_rows(&g->s, m, g->vram, g->vram_size, low, &img, y0, y1);
    pthread_mutex_unlock(&g->lock);
    int first = -1, last = -1;
    size_t line = (size_t)m->width * sizeof(uint32_t);
    for (unsigned y = y0; y < y1; y++) {
        uint32_t *src = v->scratch + (size_t)y * m->width, *dst = v->fb + (size_t)y * m->width;
        if (!memcmp(src, dst, line))
            continue;
        memcpy(dst, src, line);
        first = first < 0 ? (int)y : first;
        last = (int)y;
    }
    if (first >= 0)
        v->L->mark_rect(v->screen, 0, first, (int)m->width, last + 1);
}

/* Copy [OFF, OFF + LEN) of the window at 0xA0000 into V's copy (clipped to it); CHANGED is set
 * when the copy differed. */
static void vnc_low_range(struct vnc *v, const uint8_t *low, uint64_t off, uint64_t len,
                          bool *changed)
{
    if (off >= VGA_LOW_SIZE)
        return;
    len = MIN(len, VGA_LOW_SIZE - off);
    if (memcmp(v->low + off, low + off, len)) {
        memcpy(v->low + off, low + off, len);
        *changed = true;
    }
}

/* Text and chain-4 screens are drawn from guest RAM at 0xA0000 (no dirty log covers it) and the
 * registers: whether what M draws from (its cells and fonts, or its pixels, and the registers)
 * changed since the last call. Re-rendering them on every tick instead cost the VNC thread a
 * third of the lab's emulated CPU with a client on a text screen. */
static bool vnc_low_changed(struct vnc *v, const struct vga_mode *m)
{
    struct vga *g = v->g;
    const uint8_t *low = gpa_to_hva(&v->vm->mem, VGA_LOW_BASE, VGA_LOW_SIZE);
    if (!low || (!v->low && !(v->low = calloc(1, VGA_LOW_SIZE))))
        return true;
    bool changed = false;
    uint64_t base = m->text_base - VGA_LOW_BASE;
    if (m->kind == VGA_TEXT) {
        vnc_low_range(v, low, base, 2ULL * m->cols * m->rows, &changed);
        for (unsigned i = 0; i < 2; i++)
            vnc_low_range(v, low, m->font_off[i], 256 * 32, &changed);
    } else {
        vnc_low_range(v, low, base, (uint64_t)m->stride * m->height, &changed);
    }
    struct vga_state regs;
    pthread_mutex_lock(&g->lock);
    memcpy(&regs, &g->s, sizeof(regs));
    pthread_mutex_unlock(&g->lock);
    regs.st1 = 0; /* the retrace toggle flips on every read of 0x3da */
    if (memcmp(&regs, &v->low_regs, sizeof(regs))) {
        memcpy(&v->low_regs, &regs, sizeof(regs));
        changed = true;
    }
    return changed;
}

/* One refresh: what changed since the last one reaches the clients. */
static void vnc_refresh(struct vnc *v)
{
    struct vga_mode m;
    vga_current_mode(v->g, &m);
    if (m.width != v->w || m.height != v->h) {
        if (vnc_resize(v, m.width, m.height) < 0)
            return; /* out of memory: the clients keep the old screen */
        v->full = true;
    }
    bool whole = v->full || memcmp(&m, &v->mode, sizeof(m)) || m.kind != VGA_VBE;
    /* text and chain 4: rendered when something they are drawn from changed (the check runs
     * every time, so that its copy stays current) */
    bool low_changed = (m.kind == VGA_TEXT || m.kind == VGA_CHAIN4) && vnc_low_changed(v, &m);
    if (m.kind != VGA_VBE && !low_changed && !v->full && !memcmp(&m, &v->mode, sizeof(m)))
        return;
    v->mode = m;
    v->full = false;
    /* VBE modes: only the rows whose pages the guest wrote (KVM's dirty log), when it works */
    if (!whole && vga_dirty_pages(v->g, v->dirty) == 0) {
        for (uint64_t p = 0; p < v->npages; p++) {
            if (!(v->dirty[p / 64] >> (p % 64) & 1))
                continue;
            uint64_t a = p * 4096, b = a + 4096;
            if (b <= m.offset || !m.stride)
                continue;
            uint64_t r0 = a > m.offset ? (a - m.offset) / m.stride : 0;
            uint64_t r1 = (b - m.offset + m.stride - 1) / m.stride;
            if (r0 < m.height)
                vnc_update_rows(v, &m, (unsigned)r0, (unsigned)MIN(r1, (uint64_t)m.height));
        }
        return;
    }
    if (m.kind == VGA_VBE)
        vga_dirty_pages(v->g, v->dirty); /* start a fresh dirty log from this full update */
    vnc_update_rows(v, &m, 0, m.height);
}

/* ---- the thread --------------------------------------------------------------------------- */

static void vnc_accept(struct vnc *v)
{
    int fd = accept4(v->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    if (v->nclients >= VNC_MAX_CLIENTS) {
        log_info("vnc: refusing a client: %d connected already", v->nclients);
        close(fd);
        return;
    }
    if (!v->L->new_client(v->screen, fd))
        log_info("vnc: a client could not be set up");
}

static void *vnc_thread(void *arg)
{
    struct vnc *v = arg;
    sigset_t set;
    sigfillset(&set);
    pthread_sigmask(SIG_SETMASK, &set, NULL);
    if (v->enter && v->enter(v->vm) < 0)
        return NULL; /* the VM is stopping already */
    while (!atomic_load(&v->stop)) {
        struct pollfd p[2] = {{.fd = v->listen_fd, .events = POLLIN},
                              {.fd = v->stop_fd, .events = POLLIN}};
        /* no client: sleep until one connects (an idle VNC server costs nothing) */
        if (poll(p, 2, v->nclients ? 0 : -1) > 0 && (p[0].revents & POLLIN))
            vnc_accept(v);
        if (!v->nclients)
            continue;
        vnc_refresh(v);
        /* Sleep until a client sends something or a tick passes, then read everything the
         * clients have sent before the next update is written: libvncserver reads one message
         * per client and then writes, and a client that left right after its last keys (its
         * socket reset by the unread updates) would lose every message still unread. */
        if (v->L->check_fds(v->screen, VNC_TICK_US) > 0)
            for (int i = 0; i < VNC_INPUT_BUDGET && v->L->check_fds(v->screen, 0) > 0; i++)
                ;
        v->L->process_events(v->screen, 0); /* the updates, and the clients that left */
    }
    return NULL;
}

/* ---- creation ----------------------------------------------------------------------------- */

static int vnc_listen(struct vnc *v, const struct display_config *d, char *err, size_t errlen)
{
    int fd = socket(d->vnc_unix ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return snprintf(err, errlen, "vnc: socket: %s", strerror(errno)), -errno;
    int one = 1, rc;
    if (d->vnc_unix) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", d->vnc_path);
        unlink(d->vnc_path);
        rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons(d->vnc_port),
                                .sin_addr.s_addr = htonl(d->vnc_ip)};
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
    }
    if (rc < 0 || listen(fd, 4) < 0) {
        int e = errno;
        close(fd);
        if (d->vnc_unix)
            return snprintf(err, errlen, "--display vnc=unix:%s: %s", d->vnc_path, strerror(e)), -e;
        return snprintf(err, errlen, "--display vnc: port %u: %s", d->vnc_port, strerror(e)), -e;
    }
    v->listen_fd = fd;
    return 0;
}

/* The password file's first line (VNC authentication uses its first 8 characters). */
static int vnc_password(struct vnc *v, const char *path, char *err, size_t errlen)
{
    uint8_t *buf;
    size_t len;
    int rc = read_file(path, 4096, &buf, &len);
    if (rc < 0)
        return snprintf(err, errlen, "--display password=%s: %s", path, strerror(-rc)), rc;
    size_t n = 0;
    while (n < len && buf[n] != '\n' && buf[n] != '\r' && buf[n])
        n++;
    if (!n) {
        free(buf);
        return snprintf(err, errlen, "--display password=%s: the first line is empty", path),
               -EINVAL;
    }
    buf[n] = '\0';
    /* VNC authentication's first use loads libgcrypt's state (files, syslog) and seeds the
     * challenge: do it now, while files can still be opened, not on the sandboxed thread */
    unsigned char c[CHALLENGESIZE];
    v->L->random_bytes(c);
    v->L->encrypt_bytes(c, (char *)buf);
    v->passwords[0] = (char *)buf;
    v->passwords[1] = NULL;
    v->screen->authPasswdData = v->passwords;
    v->screen->passwordCheck = v->L->check_password_by_list;
    return 0;
}

static int vnc_setup(struct vnc *v, const struct display_config *d, char *err, size_t errlen)
{
    if (!(v->L = vnc_lib_get(err, errlen)))
        return -ENOSYS;
    *v->L->log = vnc_log;
    *v->L->err = vnc_log;
    int rc = vnc_listen(v, d, err, errlen);
    if (rc)
        return rc;
    int argc = 0;
    v->screen = v->L->get_screen(&argc, NULL, 640, 480, 8, 3, 4);
    if (!v->screen)
        return snprintf(err, errlen, "vnc: out of memory"), -ENOMEM;
    rfbScreenInfoPtr s = v->screen;
    s->screenData = v;
    s->desktopName = v->vm->cfg.vm_id;
    s->port = s->ipv6port = -1; /* truce listens and accepts itself (TCP or UNIX) */
    s->httpPort = s->http6Port = -1;
    s->autoPort = FALSE;
    s->alwaysShared = TRUE;
    s->kbdAddEvent = vnc_key;
    s->ptrAddEvent = vnc_pointer;
    s->newClientHook = vnc_new_client;
    s->maxClientWait = VNC_CLIENT_WAIT;
    s->deferUpdateTime = 0;
    s->cursor =
        NULL; /* the guest draws its own pointer; the server would paint one into the screen */
    s->frameBuffer = NULL;
    if ((rc = vnc_resize(v, 640, 480)) < 0)
        return snprintf(err, errlen, "vnc: out of memory"), rc;
    if (d->password_file[0] && (rc = vnc_password(v, d->password_file, err, errlen)))
        return rc;
    v->L->init_server(s);
    v->npages = v->g->vram_size / 4096;
    v->dirty = calloc((v->npages + 63) / 64, sizeof(uint64_t));
    if ((v->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 || !v->dirty)
        return snprintf(err, errlen, "vnc: out of memory"), -ENOMEM;
    return 0;
}

static void ui_stop_dev(void *dev)
{
    struct vnc *v = dev;
    if (!v->started)
        return;
    atomic_store(&v->stop, true);
    uint64_t one = 1;
    if (write(v->stop_fd, &one, sizeof(one)) < 0)
        log_debug("vnc: cannot wake the server thread");
    pthread_join(v->thread, NULL);
    v->started = false;
    if (v->keys_unmapped || v->keys_dropped)
        log_warn("vnc: %" PRIu64 " key events had no PC key, %" PRIu64
                 " were dropped (no keyboard device, or its queue full)",
                 v->keys_unmapped, v->keys_dropped);
}

static void ui_destroy(void *dev)
{
    struct vnc *v = dev;
    ui_stop_dev(v);
    if (v->screen) {
        v->L->shutdown_server(v->screen, TRUE);
        v->screen->frameBuffer = NULL;
        v->L->screen_cleanup(v->screen);
    }
    if (v->listen_fd >= 0)
        close(v->listen_fd);
    if (v->stop_fd >= 0)
        close(v->stop_fd);
    if (v->unix_path[0])
        unlink(v->unix_path);
    free(v->passwords[0]);
    free(v->fb);
    free(v->scratch);
    free(v->dirty);
    free(v->low);
    free(v);
}

static const struct device_ops ui_dev_ops = {
    .name = "vnc", .stop = ui_stop_dev, .destroy = ui_destroy};

/* The "ui" class, created after every device: libpng for screenshots, and with vnc= the server
 * (its socket bound and its library loaded now, before the sandbox; its thread at vm start). */
static int ui_create(struct vm *vm, char *err, size_t errlen)
{
    const struct display_config *d = &vm->cfg.display;
    struct vga *g = vga_find(vm);
    if (d->kind == DISPLAY_NONE || !g)
        return 0;
    if (!png_lib_get(err, errlen))
        return -ENOSYS;
    /* Screenshots and screen buffers are large: fixed thresholds keep them in their own
     * mappings (freed with munmap) and stop glibc from shrinking a thread's heap, whose first
     * shrink reads /proc/sys/vm/overcommit_memory — a read the api and vnc threads' seccomp
     * lists do not allow. */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);
    mallopt(M_TRIM_THRESHOLD, 32 * 1024 * 1024);
    if (d->kind != DISPLAY_VNC)
        return 0;
    struct vnc *v = calloc(1, sizeof(*v));
    if (!v)
        return snprintf(err, errlen, "vnc: out of memory"), -ENOMEM;
    v->vm = vm;
    v->g = g;
    v->listen_fd = v->stop_fd = -1;
    int rc = vnc_setup(v, d, err, errlen);
    if (!rc && d->vnc_unix)
        snprintf(v->unix_path, sizeof(v->unix_path), "%s", d->vnc_path);
    if (!rc && (rc = device_add(vm, &ui_dev_ops, v)) < 0)
        snprintf(err, errlen, "vnc: out of memory");
    if (rc) {
        ui_destroy(v);
        return rc;
    }
    if (d->vnc_unix)
        log_info("vnc: listening on unix:%s", d->vnc_path);
    else
        log_info("vnc: listening on %u.%u.%u.%u:%u", d->vnc_ip >> 24, (d->vnc_ip >> 16) & 255,
                 (d->vnc_ip >> 8) & 255, d->vnc_ip & 255, d->vnc_port);
    return 0;
}

int ui_start(struct vm *vm, int (*enter)(struct vm *vm))
{
    struct vnc *v = device_find(vm, &ui_dev_ops);
    if (!v || v->started)
        return 0;
    v->enter = enter;
    int rc = -pthread_create(&v->thread, NULL, vnc_thread, v);
    v->started = rc == 0;
    return rc;
}

static const struct device_class ui_class = {
    .name = "ui",
    .order = DEV_ORDER_LATE + 10,
    .create = ui_create,
};
DEVICE_CLASS(ui_class);
