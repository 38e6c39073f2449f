/* statetest.h — round-trip checks for device state: save, restore into a fresh instance, save
 * again (byte-equal); every truncation and a trailing byte rejected without changing the device. */
#ifndef TRUCE_STATETEST_H
#define TRUCE_STATETEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"
#include "util/state.h"
#include "vm/vm.h"

/* The last instance added to VM (the one a test just created). */
static inline struct device_instance *st_last(struct vm *vm)
{
    struct device_instance *d = vm->devices;
    assert_non_null(d);
    while (d->next)
        d = d->next;
    return d;
}

/* Save D's state into a malloc'd buffer. */
static inline uint8_t *st_save(struct device_instance *d, size_t *len)
{
    struct state_visitor v;
    state_save_init(&v);
    assert_non_null(d->ops->save);
    int rc = d->ops->save(d->dev, &v);
    if (rc || state_finish(&v))
        fail_msg("save %s: %s", d->ops->name, v.msg);
    *len = v.len;
    return v.buf;
}

/* Restore BUF into D; returns 0 or the error (message in MSG when not NULL). */
static inline int st_restore(struct device_instance *d, const uint8_t *buf, size_t len, char *msg,
                             size_t msglen)
{
    struct state_visitor v;
    state_load_init(&v, buf, len);
    int rc = d->ops->restore(d->dev, &v);
    if (!rc)
        rc = state_finish(&v);
    if (msg)
        snprintf(msg, msglen, "%s", v.msg);
    return rc;
}

/* Expect BUF to be rejected by D with a message containing WHAT (NULL: any). */
static inline void st_expect_reject(struct device_instance *d, const uint8_t *buf, size_t len,
                                    const char *what)
{
    char msg[256] = "";
    int rc = st_restore(d, buf, len, msg, sizeof(msg));
    if (rc == 0)
        fail_msg("%s: restore of a bad buffer (%zu bytes, %s) succeeded", d->ops->name, len,
                 what ? what : "truncated");
    assert_int_equal(rc, -EINVAL);
    assert_true(msg[0] != '\0');
    if (what && !strstr(msg, what))
        fail_msg("%s: message \"%s\" does not mention \"%s\"", d->ops->name, msg, what);
}

/* Save A, restore into B, save B: byte-equal. Then every truncation of the buffer and the buffer
 * with one trailing byte are rejected by B, and B still saves the same bytes (restore is all or
 * nothing). Returns the saved buffer (free it) and its length in LEN. */
static inline uint8_t *st_roundtrip(struct device_instance *a, struct device_instance *b,
                                    size_t *len)
{
    size_t n1, n2;
    uint8_t *s1 = st_save(a, &n1);
    char msg[256] = "";
    if (st_restore(b, s1, n1, msg, sizeof(msg)))
        fail_msg("restore %s: %s", b->ops->name, msg);
    uint8_t *s2 = st_save(b, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(s1, s2, n1);
    free(s2);
    for (size_t cut = 0; cut < n1; cut++)
        st_expect_reject(b, s1, cut, NULL);
    uint8_t *longer = malloc(n1 + 1);
    assert_non_null(longer);
    memcpy(longer, s1, n1);
    longer[n1] = 0;
    st_expect_reject(b, longer, n1 + 1, "after the last section");
    free(longer);
    s2 = st_save(b, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(s1, s2, n1);
    free(s2);
    *len = n1;
    return s1;
}

/* Offset of the first payload byte of the first section of BUF. */
static inline size_t st_payload(const uint8_t *buf)
{
    return 1u + buf[0] + 4 + 4;
}

/* A copy of BUF with byte AT set to VAL, expected to be rejected by D naming WHAT. */
static inline void st_reject_patched(struct device_instance *d, const uint8_t *buf, size_t len,
                                     size_t at, uint8_t val, const char *what)
{
    uint8_t *c = malloc(len);
    assert_non_null(c);
    memcpy(c, buf, len);
    assert_true(at < len);
    c[at] = val;
    st_expect_reject(d, c, len, what);
    free(c);
}

/* The generic corruptions: a version this build does not know, version 0, another name. */
static inline void st_reject_header(struct device_instance *d, const uint8_t *buf, size_t len)
{
    size_t ver = 1u + buf[0];
    st_reject_patched(d, buf, len, ver, 0x7f, "not supported");
    uint8_t *c = malloc(len);
    assert_non_null(c);
    memcpy(c, buf, len);
    memset(c + ver, 0, 4);
    st_expect_reject(d, c, len, "not supported");
    c[1] ^= 0x20; /* first letter of the name */
    st_expect_reject(d, c, len, "was expected");
    free(c);
}

#endif
