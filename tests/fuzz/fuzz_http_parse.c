/* fuzz_http_parse.c — libFuzzer target: the HTTP request-head parser alone (fast, exhaustive). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_head h;
    /* every prefix is a valid state of a connection that is still receiving */
    for (size_t len = size > 64 ? size - 64 : 0; len <= size; len++) {
        int rc = http_parse_head((const char *)data, len, 51200, &h);
        if (rc == 1 && (h.head_len > len || h.head_len >= HTTP_MAX_HEAD || h.path[0] != '/' ||
                        !h.method[0] || h.content_length > 51200))
            __builtin_trap();
        if (rc < 0 && (h.status < 400 || h.status > 505 || !h.error[0]))
            __builtin_trap();
        if (rc == 0 && len >= HTTP_MAX_HEAD)
            __builtin_trap();
    }
    return 0;
}
