/* state.h — device state buffers: one visit function per device writes or reads its state. */
#ifndef TRUCE_STATE_H
#define TRUCE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A device describes its guest-visible state once, for both directions:
 *
 *     static void uart_state_visit(struct state_visitor *v, struct uart_state *s)
 *     {
 *         if (!state_begin(v, "uart", UART_STATE_VERSION))
 *             return;
 *         STATE_U8(v, s->lcr);
 *         STATE_U8(v, s->rx_count);
 *         STATE_CHECK(v, s->rx_count <= UART_FIFO_SIZE);
 *         state_end(v);
 *     }
 *
 * Saving appends to a growing buffer; loading reads the same fields back in the same order. The
 * buffer is a sequence of sections: name (1 length byte + up to STATE_NAME_MAX bytes), version
 * (u32), payload length (u32), payload; sections nest. Integers are little-endian, booleans one
 * byte (0 or 1). Loading never trusts the buffer: a wrong section name, a version the code does
 * not know, a payload shorter or longer than the fields read, a boolean that is not 0 or 1 and
 * every STATE_CHECK that fails set the first error (v->err, v->msg naming the section and the
 * field); after an error every call does nothing. A device therefore loads into a scratch copy
 * of its state struct and commits it only when state_error() is 0. */

#define STATE_NAME_MAX  31
#define STATE_MAX_DEPTH 4

struct state_visitor {
    bool loading;
    uint8_t *buf; /* save: malloc'd, grows; load: the caller's bytes */
    size_t len;   /* save: bytes written; load: bytes available */
    size_t cap;
    size_t pos;       /* load: read cursor */
    uint32_t version; /* version of the innermost open section (load: as found in the buffer) */
    unsigned depth;
    size_t start[STATE_MAX_DEPTH]; /* offset of each open section's length field (save) or end
                                      of its payload (load) */
    char name[STATE_MAX_DEPTH][STATE_NAME_MAX + 1];
    int err; /* 0, or the first error (-EINVAL bad data, -ENOMEM) */
    char msg[200];
};

/* Start saving into a new, empty buffer (freed by state_free). */
void state_save_init(struct state_visitor *v);
/* Start loading LEN bytes at BUF (not copied, not freed). */
void state_load_init(struct state_visitor *v, const void *buf, size_t len);
/* Free a save buffer. Idempotent. */
void state_free(struct state_visitor *v);
/* The first error (0 when none). */
int state_error(const struct state_visitor *v);
/* Loading: every byte of the buffer was consumed and every section closed; otherwise sets and
 * returns the error. Saving: returns the error so far. */
int state_finish(struct state_visitor *v);
/* Record an error (the first one wins): FMT names what is wrong. Returns v->err. */
int state_fail(struct state_visitor *v, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Open section NAME at VERSION. Loading accepts versions 1..VERSION (v->version tells which was
 * found, so a visit can read the fields of older layouts) and rejects another name. Returns
 * false (and does nothing else) after an error. */
bool state_begin(struct state_visitor *v, const char *name, uint32_t version);
/* Close the innermost section: saving fills in its length; loading checks that its payload was
 * consumed exactly. */
void state_end(struct state_visitor *v);

void state_u8(struct state_visitor *v, uint8_t *p, const char *what);
void state_u16(struct state_visitor *v, uint16_t *p, const char *what);
void state_u32(struct state_visitor *v, uint32_t *p, const char *what);
void state_u64(struct state_visitor *v, uint64_t *p, const char *what);
void state_i64(struct state_visitor *v, int64_t *p, const char *what);
void state_bool(struct state_visitor *v, bool *p, const char *what);
void state_bytes(struct state_visitor *v, void *p, size_t len, const char *what);
/* Loading: fail unless OK (WHAT names the rule). Saving: nothing. */
void state_check(struct state_visitor *v, bool ok, const char *what);

#define STATE_U8(v, f)       state_u8((v), &(f), #f)
#define STATE_U16(v, f)      state_u16((v), &(f), #f)
#define STATE_U32(v, f)      state_u32((v), &(f), #f)
#define STATE_U64(v, f)      state_u64((v), &(f), #f)
#define STATE_I64(v, f)      state_i64((v), &(f), #f)
#define STATE_BOOL(v, f)     state_bool((v), &(f), #f)
#define STATE_BYTES(v, a)    state_bytes((v), (a), sizeof(a), #a)
#define STATE_CHECK(v, cond) state_check((v), (cond), #cond)
/* A field followed by its range rule. */
#define STATE_U8_MAX(v, f, m)  (STATE_U8(v, f), state_check((v), (f) <= (m), #f " <= " #m))
#define STATE_U16_MAX(v, f, m) (STATE_U16(v, f), state_check((v), (f) <= (m), #f " <= " #m))
#define STATE_U32_MAX(v, f, m) (STATE_U32(v, f), state_check((v), (f) <= (m), #f " <= " #m))

#endif
