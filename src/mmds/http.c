/* http.c — one HTTP/1.x request to the MMDS parsed from a bounded buffer, and the answer to it. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mmds/mmds.h"

#define TOKEN_PATH "/latest/api/token"

/* The end of the head ("\r\n\r\n") in BUF, or NULL. */
static const char *head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 3 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
            return buf + i;
    return NULL;
}

/* The path of TARGET (N bytes): absolute-form "http://host/p" reduced to "/p", query and
 * fragment removed, "//" collapsed. Returns 0 or -EINVAL (*WHY set). */
static int set_path(struct mmds_req *rq, const char *t, size_t n, const char **why)
{
    if (n > 7 && !strncasecmp(t, "http://", 7)) {
        const char *s = memchr(t + 7, '/', n - 7);
        n = s ? n - (size_t)(s - t) : 0;
        t = s ? s : t;
    }
    size_t k = 0;
    for (size_t i = 0; i < n && t[i] != '?' && t[i] != '#'; i++) {
        if ((unsigned char)t[i] <= ' ' || t[i] == 0x7f)
            return *why = "Invalid URI.", -EINVAL;
        if (t[i] == '/' && k && rq->path[k - 1] == '/')
            continue;
        if (k >= sizeof(rq->path) - 1)
            return *why = "Invalid URI.", -EINVAL;
        rq->path[k++] = t[i];
    }
    rq->path[k] = 0;
    if (!k || rq->path[0] != '/')
        return *why = "Invalid URI.", -EINVAL;
    return 0;
}

/* The request line "METHOD TARGET HTTP/1.x" (N bytes). */
static int request_line(struct mmds_req *rq, const char *l, size_t n, const char **why)
{
    const char *sp1 = memchr(l, ' ', n);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - l)) : NULL;
    if (!sp1 || !sp2)
        return *why = "Invalid request line.", -EINVAL;
    size_t ml = (size_t)(sp1 - l), vl = n - (size_t)(sp2 + 1 - l);
    if (ml == 3 && !memcmp(l, "GET", 3))
        rq->method = MMDS_GET;
    else if (ml == 3 && !memcmp(l, "PUT", 3))
        rq->method = MMDS_PUT;
    else
        rq->method = MMDS_OTHER;
    if (vl == 8 && !memcmp(sp2 + 1, "HTTP/1.1", 8))
        rq->http10 = false;
    else if (vl == 8 && !memcmp(sp2 + 1, "HTTP/1.0", 8))
        rq->http10 = true;
    else
        return *why = "Unsupported HTTP version.", -EINVAL;
    rq->keep_alive = !rq->http10;
    return set_path(rq, sp1 + 1, (size_t)(sp2 - sp1 - 1), why);
}

static bool name_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && !strncasecmp(name, want, n);
}

/* One header line "Name: value" (N bytes). */
static int header(struct mmds_req *rq, const char *l, size_t n, const char **why)
{
    const char *colon = memchr(l, ':', n);
    if (!colon || colon == l)
        return *why = "Invalid header.", -EINVAL;
    size_t nl = (size_t)(colon - l);
    const char *v = colon + 1, *end = l + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vl = (size_t)(end - v);
    if (name_is(l, nl, "Content-Length")) {
        size_t cl = 0;
        if (!vl || vl > 9)
            return *why = "Invalid Content-Length.", -EINVAL;
        for (size_t i = 0; i < vl; i++) {
            if (!isdigit((unsigned char)v[i]))
                return *why = "Invalid Content-Length.", -EINVAL;
            cl = cl * 10 + (size_t)(v[i] - '0');
        }
        rq->content_length = cl;
    } else if (name_is(l, nl, "Transfer-Encoding")) {
        return *why = "Transfer-Encoding is not supported.", -EINVAL;
    } else if (name_is(l, nl, "Connection")) {
        if (vl == 5 && !strncasecmp(v, "close", 5))
            rq->keep_alive = false;
        else if (vl == 10 && !strncasecmp(v, "keep-alive", 10))
            rq->keep_alive = true;
    } else if (name_is(l, nl, "Accept")) {
        rq->accept_json = vl >= 16 && !strncasecmp(v, "application/json", 16);
    } else if (name_is(l, nl, "X-metadata-token") || name_is(l, nl, "X-aws-ec2-metadata-token")) {
        rq->has_token = true;
        rq->token_long = vl >= sizeof(rq->token);
        size_t k = rq->token_long ? 0 : vl;
        memcpy(rq->token, v, k);
        rq->token[k] = 0;
    } else if (name_is(l, nl, "X-metadata-token-ttl-seconds") ||
               name_is(l, nl, "X-aws-ec2-metadata-token-ttl-seconds")) {
        rq->has_ttl = true;
        size_t k = vl < sizeof(rq->ttl) - 1 ? vl : sizeof(rq->ttl) - 1;
        memcpy(rq->ttl, v, k);
        rq->ttl[k] = 0;
    } else if (name_is(l, nl, "X-Forwarded-For")) {
        rq->forwarded_for = true;
    }
    return 0;
}

int mmds_http_parse(const char *buf, size_t len, struct mmds_req *rq, const char **why)
{
    *why = NULL;
    const char *end = head_end(buf, len < MMDS_REQ_MAX ? len : MMDS_REQ_MAX);
    if (!end)
        return len >= MMDS_REQ_MAX ? (*why = "Request too large.", -E2BIG) : 0;
    memset(rq, 0, sizeof(*rq));
    const char *l = buf;
    bool first = true;
    while (l < end + 2) {
        const char *eol = memchr(l, '\n', (size_t)(end + 2 - l));
        if (!eol || eol == l || eol[-1] != '\r')
            return *why = "Invalid header.", -EINVAL;
        size_t n = (size_t)(eol - 1 - l);
        if (memchr(l, 0, n))
            return *why = "Invalid header.", -EINVAL;
        int rc = first ? request_line(rq, l, n, why) : header(rq, l, n, why);
        if (rc < 0)
            return rc;
        first = false;
        l = eol + 1;
    }
    size_t head = (size_t)(end - buf) + 4;
    if (rq->content_length > MMDS_REQ_MAX - head)
        return *why = "Request too large.", -E2BIG;
    return len >= head + rq->content_length ? (int)(head + rq->content_length) : 0;
}

/* ---- responses --------------------------------------------------------------------------------
 */

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 501:
        return "Not Implemented";
    default:
        return "Internal Server Error";
    }
}

/* Build the response in *OUT: STATUS, BODY (BLEN bytes), its content type, the Allow header. */
static int build(int status, const char *ctype, const char *allow, const char *body, size_t blen,
                 bool close, char **out, size_t *len)
{
    char head[256];
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d %s\r\nServer: truce MMDS\r\nConnection: %s\r\n%s%s%s"
                      "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                      status, reason(status), close ? "close" : "keep-alive",
                      allow ? "Allow: " : "", allow ? allow : "", allow ? "\r\n" : "", ctype, blen);
    if (hl < 0 || (size_t)hl >= sizeof(head) || !(*out = malloc((size_t)hl + blen)))
        return -ENOMEM;
    memcpy(*out, head, (size_t)hl);
    memcpy(*out + hl, body, blen);
    *len = (size_t)hl + blen;
    return 0;
}

static int text(int status, const char *msg, const char *allow, bool close, char **out, size_t *len)
{
    return build(status, "text/plain", allow, msg, strlen(msg), close, out, len);
}

/* A GET the token rules let through: the value at the path. */
static int get_value(struct mmds *m, const struct mmds_policy *p, const struct mmds_req *rq,
                     bool close, char **out, size_t *len)
{
    enum mmds_format fmt = rq->accept_json && !p->imds_compat ? MMDS_FMT_JSON : MMDS_FMT_IMDS;
    char *body = NULL, msg[MMDS_PATH_MAX + 32];
    size_t blen = 0;
    int rc = mmds_render(m, rq->path, fmt, &body, &blen);
    if (rc == -ENOENT) {
        snprintf(msg, sizeof(msg), "Resource not found: %s.", rq->path);
        return text(404, msg, NULL, close, out, len);
    }
    if (rc == -ENOTSUP)
        return text(501, "Cannot retrieve value. The value has an unsupported type.", NULL, close,
                    out, len);
    if (rc < 0)
        return rc;
    rc = build(200, fmt == MMDS_FMT_JSON ? "application/json" : "text/plain", NULL, body, blen,
               close, out, len);
    free(body);
    return rc;
}

/* PUT /latest/api/token: a new session token. */
static int put_token(struct mmds *m, const struct mmds_req *rq, uint64_t now_ms, bool close,
                     char **out, size_t *len)
{
    char msg[160], tok[MMDS_TOKEN_CHARS + 1];
    if (rq->forwarded_for)
        return text(400, "Invalid header. Reason: Unsupported header name. Key: X-Forwarded-For",
                    NULL, close, out, len);
    if (strcmp(rq->path, TOKEN_PATH)) {
        snprintf(msg, sizeof(msg), "Resource not found: %.100s.", rq->path);
        return text(404, msg, NULL, close, out, len);
    }
    if (!rq->has_ttl)
        return text(400,
                    "Token time to live value not found. Use `X-metadata-token-ttl-seconds` "
                    "header to specify the token's lifetime.",
                    NULL, close, out, len);
    char *end;
    unsigned long ttl = strtoul(rq->ttl, &end, 10);
    if (!rq->ttl[0] || *end || !isdigit((unsigned char)rq->ttl[0])) {
        snprintf(msg, sizeof(msg),
                 "Invalid header. Reason: Invalid value. Key:X-metadata-token-ttl-seconds; "
                 "Value:%s",
                 rq->ttl);
        return text(400, msg, NULL, close, out, len);
    }
    if (ttl > UINT32_MAX || mmds_token_new(m, (uint32_t)ttl, now_ms, tok) < 0) {
        snprintf(msg, sizeof(msg),
                 "Invalid time to live value provided for token: %s. Please provide a value "
                 "between %d and %d.",
                 rq->ttl, MMDS_TOKEN_TTL_MIN, MMDS_TOKEN_TTL_MAX);
        return text(400, msg, NULL, close, out, len);
    }
    return text(200, tok, NULL, close, out, len);
}

int mmds_http_respond(struct mmds *m, const struct mmds_policy *p, const struct mmds_req *rq,
                      const char *why, uint64_t now_ms, char **out, size_t *len, bool *close)
{
    *close = !rq || !rq->keep_alive;
    MMDS_COUNT(m, rx_count, 1);
    if (!rq)
        return text(400, why ? why : "Invalid request.", NULL, true, out, len);
    if (p->version == 1) {
        if (rq->method != MMDS_GET)
            return text(405, "Not allowed HTTP method.", "GET", *close, out, len);
        return get_value(m, p, rq, *close, out, len);
    }
    if (rq->method == MMDS_PUT)
        return put_token(m, rq, now_ms, *close, out, len);
    if (rq->method != MMDS_GET)
        return text(405, "Not allowed HTTP method.", "GET, PUT", *close, out, len);
    if (!rq->has_token) {
        MMDS_COUNT(m, rx_no_token, 1);
        return text(401,
                    "No MMDS token provided. Use `X-metadata-token` header to specify the "
                    "session token.",
                    NULL, *close, out, len);
    }
    if (rq->token_long || !mmds_token_valid(m, rq->token, now_ms)) {
        MMDS_COUNT(m, rx_invalid_token, 1);
        return text(401, "MMDS token not valid.", NULL, *close, out, len);
    }
    return get_value(m, p, rq, *close, out, len);
}
