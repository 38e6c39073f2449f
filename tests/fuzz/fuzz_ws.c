/* fuzz_ws.c — libFuzzer target: truced's WebSocket framing (src/manager/ws.c). The first byte
 * picks the side (client frames must be masked, server frames must not) and the payload bound;
 * the rest is parsed as a stream of frames, carrying the fragmentation state from frame to frame
 * as a connection does. Also the handshake key and the UTF-8 check on the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manager/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct ws_parser p = {.server = data[0] & 1,
                          .max_payload = (data[0] & 2) ? 125 : WS_MAX_PAYLOAD};
    uint8_t *buf = malloc(size); /* exactly the input: ASan sees any read past it */
    if (!buf)
        return 0;
    memcpy(buf, data + 1, size - 1);
    size_t off = 0, len = size - 1;
    for (;;) {
        struct ws_frame f;
        const char *why = NULL;
        int n = ws_parse(&p, buf + off, len - off, &f, &why);
        if (n <= 0) {
            if (n < 0 && (!why || (n != -1002 && n != -1009)))
                abort(); /* an error always names its reason and a close code */
            break;
        }
        if ((size_t)n > len - off || f.len > p.max_payload || f.payload + f.len != buf + off + n)
            abort();
        if (f.opcode == WS_TEXT)
            ws_utf8_ok(f.payload, f.len);
        off += n;
    }
    char key[WS_KEY_LEN + 1], acc[WS_ACCEPT_LEN + 1];
    size_t k = size - 1 < WS_KEY_LEN ? size - 1 : WS_KEY_LEN;
    memcpy(key, data + 1, k);
    key[k] = 0;
    if (ws_accept_key(key, acc) == 0 && strlen(acc) != WS_ACCEPT_LEN)
        abort();
    uint8_t head[WS_MAX_HEAD];
    const uint8_t mask[4] = {data[0], 1, 2, 3};
    if (ws_head(head, WS_BINARY, size, (data[0] & 4) ? mask : NULL) > WS_MAX_HEAD)
        abort();
    free(buf);
    return 0;
}
