/* json.c — strict, typed reading of JSON request bodies that names the offending field. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"

void jctx_init(struct jctx *c, const char *where, char *err, size_t errlen)
{
    snprintf(c->where, sizeof(c->where), "%s", where ? where : "");
    c->err = err;
    c->errlen = errlen;
}

void jctx_child(const struct jctx *c, struct jctx *child, const char *field, int index)
{
    child->err = c->err;
    child->errlen = c->errlen;
    const char *dot = c->where[0] ? "." : "";
    int n;
    if (index >= 0)
        n = snprintf(child->where, sizeof(child->where), "%s%s%s[%d]", c->where, dot, field, index);
    else
        n = snprintf(child->where, sizeof(child->where), "%s%s%s", c->where, dot, field);
    if (n < 0 || (size_t)n >= sizeof(child->where)) /* deep paths end in "..." */
        memcpy(child->where + sizeof(child->where) - 4, "...", 4);
}

int jfail(const struct jctx *c, const char *field, const char *fmt, ...)
{
    if (!c->err || !c->errlen)
        return -EINVAL;
    size_t n = 0;
    if (c->where[0] && field)
        n = snprintf(c->err, c->errlen, "%s.%s: ", c->where, field);
    else if (c->where[0] || field)
        n = snprintf(c->err, c->errlen, "%s: ", c->where[0] ? c->where : field);
    if (n < c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->errlen - n, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* The noun for JSON type T in error messages ("a string"). */
static const char *type_noun(json_type t)
{
    switch (t) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static const char *type_name(const json_t *v)
{
    return type_noun(json_typeof(v));
}

/* Join the NULL-terminated NAMES with ", " into LIST of LEN bytes (cut short when it fills). */
static void join_names(const char *const *names, char *list, size_t len)
{
    size_t n = 0;
    list[0] = '\0';
    for (const char *const *a = names; *a && n < len; a++)
        n += snprintf(list + n, len - n, "%s%s", n ? ", " : "", *a);
}

int jobject(const struct jctx *c, const json_t *obj, const char *const *allowed)
{
    if (!json_is_object(obj))
        return jfail(c, NULL, "must be a JSON object, not %s", obj ? type_name(obj) : "empty");
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = !strcmp(key, *a);
        if (!ok) {
            char list[256];
            join_names(allowed, list, sizeof(list));
            return jfail(c, key, "unknown field (expected one of: %s)", list);
        }
    }
    return 0;
}

/* The member FIELD of OBJ, or NULL when absent or null. Fails when missing and REQUIRED. */
static int member(const struct jctx *c, const json_t *obj, const char *field, bool required,
                  json_t **out)
{
    *out = NULL;
    json_t *v = json_object_get(obj, field);
    if (v && json_is_null(v))
        v = NULL;
    if (!v && required)
        return jfail(c, field, "missing required field");
    *out = v;
    return 0;
}

static void set_flag(bool *set, bool v)
{
    if (set)
        *set = v;
}

/* The member FIELD of OBJ into *OUT when present and of type WANT (JSON_TRUE: any boolean);
 * *OUT is NULL when absent or null. Clears *SET. Returns 0, or -EINVAL when missing but
 * REQUIRED or of another type. */
static int typed_member(const struct jctx *c, const json_t *obj, const char *field, bool required,
                        json_type want, json_t **out, bool *set)
{
    json_t *v;
    set_flag(set, false);
    if (member(c, obj, field, required, &v) < 0)
        return -EINVAL;
    *out = v;
    if (!v)
        return 0;
    bool ok = want == JSON_TRUE ? json_is_boolean(v) : json_typeof(v) == want;
    if (!ok)
        return jfail(c, field, "must be %s, not %s", type_noun(want), type_name(v));
    return 0;
}

int jstring(const struct jctx *c, const json_t *obj, const char *field, bool required, char *out,
            size_t outlen, bool *set)
{
    json_t *v;
    if (typed_member(c, obj, field, required, JSON_STRING, &v, set) < 0)
        return -EINVAL;
    if (!v)
        return 0;
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (strlen(s) != len)
        return jfail(c, field, "must not contain NUL characters");
    if (len >= outlen)
        return jfail(c, field, "too long (%zu bytes, at most %zu)", len, outlen - 1);
    memcpy(out, s, len + 1);
    set_flag(set, true);
    return 0;
}

int jbool(const struct jctx *c, const json_t *obj, const char *field, bool required, bool *out,
          bool *set)
{
    json_t *v;
    if (typed_member(c, obj, field, required, JSON_TRUE, &v, set) < 0)
        return -EINVAL;
    if (!v)
        return 0;
    *out = json_is_true(v);
    set_flag(set, true);
    return 0;
}

int juint(const struct jctx *c, const json_t *obj, const char *field, bool required, uint64_t min,
          uint64_t max, uint64_t *out, bool *set)
{
    json_t *v;
    if (typed_member(c, obj, field, required, JSON_INTEGER, &v, set) < 0)
        return -EINVAL;
    if (!v)
        return 0;
    json_int_t i = json_integer_value(v);
    if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
        return jfail(c, field, "%lld is out of range [%llu, %llu]", (long long)i,
                     (unsigned long long)min, (unsigned long long)max);
    *out = (uint64_t)i;
    set_flag(set, true);
    return 0;
}

int jenum(const struct jctx *c, const json_t *obj, const char *field, bool required,
          const char *const *names, int *out, bool *set)
{
    char s[32];
    bool have;
    set_flag(set, false);
    if (jstring(c, obj, field, required, s, sizeof(s), &have) < 0) {
        /* a long string is simply not one of the names */
        json_t *v = json_object_get(obj, field);
        if (!json_is_string(v))
            return -EINVAL;
        s[0] = '\0';
        have = true;
    }
    if (!have)
        return 0;
    for (int i = 0; names[i]; i++) {
        if (!strcmp(s, names[i])) {
            *out = i;
            set_flag(set, true);
            return 0;
        }
    }
    char list[160];
    join_names(names, list, sizeof(list));
    return jfail(c, field, "invalid value (expected one of: %s)", list);
}

int jeach(const struct jctx *c, const json_t *obj, const char *field,
          int (*fn)(void *arg, struct jctx *ec, const json_t *e), void *arg)
{
    json_t *a = json_object_get(obj, field);
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return jfail(c, field, "must be an array");
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e)
    {
        struct jctx ec;
        jctx_child(c, &ec, field, (int)i);
        if (fn(arg, &ec, e) < 0)
            return -EINVAL;
    }
    return 0;
}
