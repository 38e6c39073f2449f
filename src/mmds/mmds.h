/* mmds.h — the microVM metadata service: the JSON store, the guest's HTTP/TCP/ARP responder.
 *
 * Three parts, each a file:
 *   store.c   the data store the API fills (PUT/PATCH/GET /mmds) and the guest reads, the V2
 *             session tokens; one mutex, so the API thread and the VM's I/O thread share it.
 *   http.c    one HTTP/1.1 request parsed from a bounded buffer, the response to it (pure).
 *   tcp.c     a minimal ARP + IPv4 + TCP responder for the MMDS address: frames in, frames out,
 *             no fds, no timers (pure, driven by net.c; unit-tested and fuzzed on its own).
 *   net.c     a net backend that sits in front of an interface's real backend (tap or user
 *             networking): frames the guest sends to the MMDS address go to the responder and
 *             never reach the host; the responder's frames are received before the host's.
 * Everything a guest can make the responder hold is bounded: MMDS_MAX_CONN connections (the
 * least recently used one is reset for a new one), MMDS_REQ_MAX bytes of request per
 * connection, one response in flight per connection, MMDS_OUT_BUDGET bytes of responses in all,
 * MMDS_CTL_QUEUE control frames (ARP replies, resets); MMDS_MAX_TOKENS live session tokens. */
#ifndef TRUCE_MMDS_H
#define TRUCE_MMDS_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "platform/config.h"

#define MMDS_DEFAULT_LIMIT 51200       /* bytes of JSON: Firecracker's default (its API payload) */
#define MMDS_DEFAULT_IPV4  0xa9fea9feu /* 169.254.169.254 */
#define MMDS_TOKEN_TTL_MIN 1
#define MMDS_TOKEN_TTL_MAX 21600
#define MMDS_TOKEN_CHARS   48          /* hex of 24 random bytes */
#define MMDS_MAX_TOKENS    1024        /* live tokens; a new one replaces the one expiring first */
#define MMDS_MAX_CONN      32          /* TCP connections */
#define MMDS_REQ_MAX       4096        /* bytes of one request (head + body); the receive window */
#define MMDS_CTL_QUEUE     32          /* queued ARP replies and resets */
#define MMDS_OUT_BUDGET    (16u << 20) /* bytes of responses held for all connections */
#define MMDS_PATH_MAX      1024        /* longest request path */
#define MMDS_MSS           1460        /* largest segment we send (1500-byte MTU) */
#define MMDS_FRAME_MAX     (14 + 20 + 24 + MMDS_MSS)

/* The response formats of a GET: JSON, or IMDS (object keys one a line, strings bare). */
enum mmds_format { MMDS_FMT_JSON, MMDS_FMT_IMDS };

/* ---- store.c ---------------------------------------------------------------------------------
 * All calls take the store's lock; any thread. */
struct mmds_token {
    char tok[MMDS_TOKEN_CHARS + 1];
    uint64_t expiry_ms; /* CLOCK_MONOTONIC */
};

/* Counters for the metrics (Firecracker's "mmds" names; any thread, relaxed atomics). */
struct mmds_counters {
    uint64_t rx_accepted;                   /* frames the responder took from the guest */
    uint64_t rx_accepted_err;               /* of those, dropped as malformed or unsupported */
    uint64_t rx_count;                      /* HTTP requests answered */
    uint64_t rx_no_token, rx_invalid_token; /* V2 GETs refused */
    uint64_t tx_frames, tx_bytes;           /* frames the responder gave the guest */
    uint64_t connections_created, connections_destroyed;
    uint64_t tokens_issued, connections_evicted; /* truce's own */
};
#define MMDS_COUNT(m, field, n) __atomic_fetch_add(&(m)->count.field, (n), __ATOMIC_RELAXED)

struct mmds {
    pthread_mutex_t lock;
    json_t *data; /* NULL until the first PUT */
    size_t limit; /* largest compact JSON rendering of the store, bytes */
    struct mmds_token tokens[MMDS_MAX_TOKENS];
    uint64_t token_key; /* mixes the random token bytes (getrandom fallback only) */
    struct mmds_counters count;
};
/* A snapshot of M's counters. */
void mmds_counters(struct mmds *m, struct mmds_counters *out);

/* A new empty store with LIMIT bytes (0: MMDS_DEFAULT_LIMIT). NULL when out of memory. */
struct mmds *mmds_new(size_t limit);
void mmds_free(struct mmds *m);
void mmds_set_limit(struct mmds *m, size_t limit);
/* Replace the store with DATA (a new reference is taken). Returns 0, or -EFBIG ("The MMDS patch
 * request doesn't fit.", Firecracker's text, in ERR) when its compact JSON exceeds the limit. */
int mmds_put(struct mmds *m, json_t *data, char *err, size_t errlen);
/* JSON merge patch (RFC 7396) PATCH into the store. Returns 0, -ENOENT (the store was never
 * PUT) or -EFBIG, with Firecracker's text in ERR; the store is unchanged on error. */
int mmds_patch(struct mmds *m, const json_t *patch, char *err, size_t errlen);
/* A deep copy of the whole store ({} when never PUT). New reference, NULL when out of memory. */
json_t *mmds_get_all(struct mmds *m);
/* The value at PATH ("/a/b", "//" collapsed, a trailing '/' ignored, JSON-pointer ~0 ~1 escapes,
 * array indexes) rendered in FMT into *OUT (malloc'd, NUL-terminated, *LEN bytes). Returns 0,
 * -ENOENT (no such value), -ENOTSUP (IMDS cannot render it: not an object or a string) or
 * -ENOMEM. */
int mmds_render(struct mmds *m, const char *path, enum mmds_format fmt, char **out, size_t *len);
/* A new session token valid TTL seconds from NOW_MS into TOK. Returns 0 or -EINVAL (TTL outside
 * 1..21600). */
int mmds_token_new(struct mmds *m, uint32_t ttl, uint64_t now_ms, char tok[MMDS_TOKEN_CHARS + 1]);
/* True when TOK was issued and has not expired at NOW_MS. */
bool mmds_token_valid(struct mmds *m, const char *tok, uint64_t now_ms);
/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t mmds_now_ms(void);

/* ---- http.c: requests and responses (pure) ----------------------------------------------------
 */
enum mmds_method { MMDS_GET, MMDS_PUT, MMDS_OTHER };

struct mmds_req {
    enum mmds_method method;
    char path[MMDS_PATH_MAX]; /* absolute path, query removed, "//" collapsed */
    bool http10;
    bool keep_alive;  /* HTTP/1.1 without "Connection: close", or 1.0 with keep-alive */
    bool accept_json; /* Accept: application/json */
    bool has_token, has_ttl, forwarded_for;
    char token[MMDS_TOKEN_CHARS + 16]; /* X-metadata-token (longer values: invalid) */
    bool token_long;
    char ttl[24]; /* X-metadata-token-ttl-seconds, as sent */
    size_t content_length;
};

/* Parse one request at the start of BUF (LEN bytes). Returns the bytes it takes (head and body)
 * when complete, 0 when more bytes are needed, -E2BIG when it cannot fit MMDS_REQ_MAX, -EINVAL
 * when malformed (then *WHY says what). */
int mmds_http_parse(const char *buf, size_t len, struct mmds_req *rq, const char **why);

/* What the responder answers: version and format rules of the MMDS configuration. */
struct mmds_policy {
    uint8_t version; /* 1 or 2 */
    bool imds_compat;
};
/* The whole HTTP response to RQ (or to a malformed request when RQ is NULL, WHY its reason) in
 * *OUT (malloc'd, *LEN bytes). *CLOSE says the connection ends after it. Returns 0 or -ENOMEM. */
int mmds_http_respond(struct mmds *m, const struct mmds_policy *p, const struct mmds_req *rq,
                      const char *why, uint64_t now_ms, char **out, size_t *len, bool *close);

/* ---- tcp.c: the responder (pure; one per interface; not thread-safe: the I/O thread) --------- */
struct mmds_stack;

/* A responder for address IPV4 (host order) answering from MMDS_MAC with store M and policy P.
 * NULL when out of memory. */
struct mmds_stack *mmds_stack_new(struct mmds *m, const struct mmds_policy *p, uint32_t ipv4);
void mmds_stack_free(struct mmds_stack *s);
/* Is FRAME (LEN bytes of Ethernet, no vnet header) for the responder: an ARP packet asking for
 * its address, or an IPv4 packet to it? */
bool mmds_stack_wants(const struct mmds_stack *s, const uint8_t *frame, size_t len);
/* Take one frame the guest sent (mmds_stack_wants was true). Malformed frames are dropped. */
void mmds_stack_input(struct mmds_stack *s, const uint8_t *frame, size_t len, uint64_t now_ms);
/* Is a frame waiting for the guest? */
bool mmds_stack_pending(const struct mmds_stack *s);
/* The next frame for the guest into BUF (CAP >= MMDS_FRAME_MAX bytes). Returns its length, or 0
 * when none is waiting. */
size_t mmds_stack_output(struct mmds_stack *s, uint8_t *buf, size_t cap);
/* Counters for tests and logs. */
struct mmds_stack_stats {
    unsigned conns;   /* open connections */
    size_t out_bytes; /* response bytes held */
    uint64_t resets, evicted, dropped, requests;
};
void mmds_stack_stats(const struct mmds_stack *s, struct mmds_stack_stats *out);
/* The MAC the responder answers from. */
extern const uint8_t mmds_mac[6];

/* ---- net.c: the backend in front of an interface -----------------------------------------------
 */
struct net_backend;
struct evloop;
/* Put a responder for CFG in front of *BE (opened on LOOP): *BE becomes the wrapper, which
 * forwards every other frame to the backend it wraps and closes it when closed. Returns 0 or
 * -errno with ERR. */
int mmds_net_wrap(struct mmds *m, const struct mmds_config *cfg, struct evloop *loop,
                  struct net_backend **be, char *err, size_t errlen);

#endif
