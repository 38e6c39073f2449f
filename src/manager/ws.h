/* ws.h — RFC 6455 WebSocket framing for truced and trucectl: the handshake key, a strict bounded
 * frame parser, and frame heads. No allocation; the caller owns every buffer. */
#ifndef TRUCE_MANAGER_WS_H
#define TRUCE_MANAGER_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_MAX_PAYLOAD 65536 /* a larger frame is refused (close 1009) */
#define WS_MAX_HEAD    14    /* 2 + 8 (64-bit length) + 4 (mask) */
#define WS_KEY_LEN     24    /* base64 of the client's 16 random bytes */
#define WS_ACCEPT_LEN  28    /* base64 of a SHA-1 */

enum ws_opcode {
    WS_CONT = 0x0,
    WS_TEXT = 0x1,
    WS_BINARY = 0x2,
    WS_CLOSE = 0x8,
    WS_PING = 0x9,
    WS_PONG = 0xA,
};

struct ws_frame {
    bool fin;
    int opcode;
    uint8_t *payload; /* inside the caller's buffer, unmasked in place */
    size_t len;
};

/* The fragmentation state a parser keeps between frames of one connection. */
struct ws_parser {
    bool server;        /* true: frames must be masked (from a client); false: must not be */
    size_t max_payload; /* <= WS_MAX_PAYLOAD */
    bool in_message;    /* a fragmented data message is open (continuations expected) */
};

/* Sec-WebSocket-Accept for the client's Sec-WebSocket-Key KEY into OUT (NUL-terminated).
 * Returns 0, or -EINVAL when KEY is not 24 characters of base64 naming 16 bytes. */
int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1]);

/* Parse one frame at the start of BUF (LEN bytes received so far). Returns the frame's total
 * size (> 0) with F filled and the payload unmasked in place, 0 when more bytes are needed, or a
 * negative close code (-1002 protocol error, -1009 too big) with WHY set to a static string.
 * Checks: no RSV bits, known opcodes, control frames final and <= 125 bytes, masking as P says,
 * minimal 64-bit lengths, continuations only inside a fragmented message and vice versa. */
int ws_parse(struct ws_parser *p, uint8_t *buf, size_t len, struct ws_frame *f, const char **why);

/* Write the head of a final frame of OPCODE with LEN payload bytes into OUT; MASK (NULL: none)
 * is the 4-byte masking key a client must send (the caller masks the payload with ws_mask).
 * Returns the head's size (<= WS_MAX_HEAD). */
size_t ws_head(uint8_t *out, int opcode, uint64_t len, const uint8_t *mask);

/* XOR BUF with the masking key MASK, starting at payload offset OFF. */
void ws_mask(uint8_t *buf, size_t len, const uint8_t mask[4], size_t off);

/* Is BUF (LEN bytes) valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF)? */
bool ws_utf8_ok(const uint8_t *buf, size_t len);

#endif
