/* http.c — a small, strict HTTP/1.1 request-head parser for the API socket (pure, fuzzed). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/http.h"

/* RFC 9110 token characters. */
static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int fail(struct http_head *h, int status, const char *msg)
{
    snprintf(h->error, sizeof(h->error), "%s", msg);
    h->status = status;
    return -EINVAL;
}

/* "METHOD SP TARGET SP HTTP/1.x" of LEN bytes (no CRLF). */
static int request_line(struct http_head *h, const char *s, size_t len)
{
    const char *sp1 = memchr(s, ' ', len);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - s)) : NULL;
    if (!sp1 || !sp2)
        return fail(h, 400, "malformed request line");
    size_t mlen = (size_t)(sp1 - s), tlen = (size_t)(sp2 - sp1 - 1),
           vlen = len - (size_t)(sp2 + 1 - s);
    if (!mlen || mlen >= sizeof(h->method))
        return fail(h, 400, "malformed request method");
    for (size_t i = 0; i < mlen; i++)
        if (!is_tchar(s[i]))
            return fail(h, 400, "malformed request method");
    memcpy(h->method, s, mlen);
    h->method[mlen] = '\0';
    if (!tlen || sp1[1] != '/')
        return fail(h, 400, "the request target must be an absolute path");
    const char *q = memchr(sp1 + 1, '?', tlen); /* the query is ignored */
    size_t plen = q ? (size_t)(q - sp1 - 1) : tlen;
    if (tlen >= HTTP_MAX_TARGET || plen >= sizeof(h->path))
        return fail(h, 414, "request target too long");
    for (size_t i = 0; i < tlen; i++)
        if (sp1[1 + i] <= ' ' || sp1[1 + i] > '~')
            return fail(h, 400, "invalid character in the request target");
    memcpy(h->path, sp1 + 1, plen);
    h->path[plen] = '\0';
    if (vlen == 8 && !memcmp(sp2 + 1, "HTTP/1.1", 8))
        h->keep_alive = true;
    else if (vlen == 8 && !memcmp(sp2 + 1, "HTTP/1.0", 8))
        h->keep_alive = false;
    else
        return fail(h, 505, "only HTTP/1.1 and HTTP/1.0 are supported");
    return 0;
}

/* Does the comma-separated header value V (LEN bytes) contain TOKEN? */
static bool has_token(const char *v, size_t len, const char *token)
{
    size_t tl = strlen(token);
    for (size_t i = 0; i < len;) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t j = i;
        while (j < len && v[j] != ',' && v[j] != ' ' && v[j] != '\t')
            j++;
        if (j - i == tl && !strncasecmp(v + i, token, tl))
            return true;
        i = j;
    }
    return false;
}

static int content_length(struct http_head *h, const char *v, size_t len, size_t max_body)
{
    if (h->have_length)
        return fail(h, 400, "more than one Content-Length header");
    if (!len || len > 19)
        return fail(h, len ? 413 : 400, "invalid Content-Length");
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return fail(h, 400, "invalid Content-Length");
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    h->have_length = true;
    h->content_length = n;
    if (n > max_body) {
        h->status = 413;
        snprintf(h->error, sizeof(h->error),
                 "request body of %llu bytes exceeds the limit of %zu "
                 "bytes",
                 (unsigned long long)n, max_body);
        return -EINVAL;
    }
    return 0;
}

/* One "Name: value" line of LEN bytes (no CRLF). */
static int header_line(struct http_head *h, const char *s, size_t len, size_t max_body)
{
    const char *colon = memchr(s, ':', len);
    if (!colon || colon == s)
        return fail(h, 400, "malformed header line");
    size_t nlen = (size_t)(colon - s);
    for (size_t i = 0; i < nlen; i++)
        if (!is_tchar(s[i]))
            return fail(h, 400, "malformed header name");
    const char *v = colon + 1, *end = s + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    for (const char *p = v; p < end; p++)
        if ((unsigned char)*p < ' ' && *p != '\t')
            return fail(h, 400, "control character in a header value");
    size_t vlen = (size_t)(end - v);
    if (nlen == 14 && !strncasecmp(s, "Content-Length", 14))
        return content_length(h, v, vlen, max_body);
    if (nlen == 17 && !strncasecmp(s, "Transfer-Encoding", 17))
        return fail(h, 400,
                    "Transfer-Encoding is not supported: send the body with a "
                    "Content-Length");
    if (nlen == 10 && !strncasecmp(s, "Connection", 10)) {
        if (has_token(v, vlen, "close"))
            h->keep_alive = false;
        else if (has_token(v, vlen, "keep-alive"))
            h->keep_alive = true;
    } else if (nlen == 6 && !strncasecmp(s, "Expect", 6)) {
        if (vlen != 12 || strncasecmp(v, "100-continue", 12))
            return fail(h, 417, "only Expect: 100-continue is supported");
        h->expect_continue = true;
    }
    return 0;
}

int http_parse_head(const char *buf, size_t len, size_t max_body, struct http_head *h)
{
    memset(h, 0, sizeof(*h));
    /* tolerate empty lines before a request (RFC 9112 2.2) */
    size_t off = 0;
    while (off + 1 < len && buf[off] == '\r' && buf[off + 1] == '\n')
        off += 2;
    size_t lines = 0;
    for (size_t start = off; start < len;) {
        const char *lf = memchr(buf + start, '\n', len - start);
        if (!lf)
            break;
        size_t end = (size_t)(lf - buf);
        if (end >= HTTP_MAX_HEAD)
            return fail(h, 431, "request head too long");
        if (end == start || buf[end - 1] != '\r')
            return fail(h, 400, "lines must end with CRLF");
        size_t llen = end - 1 - start;
        int rc;
        if (++lines > HTTP_MAX_HEADERS + 1)
            return fail(h, 431, "too many header lines");
        if (lines == 1)
            rc = request_line(h, buf + start, llen);
        else if (llen == 0) {
            h->head_len = end + 1;
            return 1;
        } else if (buf[start] == ' ' || buf[start] == '\t')
            rc = fail(h, 400, "folded header lines are not supported");
        else
            rc = header_line(h, buf + start, llen, max_body);
        if (rc < 0)
            return rc;
        start = end + 1;
    }
    if (len >= HTTP_MAX_HEAD)
        return fail(h, 431, "request head too long");
    return 0;
}
