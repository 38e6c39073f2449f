/* state.c — versioned, length-checked state buffers for device save and restore. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/state.h"

void state_save_init(struct state_visitor *v)
{
    memset(v, 0, sizeof(*v));
}

void state_load_init(struct state_visitor *v, const void *buf, size_t len)
{
    memset(v, 0, sizeof(*v));
    v->loading = true;
    v->buf = (uint8_t *)buf;
    v->len = len;
}

void state_free(struct state_visitor *v)
{
    if (!v->loading)
        free(v->buf);
    v->buf = NULL;
    v->len = v->cap = 0;
}

int state_error(const struct state_visitor *v)
{
    return v->err;
}

int state_fail(struct state_visitor *v, int err, const char *fmt, ...)
{
    if (v->err)
        return v->err;
    v->err = err;
    int n = 0;
    if (v->depth)
        n = snprintf(v->msg, sizeof(v->msg), "state of %s: ", v->name[v->depth - 1]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->msg + n, sizeof(v->msg) - (size_t)n, fmt, ap);
    va_end(ap);
    return err;
}

int state_finish(struct state_visitor *v)
{
    if (v->err)
        return v->err;
    if (v->depth)
        return state_fail(v, -EINVAL, "section not closed");
    if (v->loading && v->pos != v->len)
        return state_fail(v, -EINVAL, "%zu bytes after the last section", v->len - v->pos);
    return 0;
}

/* ---- raw bytes ---------------------------------------------------------------------------- */

static void put(struct state_visitor *v, const void *p, size_t n)
{
    if (v->err)
        return;
    if (v->len + n > v->cap) {
        size_t cap = v->cap ? v->cap : 256;
        while (cap < v->len + n)
            cap *= 2;
        uint8_t *b = realloc(v->buf, cap);
        if (!b) {
            state_fail(v, -ENOMEM, "out of memory");
            return;
        }
        v->buf = b;
        v->cap = cap;
    }
    memcpy(v->buf + v->len, p, n);
    v->len += n;
}

/* The end of what may be read now: the innermost section's payload, or the buffer. */
static size_t limit(const struct state_visitor *v)
{
    return v->depth ? v->start[v->depth - 1] : v->len;
}

static bool get(struct state_visitor *v, void *p, size_t n, const char *what)
{
    if (v->err)
        return false;
    if (n > limit(v) - v->pos) {
        state_fail(v, -EINVAL, "truncated at %s", what);
        return false;
    }
    memcpy(p, v->buf + v->pos, n);
    v->pos += n;
    return true;
}

/* Little-endian integers of N bytes (1..8). */
static void put_le(struct state_visitor *v, uint64_t x, size_t n)
{
    uint8_t b[8];
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(x >> (8 * i));
    put(v, b, n);
}

static bool get_le(struct state_visitor *v, uint64_t *x, size_t n, const char *what)
{
    uint8_t b[8];
    if (!get(v, b, n, what))
        return false;
    *x = 0;
    for (size_t i = 0; i < n; i++)
        *x |= (uint64_t)b[i] << (8 * i);
    return true;
}

/* ---- sections ----------------------------------------------------------------------------- */

bool state_begin(struct state_visitor *v, const char *name, uint32_t version)
{
    size_t nl = strlen(name);
    if (v->err)
        return false;
    if (v->depth == STATE_MAX_DEPTH || nl > STATE_NAME_MAX || !version) {
        state_fail(v, -EINVAL, "section %s: too deep, name too long or version 0", name);
        return false;
    }
    if (!v->loading) {
        put_le(v, nl, 1);
        put(v, name, nl);
        put_le(v, version, 4);
        size_t at = v->len;
        put_le(v, 0, 4); /* payload length, filled in by state_end */
        if (v->err)
            return false;
        snprintf(v->name[v->depth], sizeof(v->name[0]), "%s", name);
        v->start[v->depth++] = at;
        v->version = version;
        return true;
    }
    uint64_t fl, fv, plen;
    char found[STATE_NAME_MAX + 1] = "";
    if (!get_le(v, &fl, 1, "section header"))
        return false;
    if (fl > STATE_NAME_MAX || !get(v, found, fl, "section name")) {
        state_fail(v, -EINVAL, "bad section header where %s was expected", name);
        return false;
    }
    if (fl != nl || memcmp(found, name, nl)) {
        state_fail(v, -EINVAL, "section %s found where %s was expected", found, name);
        return false;
    }
    if (!get_le(v, &fv, 4, "section version") || !get_le(v, &plen, 4, "section length"))
        return false;
    if (!fv || fv > version) {
        state_fail(v, -EINVAL, "%s: version %llu not supported (this build reads 1 to %u)", name,
                   (unsigned long long)fv, version);
        return false;
    }
    if (plen > limit(v) - v->pos) {
        state_fail(v, -EINVAL, "%s: section of %llu bytes, only %zu left", name,
                   (unsigned long long)plen, limit(v) - v->pos);
        return false;
    }
    snprintf(v->name[v->depth], sizeof(v->name[0]), "%s", name);
    v->start[v->depth++] = v->pos + plen;
    v->version = (uint32_t)fv;
    return true;
}

void state_end(struct state_visitor *v)
{
    if (v->err)
        return;
    if (!v->depth) {
        state_fail(v, -EINVAL, "state_end without state_begin");
        return;
    }
    size_t at = v->start[v->depth - 1];
    if (!v->loading) {
        size_t plen = v->len - (at + 4);
        if (plen > UINT32_MAX) {
            state_fail(v, -EINVAL, "section too large");
            return;
        }
        for (size_t i = 0; i < 4; i++)
            v->buf[at + i] = (uint8_t)(plen >> (8 * i));
    } else if (v->pos != at) {
        state_fail(v, -EINVAL, "%zu unexpected bytes at the end of the section", at - v->pos);
        return;
    }
    v->depth--;
}

/* ---- fields ------------------------------------------------------------------------------- */

#define FIELD(fn, type, n)                                                                         \
    void fn(struct state_visitor *v, type *p, const char *what)                                    \
    {                                                                                              \
        uint64_t x;                                                                                \
        if (!v->loading)                                                                           \
            put_le(v, (uint64_t)*p, n);                                                            \
        else if (get_le(v, &x, n, what))                                                           \
            *p = (type)x;                                                                          \
    }

FIELD(state_u8, uint8_t, 1)
FIELD(state_u16, uint16_t, 2)
FIELD(state_u32, uint32_t, 4)
FIELD(state_u64, uint64_t, 8)
FIELD(state_i64, int64_t, 8)

void state_bool(struct state_visitor *v, bool *p, const char *what)
{
    uint64_t x;
    if (!v->loading)
        put_le(v, *p ? 1 : 0, 1);
    else if (get_le(v, &x, 1, what)) {
        if (x > 1)
            state_fail(v, -EINVAL, "%s: %llu is not a boolean", what, (unsigned long long)x);
        else
            *p = x;
    }
}

void state_bytes(struct state_visitor *v, void *p, size_t len, const char *what)
{
    if (!v->loading)
        put(v, p, len);
    else
        get(v, p, len, what);
}

void state_check(struct state_visitor *v, bool ok, const char *what)
{
    if (v->loading && !ok)
        state_fail(v, -EINVAL, "out of range: %s", what);
}
