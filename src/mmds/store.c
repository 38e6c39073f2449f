/* store.c — the MMDS data store (JSON, merge patch, size limit, rendering) and session tokens. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "mmds/mmds.h"

#define ERR_FULL    "The MMDS patch request doesn't fit."
#define ERR_NO_INIT "The MMDS data store is not initialized."

uint64_t mmds_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct mmds *mmds_new(size_t limit)
{
    struct mmds *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->limit = limit ? limit : MMDS_DEFAULT_LIMIT;
    if (getrandom(&m->token_key, sizeof(m->token_key), 0) != sizeof(m->token_key))
        m->token_key = (uint64_t)mmds_now_ms() * 0x9e3779b97f4a7c15ull;
    return m;
}

void mmds_free(struct mmds *m)
{
    if (!m)
        return;
    json_decref(m->data);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void mmds_set_limit(struct mmds *m, size_t limit)
{
    pthread_mutex_lock(&m->lock);
    m->limit = limit ? limit : MMDS_DEFAULT_LIMIT;
    pthread_mutex_unlock(&m->lock);
}

/* Bytes of V's compact JSON (what Firecracker measures against the limit). */
static size_t json_size(const json_t *v)
{
    return json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
}

int mmds_put(struct mmds *m, json_t *data, char *err, size_t errlen)
{
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    if (json_size(data) > m->limit) {
        snprintf(err, errlen, "%s", ERR_FULL);
        rc = -EFBIG;
    } else {
        json_decref(m->data);
        m->data = json_incref(data);
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* RFC 7396 merge of PATCH into *TARGET (replaced when PATCH is not an object). Returns 0 or
 * -ENOMEM. Recursion depth is the patch's, which jansson's parser bounds. */
static int merge(json_t **target, const json_t *patch)
{
    if (!json_is_object(patch)) {
        json_t *c = json_deep_copy(patch);
        if (!c)
            return -ENOMEM;
        json_decref(*target);
        *target = c;
        return 0;
    }
    if (!json_is_object(*target)) {
        json_decref(*target);
        if (!(*target = json_object()))
            return -ENOMEM;
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)patch, key, val)
    {
        if (json_is_null(val)) {
            json_object_del(*target, key);
            continue;
        }
        json_t *sub = json_incref(json_object_get(*target, key));
        int rc = merge(&sub, val);
        if (!rc && json_object_set_new(*target, key, sub) < 0)
            rc = -ENOMEM;
        else if (rc)
            json_decref(sub);
        if (rc)
            return rc;
    }
    return 0;
}

int mmds_patch(struct mmds *m, const json_t *patch, char *err, size_t errlen)
{
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    json_t *copy = m->data ? json_deep_copy(m->data) : NULL;
    if (!m->data) {
        snprintf(err, errlen, "%s", ERR_NO_INIT);
        rc = -ENOENT;
    } else if (!copy || merge(&copy, patch) < 0) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    } else if (json_size(copy) > m->limit) {
        snprintf(err, errlen, "%s", ERR_FULL);
        rc = -EFBIG;
    } else {
        json_decref(m->data);
        m->data = copy;
        copy = NULL;
    }
    json_decref(copy);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

json_t *mmds_get_all(struct mmds *m)
{
    pthread_mutex_lock(&m->lock);
    json_t *c = m->data ? json_deep_copy(m->data) : json_object();
    pthread_mutex_unlock(&m->lock);
    return c;
}

/* One JSON-pointer token TOK (N bytes, ~0 and ~1 unescaped) looked up in V; NULL when absent. */
static json_t *step(json_t *v, const char *tok, size_t n)
{
    char key[MMDS_PATH_MAX];
    size_t k = 0;
    for (size_t i = 0; i < n && k < sizeof(key) - 1; i++) {
        if (tok[i] == '~' && i + 1 < n && (tok[i + 1] == '0' || tok[i + 1] == '1')) {
            key[k++] = tok[i + 1] == '0' ? '~' : '/';
            i++;
        } else if (tok[i] == '~') {
            return NULL; /* a lone '~' is not a valid pointer */
        } else {
            key[k++] = tok[i];
        }
    }
    key[k] = 0;
    if (json_is_object(v))
        return json_object_get(v, key);
    if (!json_is_array(v) || !k || k > 9 || (key[0] == '0' && k > 1))
        return NULL;
    size_t idx = 0;
    for (size_t i = 0; i < k; i++) {
        if (key[i] < '0' || key[i] > '9')
            return NULL;
        idx = idx * 10 + (size_t)(key[i] - '0');
    }
    return json_array_get(v, idx);
}

/* The value at PATH in ROOT, or NULL. */
static json_t *lookup(json_t *root, const char *path)
{
    size_t n = strlen(path);
    if (n && path[n - 1] == '/')
        n--;
    json_t *v = root;
    size_t i = 0;
    while (v && i < n) {
        if (path[i] != '/')
            return NULL;
        size_t j = i + 1;
        while (j < n && path[j] != '/')
            j++;
        v = step(v, path + i + 1, j - i - 1);
        i = j;
    }
    return v;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* IMDS rendering of V: object keys sorted, one a line, "/" after those holding objects. */
static int render_imds(const json_t *v, char **out, size_t *len)
{
    if (json_is_string(v)) {
        *len = json_string_length(v);
        if (!(*out = malloc(*len + 1)))
            return -ENOMEM;
        memcpy(*out, json_string_value(v), *len);
        (*out)[*len] = 0;
        return 0;
    }
    if (!json_is_object(v))
        return -ENOTSUP;
    size_t nk = json_object_size(v), total = 1, i = 0;
    const char **keys = calloc(nk ? nk : 1, sizeof(*keys));
    if (!keys)
        return -ENOMEM;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        keys[i++] = key;
        total += strlen(key) + 2;
    }
    qsort(keys, nk, sizeof(*keys), cmp_str);
    char *b = malloc(total), *p = b;
    if (!b) {
        free(keys);
        return -ENOMEM;
    }
    for (i = 0; i < nk; i++) {
        size_t kl = strlen(keys[i]);
        if (i)
            *p++ = '\n';
        memcpy(p, keys[i], kl);
        p += kl;
        if (json_is_object(json_object_get(v, keys[i])))
            *p++ = '/';
    }
    *p = 0;
    free(keys);
    *out = b;
    *len = (size_t)(p - b);
    return 0;
}

int mmds_render(struct mmds *m, const char *path, enum mmds_format fmt, char **out, size_t *len)
{
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    json_t *v = m->data ? lookup(m->data, path) : NULL;
    if (!v) {
        rc = -ENOENT;
    } else if (fmt == MMDS_FMT_IMDS) {
        rc = render_imds(v, out, len);
    } else {
        *out = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        rc = *out ? 0 : -ENOMEM;
        if (*out)
            *len = strlen(*out);
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int mmds_token_new(struct mmds *m, uint32_t ttl, uint64_t now_ms, char tok[MMDS_TOKEN_CHARS + 1])
{
    if (ttl < MMDS_TOKEN_TTL_MIN || ttl > MMDS_TOKEN_TTL_MAX)
        return -EINVAL;
    uint8_t raw[MMDS_TOKEN_CHARS / 2];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        for (size_t i = 0; i < sizeof(raw); i++) /* never expected: getrandom after boot */
            raw[i] = (uint8_t)((m->token_key += 0x9e3779b97f4a7c15ull) >> 56);
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(tok + 2 * i, 3, "%02x", raw[i]);
    pthread_mutex_lock(&m->lock);
    /* a free or expired slot, else the one expiring first */
    struct mmds_token *slot = &m->tokens[0];
    for (unsigned i = 0; i < MMDS_MAX_TOKENS; i++) {
        struct mmds_token *t = &m->tokens[i];
        if (!t->tok[0] || t->expiry_ms <= now_ms) {
            slot = t;
            break;
        }
        if (t->expiry_ms < slot->expiry_ms)
            slot = t;
    }
    memcpy(slot->tok, tok, MMDS_TOKEN_CHARS + 1);
    slot->expiry_ms = now_ms + (uint64_t)ttl * 1000;
    MMDS_COUNT(m, tokens_issued, 1);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

/* A and B (MMDS_TOKEN_CHARS bytes each) are equal; the time taken does not depend on where they
 * differ, so a guest cannot find a token byte by byte by timing the answers. */
static bool token_equal(const char *a, const char *b)
{
    unsigned char diff = 0;
    for (unsigned i = 0; i < MMDS_TOKEN_CHARS; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

void mmds_counters(struct mmds *m, struct mmds_counters *out)
{
    const uint64_t *src = (const uint64_t *)&m->count;
    uint64_t *dst = (uint64_t *)out;
    for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

bool mmds_token_valid(struct mmds *m, const char *tok, uint64_t now_ms)
{
    if (strlen(tok) != MMDS_TOKEN_CHARS)
        return false;
    bool ok = false;
    pthread_mutex_lock(&m->lock);
    for (unsigned i = 0; i < MMDS_MAX_TOKENS && !ok; i++)
        ok = m->tokens[i].tok[0] && m->tokens[i].expiry_ms > now_ms &&
             token_equal(m->tokens[i].tok, tok);
    pthread_mutex_unlock(&m->lock);
    return ok;
}
