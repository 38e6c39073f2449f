/* wsconn.h — truced's WebSocket endpoints: a VM's serial console and its VNC screen. */
#ifndef TRUCE_MANAGER_WSCONN_H
#define TRUCE_MANAGER_WSCONN_H

#include <stdbool.h>
#include <stddef.h>

#include "manager/mgr.h"

/* Is the request head HEAD (LEN bytes) a WebSocket upgrade (Upgrade: websocket)? */
bool ws_is_upgrade(const char *head, size_t len);

/* Does the request's Sec-WebSocket-Protocol offer "bearer.TOKEN" (browsers cannot set an
 * Authorization header on a WebSocket)? */
bool ws_bearer_ok(const char *head, size_t len, const char *token);

/* Serve GET /v1/vms/NAME/{console,vnc} on FD as a WebSocket: check the VM and the handshake
 * (answering a JSON error when either is wrong), then relay until either side closes. PRE holds
 * PRELEN bytes the client sent after the head. Returns when the connection is done. */
void ws_serve(struct mgr *m, int fd, const char *head, size_t head_len, const char *name,
              const char *what, const char *pre, size_t prelen);

/* The value of header NAME in HEAD (LEN bytes) into OUT; false when absent (server.c). */
bool http_header(const char *head, size_t len, const char *name, char *out, size_t outlen);
/* Send answer A on FD (server.c). */
void http_respond(int fd, struct answer *a);

#endif
