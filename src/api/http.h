/* http.h — the API's HTTP/1.1 request-head parser: strict, bounded, no allocation. */
#ifndef TRUCE_API_HTTP_H
#define TRUCE_API_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEAD    16384 /* request line + headers */
#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_TARGET  1024 /* request target, query included */

struct http_head {
    char method[8];
    char path[256];  /* the target without its query */
    bool keep_alive; /* HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with keep-alive */
    bool have_length;
    uint64_t content_length;
    bool expect_continue;
    size_t head_len; /* bytes of the head, final CRLF included */
    int status;      /* on error: the HTTP status to answer (400, 413, 414, 417, 431, 505) */
    char error[128]; /* on error: why, for the fault_message */
};

/* Parse the request head at the start of BUF (LEN bytes received so far). Bodies longer than
 * MAX_BODY are refused. Returns 1 when the head is complete (H filled, H->head_len set), 0 when
 * more bytes are needed, or -EINVAL with H->status and H->error (answer, then close). */
int http_parse_head(const char *buf, size_t len, size_t max_body, struct http_head *h);

#endif
