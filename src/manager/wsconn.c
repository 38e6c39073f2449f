/* wsconn.c — truced's WebSocket endpoints: the handshake, then a bounded relay between the client
 * and a VM's serial console (the FIFOs truce's stdio is on) or its VNC server's UNIX socket. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "manager/hclient.h"
#include "manager/ws.h"
#include "manager/wsconn.h"

#define RX_CAP     (WS_MAX_PAYLOAD + WS_MAX_HEAD) /* one whole frame from the client */
#define PEND_CAP   (2 * WS_MAX_PAYLOAD)           /* client bytes not yet taken by the VM */
#define OUT_CHUNK  16384                          /* VM bytes per frame to the client */
#define CTRL_A     0x01
#define MAX_ATTACH 64

/* One console client per VM at a time (two would steal each other's bytes from the FIFO). */
static pthread_mutex_t att_lock = PTHREAD_MUTEX_INITIALIZER;
static char attached[MAX_ATTACH][VM_NAME_MAX];

static bool attach_take(const char *name)
{
    int freeslot = -1;
    pthread_mutex_lock(&att_lock);
    for (int i = 0; i < MAX_ATTACH; i++) {
        if (!strcmp(attached[i], name)) {
            pthread_mutex_unlock(&att_lock);
            return false;
        }
        if (!attached[i][0] && freeslot < 0)
            freeslot = i;
    }
    if (freeslot >= 0)
        snprintf(attached[freeslot], VM_NAME_MAX, "%s", name);
    pthread_mutex_unlock(&att_lock);
    return freeslot >= 0;
}

static void attach_drop(const char *name)
{
    pthread_mutex_lock(&att_lock);
    for (int i = 0; i < MAX_ATTACH; i++)
        if (!strcmp(attached[i], name))
            attached[i][0] = 0;
    pthread_mutex_unlock(&att_lock);
}

bool ws_is_upgrade(const char *head, size_t len)
{
    char v[64];
    return http_header(head, len, "Upgrade", v, sizeof(v)) && !strcasecmp(v, "websocket");
}

/* Walk the comma-separated Sec-WebSocket-Protocol list; true when WANT (or bearer.TOKEN when
 * TOKEN) is offered. */
static bool proto_offered(const char *head, size_t len, const char *want, const char *token)
{
    char v[1024];
    if (!http_header(head, len, "Sec-WebSocket-Protocol", v, sizeof(v)))
        return false;
    for (char *save, *t = strtok_r(v, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (want && !strcmp(t, want))
            return true;
        if (token && !strncmp(t, "bearer.", 7)) {
            size_t a = strlen(token), b = strlen(t + 7);
            unsigned char d = a != b;
            for (size_t i = 0; i < a; i++)
                d |= (unsigned char)token[i] ^ (unsigned char)(i < b ? t[7 + i] : 0);
            if (!d)
                return true;
        }
    }
    return false;
}

bool ws_bearer_ok(const char *head, size_t len, const char *token)
{
    return proto_offered(head, len, NULL, token);
}

static int send_frame(int fd, int op, const void *p, size_t n)
{
    uint8_t head[WS_MAX_HEAD];
    size_t h = ws_head(head, op, n, NULL);
    return hc_send_all(fd, head, h) < 0 || hc_send_all(fd, p, n) < 0 ? -EIO : 0;
}

static void send_close(int fd, int code, const char *why)
{
    uint8_t b[125] = {code >> 8, code & 0xff};
    size_t n = strlen(why) > 120 ? 120 : strlen(why);
    memcpy(b + 2, why, n);
    send_frame(fd, WS_CLOSE, b, n + 2);
}

/* The handshake's answer; false (after a JSON error) when the request is not a valid one. */
static bool handshake(int fd, const char *head, size_t len)
{
    char key[64] = "", ver[16] = "", conn[256] = "", acc[WS_ACCEPT_LEN + 1];
    struct answer a = {0};
    http_header(head, len, "Connection", conn, sizeof(conn));
    http_header(head, len, "Sec-WebSocket-Version", ver, sizeof(ver));
    if (!strcasestr(conn, "upgrade"))
        fail(&a, 400, "Connection: must contain Upgrade for a WebSocket");
    else if (strcmp(ver, "13"))
        fail(&a, 400, "Sec-WebSocket-Version: '%s' is not 13", ver);
    else if (!http_header(head, len, "Sec-WebSocket-Key", key, sizeof(key)) ||
             ws_accept_key(key, acc) < 0)
        fail(&a, 400, "Sec-WebSocket-Key: missing or not the base64 of 16 bytes");
    if (a.body) {
        http_respond(fd, &a);
        json_decref(a.body);
        return false;
    }
    char out[512];
    int n = snprintf(
        out, sizeof(out),
        "HTTP/1.1 101 Switching Protocols\r\nServer: truced\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
        acc, proto_offered(head, len, "binary", NULL) ? "Sec-WebSocket-Protocol: binary\r\n" : "");
    return hc_send_all(fd, out, n) == 0;
}

struct relay {
    int client;         /* the WebSocket */
    int to_vm, from_vm; /* console: the FIFOs; VNC: one socket twice */
    bool escape_ctrl_a; /* console: Ctrl-A reaches the guest as itself, never as truce's escape */
    struct ws_parser p;
    int close_code;        /* 0: none to send; sent after the VM side is let go */
    const char *close_why; /* static */
    uint8_t *rx;
    size_t rxlen;
    uint8_t *pend;
    size_t pendlen, pendoff;
};

/* Queue payload bytes for the VM (doubling Ctrl-A on the console). */
static void queue_in(struct relay *r, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n && r->pendlen < PEND_CAP; i++) {
        r->pend[r->pendlen++] = b[i];
        if (b[i] == CTRL_A && r->escape_ctrl_a && r->pendlen < PEND_CAP)
            r->pend[r->pendlen++] = CTRL_A;
    }
}

/* Handle the frames in rx. Returns 0 to go on, 1 when the client closed, <0 on error. */
static int client_frames(struct relay *r)
{
    size_t off = 0;
    int rc = 0;
    while (!rc && r->pendlen == 0) {
        struct ws_frame f;
        const char *why;
        int n = ws_parse(&r->p, r->rx + off, r->rxlen - off, &f, &why);
        if (n == 0)
            break;
        if (n < 0) {
            r->close_code = -n, r->close_why = why;
            return -EPROTO;
        }
        off += n;
        if (f.opcode == WS_TEXT && f.fin && !ws_utf8_ok(f.payload, f.len)) {
            r->close_code = 1007, r->close_why = "text frame is not UTF-8";
            return -EPROTO;
        }
        if (f.opcode == WS_CLOSE) {
            r->close_code = f.len >= 2 ? f.payload[0] << 8 | f.payload[1] : 1000;
            r->close_why = "";
            rc = 1;
        } else if (f.opcode == WS_PING) {
            rc = send_frame(r->client, WS_PONG, f.payload, f.len);
        } else if (f.opcode != WS_PONG) {
            queue_in(r, f.payload, f.len);
        }
    }
    memmove(r->rx, r->rx + off, r->rxlen - off);
    r->rxlen -= off;
    return rc;
}

/* Write pending bytes to the VM without blocking. <0 when the VM's side is gone. */
static int flush_in(struct relay *r)
{
    while (r->pendoff < r->pendlen) {
        ssize_t w = write(r->to_vm, r->pend + r->pendoff, r->pendlen - r->pendoff);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (w <= 0)
            return -EIO;
        r->pendoff += w;
    }
    r->pendoff = r->pendlen = 0;
    return 0;
}

/* Hand the client's complete frames to the VM until one must wait for the VM to read.
 * Returns 0 to go on, 1 when the client closed, <0 on error. Every frame already received is
 * passed on here, not after the next poll: a client that sends several messages in one write
 * (noVNC's SetPixelFormat, SetEncodings and FramebufferUpdateRequest) is never left waiting. */
static int drain_client(struct relay *r)
{
    while (r->pendlen == 0 && r->rxlen) {
        size_t before = r->rxlen;
        int rc = client_frames(r);
        if (rc)
            return rc;
        if (flush_in(r) < 0) {
            r->close_code = 1001, r->close_why = "the VM's side closed";
            return -EIO;
        }
        if (r->rxlen == before)
            break; /* the rest of a frame is still on its way */
    }
    return 0;
}

static void relay(struct relay *r)
{
    uint8_t out[OUT_CHUNK];
    const char *end = "the VM's side closed";
    for (;;) {
        bool waiting = r->pendlen > 0;
        struct pollfd pf[3] = {{r->client, waiting ? 0 : POLLIN, 0},
                               {r->from_vm, POLLIN, 0},
                               {r->to_vm, waiting ? POLLOUT : 0, 0}};
        int nfds = r->to_vm == r->from_vm ? 2 : 3;
        if (r->to_vm == r->from_vm && waiting)
            pf[1].events |= POLLOUT;
        if (poll(pf, nfds, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (pf[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(r->from_vm, out, sizeof(out));
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                r->close_code = 1001, r->close_why = end;
                return;
            }
            if (n > 0 && send_frame(r->client, WS_BINARY, out, n) < 0)
                return;
        }
        if (waiting && flush_in(r) < 0) {
            r->close_code = 1001, r->close_why = end;
            return;
        }
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(r->client, r->rx + r->rxlen, RX_CAP - r->rxlen, 0);
            if (n <= 0)
                return;
            r->rxlen += n;
        }
        if (drain_client(r))
            return;
    }
}

/* Does the definition send the serial console to a file instead of truce's stdio? */
static const char *serial_file(json_t *cfg)
{
    return json_string_value(json_object_get(json_object_get(cfg, "serial"), "serial_out_path"));
}

/* Open the VM's end for WHAT; 0 with R's fds set, or fills A. */
static int open_vm_side(struct mgr *m, const struct vm_row *v, const char *what, struct relay *r,
                        struct answer *a)
{
    json_t *cfg = json_loads(v->config, 0, NULL);
    int rc = 0;
    if (strcmp(v->state, "running") && strcmp(v->state, "paused")) {
        rc =
            fail(a, 409, "VM '%s' is %s: a %s needs it running or paused", v->name, v->state, what);
    } else if (!strcmp(what, "console")) {
        char in[PATH_MAX], outp[PATH_MAX];
        snprintf(in, sizeof(in), "%s/vms/%s/console.in", m->state_dir, v->name);
        snprintf(outp, sizeof(outp), "%s/vms/%s/console.out", m->state_dir, v->name);
        if (serial_file(cfg))
            rc = fail(a, 409,
                      "VM '%s' writes its serial console to a file (serial.serial_out_path): "
                      "define it without one to attach",
                      v->name);
        else if ((r->to_vm = open(in, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0 ||
                 (r->from_vm = open(outp, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
            rc = fail(a, 409, "VM '%s' has no console FIFO (%s): started by an older truced?",
                      v->name, strerror(errno));
        r->escape_ctrl_a = true;
    } else {
        json_t *d = json_object_get(cfg, "display");
        const char *kind = json_string_value(json_object_get(d, "kind"));
        const char *vnc = json_string_value(json_object_get(d, "vnc"));
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (!kind || strcmp(kind, "vnc") || !vnc || strncmp(vnc, "unix:", 5) ||
            strlen(vnc + 5) >= sizeof(sa.sun_path)) {
            rc = fail(a, 409,
                      "VM '%s' has no VNC server on a UNIX socket (display.kind \"vnc\", "
                      "display.vnc \"unix:PATH\")",
                      v->name);
        } else {
            strcpy(sa.sun_path, vnc + 5);
            int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                rc = fail(a, 502, "VM '%s': VNC socket %s: %s", v->name, sa.sun_path,
                          strerror(errno));
                if (s >= 0)
                    close(s);
            } else { /* non-blocking: a VNC server that stops reading never stalls the relay */
                fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
                r->to_vm = r->from_vm = s;
            }
        }
    }
    json_decref(cfg);
    return rc;
}

void ws_serve(struct mgr *m, int fd, const char *head, size_t head_len, const char *name,
              const char *what, const char *pre, size_t prelen)
{
    struct answer a = {0};
    struct vm_row v = {0};
    struct relay r = {.client = fd, .to_vm = -1, .from_vm = -1};
    bool console = !strcmp(what, "console"), took = false;
    if (db_get(m->db, name, &v) < 0)
        fail(&a, 404, "no VM named '%s'", name);
    else if (console && !(took = attach_take(name)))
        fail(&a, 409, "the console of VM '%s' is attached by another client", name);
    else
        open_vm_side(m, &v, what, &r, &a);
    free(v.config);
    if (a.body) {
        http_respond(fd, &a);
        goto out;
    }
    if (!handshake(fd, head, head_len))
        goto out;
    r.p = (struct ws_parser){.server = true, .max_payload = WS_MAX_PAYLOAD};
    r.rx = malloc(RX_CAP);
    r.pend = malloc(PEND_CAP);
    if (r.rx && r.pend && prelen <= RX_CAP) {
        memcpy(r.rx, pre, prelen);
        r.rxlen = prelen;
        struct timeval tv = {0}; /* the relay waits in poll: no receive timeout */
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (drain_client(&r) == 0)
            relay(&r);
    }
    free(r.rx);
    free(r.pend);
out:
    json_decref(a.body);
    /* Let the VM's side go before the close frame: a client may reconnect as soon as it has it. */
    if (r.to_vm >= 0)
        close(r.to_vm);
    if (r.from_vm >= 0 && r.from_vm != r.to_vm)
        close(r.from_vm);
    if (took)
        attach_drop(name);
    if (r.close_code)
        send_close(fd, r.close_code, r.close_why);
}
