/* ws.c — RFC 6455 WebSocket framing: handshake key (OpenSSL's SHA-1 and base64), frame parser,
 * frame heads. Every length is checked against the caller's bound before it is trusted. */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "manager/ws.h"

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
    unsigned char raw[24], md[EVP_MAX_MD_SIZE], in[WS_KEY_LEN + sizeof(WS_GUID)];
    unsigned int mdlen = 0;
    if (strlen(key) != WS_KEY_LEN ||
        strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                    "0123456789+/=") != WS_KEY_LEN)
        return -EINVAL;
    /* 16 bytes encode to 22 characters and "==" */
    if (key[22] != '=' || key[23] != '=' ||
        EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18)
        return -EINVAL;
    memcpy(in, key, WS_KEY_LEN);
    memcpy(in + WS_KEY_LEN, WS_GUID, sizeof(WS_GUID) - 1);
    if (!EVP_Digest(in, WS_KEY_LEN + sizeof(WS_GUID) - 1, md, &mdlen, EVP_sha1(), NULL) ||
        mdlen != 20)
        return -EIO;
    EVP_EncodeBlock((unsigned char *)out, md, 20);
    out[WS_ACCEPT_LEN] = 0;
    return 0;
}

void ws_mask(uint8_t *buf, size_t len, const uint8_t mask[4], size_t off)
{
    for (size_t i = 0; i < len; i++)
        buf[i] ^= mask[(off + i) & 3];
}

size_t ws_head(uint8_t *out, int opcode, uint64_t len, const uint8_t *mask)
{
    size_t n = 0;
    out[n++] = 0x80 | (opcode & 0x0f);
    uint8_t m = mask ? 0x80 : 0;
    if (len < 126) {
        out[n++] = m | (uint8_t)len;
    } else if (len <= 0xffff) {
        out[n++] = m | 126;
        out[n++] = len >> 8;
        out[n++] = len & 0xff;
    } else {
        out[n++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[n++] = (len >> (8 * i)) & 0xff;
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

static int bad(const char **why, const char *msg, int code)
{
    *why = msg;
    return -code;
}

int ws_parse(struct ws_parser *p, uint8_t *buf, size_t len, struct ws_frame *f, const char **why)
{
    if (len < 2)
        return 0;
    bool fin = buf[0] & 0x80, masked = buf[1] & 0x80;
    int op = buf[0] & 0x0f;
    uint64_t plen = buf[1] & 0x7f;
    size_t head = 2;
    if (buf[0] & 0x70)
        return bad(why, "reserved bits set (no extension was negotiated)", 1002);
    if (op != WS_CONT && op != WS_TEXT && op != WS_BINARY && op != WS_CLOSE && op != WS_PING &&
        op != WS_PONG)
        return bad(why, "unknown opcode", 1002);
    bool control = op & 0x8;
    if (control && (!fin || plen > 125))
        return bad(why, "control frame fragmented or longer than 125 bytes", 1002);
    if (masked != p->server)
        return bad(why, p->server ? "client frame not masked" : "server frame masked", 1002);
    if (plen == 126) {
        if (len < 4)
            return 0;
        plen = (uint64_t)buf[2] << 8 | buf[3];
        head = 4;
        if (plen < 126)
            return bad(why, "16-bit length not minimal", 1002);
    } else if (plen == 127) {
        if (len < 10)
            return 0;
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = plen << 8 | buf[2 + i];
        head = 10;
        if (plen >> 63)
            return bad(why, "64-bit length with its top bit set", 1002);
        if (plen <= 0xffff)
            return bad(why, "64-bit length not minimal", 1002);
    }
    if (plen > p->max_payload)
        return bad(why, "frame larger than this endpoint accepts", 1009);
    if (!control && op == WS_CONT && !p->in_message)
        return bad(why, "continuation frame without a message to continue", 1002);
    if (!control && op != WS_CONT && p->in_message)
        return bad(why, "new data frame inside a fragmented message", 1002);
    const uint8_t *mask = NULL;
    if (masked) {
        mask = buf + head;
        head += 4;
    }
    if (len < head || len - head < plen)
        return 0;
    f->fin = fin;
    f->opcode = op;
    f->payload = buf + head;
    f->len = (size_t)plen;
    if (mask)
        ws_mask(f->payload, f->len, mask, 0);
    if (!control)
        p->in_message = !fin;
    return (int)(head + plen);
}

bool ws_utf8_ok(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        int n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= (size_t)n)
            return false;
        for (int k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}
