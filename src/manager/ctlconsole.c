/* ctlconsole.c — `trucectl console NAME`: the WebSocket handshake as a client, then the terminal
 * in raw mode relayed to the VM's serial console (masked frames out, frames in to stdout). */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "manager/ctlconsole.h"
#include "manager/hclient.h"
#include "manager/ws.h"

#define DETACH   0x1d /* Ctrl-] */
#define HEAD_MAX 16384
#define RX_CAP   (WS_MAX_PAYLOAD + WS_MAX_HEAD)

/* A masked frame, as a client must send. */
static int send_frame(int fd, int op, const uint8_t *p, size_t n)
{
    uint8_t head[WS_MAX_HEAD], mask[4], buf[4096];
    if (getrandom(mask, sizeof(mask), 0) != sizeof(mask))
        return -EIO;
    if (hc_send_all(fd, head, ws_head(head, op, n, mask)) < 0)
        return -EIO;
    for (size_t off = 0; off < n; off += sizeof(buf)) {
        size_t k = n - off < sizeof(buf) ? n - off : sizeof(buf);
        memcpy(buf, p + off, k);
        ws_mask(buf, k, mask, off);
        if (hc_send_all(fd, buf, k) < 0)
            return -EIO;
    }
    return 0;
}

/* Send the upgrade and check the 101; prints truced's error otherwise. Leftover bytes after the
 * head go to RX. Returns 0 or the exit status. */
static int upgrade(int fd, const char *token, const char *name, uint8_t *rx, size_t *rxlen)
{
    uint8_t nonce[16];
    char key[WS_KEY_LEN + 1], want[WS_ACCEPT_LEN + 1], req[1024], head[HEAD_MAX + 1];
    if (getrandom(nonce, sizeof(nonce), 0) != sizeof(nonce))
        return 3;
    EVP_EncodeBlock((unsigned char *)key, nonce, sizeof(nonce));
    ws_accept_key(key, want);
    int n = snprintf(req, sizeof(req),
                     "GET /v1/vms/%s/console HTTP/1.1\r\nHost: truced\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                     "%s%s%s\r\n",
                     name, key, token ? "Authorization: Bearer " : "", token ? token : "",
                     token ? "\r\n" : "");
    if (n >= (int)sizeof(req) || hc_send_all(fd, req, n) < 0)
        return 3;
    size_t len = 0;
    char *end = NULL;
    while (!end && len < HEAD_MAX) {
        ssize_t r = recv(fd, head + len, HEAD_MAX - len, 0);
        if (r <= 0)
            break;
        len += r;
        head[len] = 0;
        end = strstr(head, "\r\n\r\n");
    }
    int status = 0;
    if (!end || sscanf(head, "HTTP/1.1 %d", &status) != 1) {
        fprintf(stderr, "trucectl: console %s: no answer from truced\n", name);
        return 3;
    }
    if (status != 101) { /* a JSON error: read the rest of it */
        while (len < HEAD_MAX) {
            ssize_t r = recv(fd, head + len, HEAD_MAX - len, 0);
            if (r <= 0)
                break;
            len += r;
        }
        head[len] = 0;
        json_t *j = json_loads(strstr(head, "\r\n\r\n") + 4, 0, NULL);
        const char *msg = json_string_value(json_object_get(j, "error"));
        fprintf(stderr, "trucectl: %d: %s\n", status, msg ? msg : "refused");
        json_decref(j);
        return 1;
    }
    const char *acc = strcasestr(head, "\r\nSec-WebSocket-Accept:");
    if (!acc || acc > end || strncmp(acc + 23 + strspn(acc + 23, " "), want, WS_ACCEPT_LEN)) {
        fprintf(stderr, "trucectl: console %s: wrong Sec-WebSocket-Accept\n", name);
        return 3;
    }
    size_t rest = len - (end + 4 - head);
    memcpy(rx, end + 4, rest);
    *rxlen = rest;
    return 0;
}

/* Frames from truced: payload to stdout; 1 when closed, <0 on a protocol error. */
static int server_frames(int fd, struct ws_parser *p, uint8_t *rx, size_t *rxlen)
{
    size_t off = 0;
    int rc = 0;
    while (!rc) {
        struct ws_frame f;
        const char *why;
        int n = ws_parse(p, rx + off, *rxlen - off, &f, &why);
        if (n == 0)
            break;
        if (n < 0) {
            fprintf(stderr, "\r\ntrucectl: console: %s\r\n", why);
            return -EPROTO;
        }
        off += n;
        if (f.opcode == WS_CLOSE) {
            int code = f.len >= 2 ? f.payload[0] << 8 | f.payload[1] : 1005;
            fprintf(stderr, "\r\ntrucectl: console closed (%d%s%.*s)\r\n", code,
                    f.len > 2 ? ": " : "", f.len > 2 ? (int)f.len - 2 : 0, f.payload + 2);
            send_frame(fd, WS_CLOSE, f.payload, f.len >= 2 ? 2 : 0);
            rc = 1;
        } else if (f.opcode == WS_PING) {
            send_frame(fd, WS_PONG, f.payload, f.len);
        } else if (f.opcode != WS_PONG) {
            for (size_t w = 0; w < f.len;) {
                ssize_t k = write(STDOUT_FILENO, f.payload + w, f.len - w);
                if (k <= 0 && errno != EINTR)
                    break;
                w += k > 0 ? k : 0;
            }
        }
    }
    memmove(rx, rx + off, *rxlen - off);
    *rxlen -= off;
    return rc;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int ctl_console(const char *addr, const char *token, const char *name, int linger_ms)
{
    int fd = hc_connect(addr);
    if (fd < 0) {
        fprintf(stderr, "trucectl: %s: %s\n", addr, strerror(-fd));
        return 3;
    }
    uint8_t *rx = malloc(RX_CAP);
    size_t rxlen = 0;
    int st = rx ? upgrade(fd, token, name, rx, &rxlen) : 3, rc = 0;
    if (st) {
        free(rx);
        close(fd);
        return st;
    }
    struct termios saved, raw;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (tty) {
        raw = saved;
        cfmakeraw(&raw);
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
        fprintf(stderr, "trucectl: attached to %s's console; Ctrl-] detaches\r\n", name);
    }
    struct ws_parser p = {.server = false, .max_payload = WS_MAX_PAYLOAD};
    bool in_open = true;
    long long deadline = 0;
    while (!rc) {
        if (rxlen && (rc = server_frames(fd, &p, rx, &rxlen)) != 0)
            break;
        struct pollfd pf[2] = {{fd, POLLIN, 0}, {in_open ? STDIN_FILENO : -1, POLLIN, 0}};
        int left = in_open ? -1 : (int)(deadline - now_ms());
        if (!in_open && left <= 0) {
            send_frame(fd, WS_CLOSE, (const uint8_t *)"\x03\xe8", 2);
            break;
        }
        if (poll(pf, 2, left) < 0 && errno != EINTR)
            break;
        if (pf[0].revents) {
            ssize_t n = recv(fd, rx + rxlen, RX_CAP - rxlen, 0);
            if (n <= 0) {
                fprintf(stderr, "\r\ntrucectl: console: truced closed the connection\r\n");
                break;
            }
            rxlen += n;
        }
        if (pf[1].revents) {
            uint8_t in[4096];
            ssize_t n = read(STDIN_FILENO, in, sizeof(in));
            if (n <= 0) {
                in_open = false;
                deadline = now_ms() + linger_ms;
                continue;
            }
            uint8_t *det = tty ? memchr(in, DETACH, n) : NULL;
            if (send_frame(fd, WS_BINARY, in, det ? det - in : n) < 0)
                break;
            if (det) {
                send_frame(fd, WS_CLOSE, (const uint8_t *)"\x03\xe8", 2);
                fprintf(stderr, "\r\ntrucectl: detached\r\n");
                break;
            }
        }
    }
    if (tty)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    free(rx);
    close(fd);
    return rc < 0 ? 3 : 0;
}
