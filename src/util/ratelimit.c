/* ratelimit.c — token buckets with Firecracker's semantics, the limiter's timer and its state. */
#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "util/ratelimit.h"
#include "util/state.h"
#include "util/util.h"

#define NS_PER_MS 1000000ULL

const char *tb_config_error(const struct tb_config *c)
{
    if (c->refill_time > TB_MAX_REFILL_MS)
        return "refill_time is too large (at most 18446744073709 ms)";
    return NULL;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* ---- the bucket ------------------------------------------------------------------------------ */

void tb_init(struct token_bucket *b, const struct tb_config *c, uint64_t now)
{
    memset(b, 0, sizeof(*b));
    if (!tb_config_on(c) || tb_config_error(c))
        return;
    uint64_t refill_ns = c->refill_time * NS_PER_MS;
    uint64_t g = gcd(c->size, refill_ns);
    *b = (struct token_bucket){
        .on = true,
        .size = c->size,
        .initial_burst = c->one_time_burst,
        .refill_ms = c->refill_time,
        .one_time_burst = c->one_time_burst,
        .budget = c->size,
        .last_update = now,
        .cap_q = c->size / g,
        .time_q = refill_ns / g,
    };
}

/* Add the tokens made since last_update. Keeps the part of a token already earned by moving
 * last_update only by the time the whole tokens took (rounded up, so no nanosecond counts twice).
 */
static void tb_refill(struct token_bucket *b, uint64_t now)
{
    uint64_t delta = now > b->last_update ? now - b->last_update : 0;
    if (delta >= b->refill_ms * NS_PER_MS) {
        b->budget = b->size;
        b->last_update = now;
        return;
    }
    /* delta < refill time in ns, cap_q <= size: the products fit 128 bits */
    unsigned __int128 tokens = (unsigned __int128)delta * b->cap_q / b->time_q;
    unsigned __int128 used = tokens * b->time_q;
    uint64_t adjust = (uint64_t)(used / b->cap_q) + (used % b->cap_q != 0);
    b->last_update += adjust;
    uint64_t room = b->size - b->budget;
    b->budget += tokens < room ? (uint64_t)tokens : room;
}

enum tb_result tb_reduce(struct token_bucket *b, uint64_t tokens, uint64_t now, uint64_t *over_ns)
{
    if (!b->on)
        return TB_OK;
    if (b->one_time_burst) {
        if (b->one_time_burst >= tokens) {
            b->one_time_burst -= tokens;
            b->last_update = now;
            return TB_OK;
        }
        tokens -= b->one_time_burst;
        b->one_time_burst = 0;
    }
    if (tokens > b->budget) {
        tb_refill(b, now);
        if (tokens > b->size) {
            /* let it through, empty the bucket, and owe the rest: tokens beyond the budget take
             * (excess / size) refill times to come back */
            uint64_t excess = tokens - b->budget;
            b->budget = 0;
            unsigned __int128 ns = (unsigned __int128)excess * b->refill_ms * NS_PER_MS / b->size;
            *over_ns = ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
            return TB_OVER;
        }
        if (tokens > b->budget) { /* the time the missing tokens take to come */
            unsigned __int128 ns =
                ((unsigned __int128)(tokens - b->budget) * b->refill_ms * NS_PER_MS + b->size - 1) /
                b->size;
            *over_ns = ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
            return TB_FAIL;
        }
    }
    b->budget -= tokens;
    return TB_OK;
}

void tb_replenish(struct token_bucket *b, uint64_t tokens)
{
    if (!b->on)
        return;
    if (b->one_time_burst) {
        uint64_t room = b->initial_burst - b->one_time_burst;
        b->one_time_burst += MIN(tokens, room);
        return;
    }
    b->budget += MIN(tokens, b->size - b->budget);
}

/* ---- the limiter ----------------------------------------------------------------------------- */

int rl_init(struct ratelimiter *rl, const struct rl_config *c, bool with_timer)
{
    memset(rl, 0, sizeof(*rl));
    rl->timer_fd = -1;
    rl->clock = now_ns;
    if (with_timer) {
        rl->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (rl->timer_fd < 0)
            return -errno;
    }
    rl_update(rl, c, true, true);
    return 0;
}

void rl_fini(struct ratelimiter *rl)
{
    if (rl->timer_fd >= 0)
        close(rl->timer_fd);
    rl->timer_fd = -1;
}

void rl_update(struct ratelimiter *rl, const struct rl_config *c, bool bw, bool ops)
{
    uint64_t now = rl->clock();
    if (bw)
        tb_init(&rl->bw, &c->bandwidth, now);
    if (ops)
        tb_init(&rl->ops, &c->ops, now);
}

/* Arm the one-shot timer for NS (at least 1 ns: a zero it_value would disarm it). */
static void rl_arm(struct ratelimiter *rl, uint64_t ns)
{
    ns = MAX(ns, 1);
    rl->timer_active = true;
    rl->timer_ns = ns;
    if (rl->timer_fd < 0)
        return;
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)MIN(ns / 1000000000ULL, INT32_MAX),
                                          .tv_nsec = (long)(ns % 1000000000ULL)}};
    timerfd_settime(rl->timer_fd, 0, &its, NULL);
}

bool rl_consume(struct ratelimiter *rl, uint64_t tokens, enum rl_token kind)
{
    if (rl->timer_active)
        return false;
    struct token_bucket *b = kind == RL_BYTES ? &rl->bw : &rl->ops;
    uint64_t over = 0;
    switch (tb_reduce(b, tokens, rl->clock(), &over)) {
    case TB_OK:
        return true;
    case TB_FAIL:
        rl_arm(rl, MIN(MAX(over, RL_MIN_RETRY_NS), RL_RETRY_NS));
        return false;
    case TB_OVER:
        rl_arm(rl, over);
        return true;
    }
    return true;
}

void rl_replenish(struct ratelimiter *rl, uint64_t tokens, enum rl_token kind)
{
    tb_replenish(kind == RL_BYTES ? &rl->bw : &rl->ops, tokens);
}

bool rl_request(struct ratelimiter *rl, uint64_t bytes)
{
    if (!rl_consume(rl, 1, RL_OPS))
        return false;
    if (!rl_consume(rl, bytes, RL_BYTES)) {
        rl_replenish(rl, 1, RL_OPS);
        return false;
    }
    return true;
}

bool rl_timer_event(struct ratelimiter *rl)
{
    uint64_t n = 0;
    if (rl->timer_fd >= 0 && read(rl->timer_fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
        n = 0;
    if (rl->timer_fd < 0)
        n = 1; /* tests: the caller says the wait is over */
    if (!n)
        return false;
    rl->timer_active = false;
    return true;
}

void rl_unblock(struct ratelimiter *rl)
{
    if (rl->timer_fd >= 0) {
        struct itimerspec off = {0};
        timerfd_settime(rl->timer_fd, 0, &off, NULL);
        uint64_t n;
        if (read(rl->timer_fd, &n, sizeof(n)) < 0) {
            /* EAGAIN: it had not expired */
        }
    }
    rl->timer_active = false;
}

/* ---- state ----------------------------------------------------------------------------------- */

static void tb_state_get(const struct token_bucket *b, struct tb_state *s, uint64_t now)
{
    *s = (struct tb_state){.on = b->on};
    if (!b->on)
        return;
    s->size = b->size;
    s->initial_burst = b->initial_burst;
    s->refill_ms = b->refill_ms;
    s->one_time_burst = b->one_time_burst;
    s->budget = b->budget;
    s->elapsed_ns = now > b->last_update ? now - b->last_update : 0;
}

void rl_state_get(const struct ratelimiter *rl, struct rl_state *s)
{
    uint64_t now = rl->clock();
    tb_state_get(&rl->bw, &s->bw, now);
    tb_state_get(&rl->ops, &s->ops, now);
}

static void tb_state_visit(struct state_visitor *v, struct tb_state *s,
                           const struct token_bucket *b, const char *name)
{
    STATE_BOOL(v, s->on);
    if (!s->on) {
        if (v->loading && !state_error(v) && b->on)
            state_fail(v, -EINVAL, "%s: the snapshot has no %s bucket, the device has one", name,
                       name);
        return;
    }
    STATE_U64(v, s->size);
    STATE_U64(v, s->initial_burst);
    STATE_U64(v, s->refill_ms);
    STATE_U64(v, s->one_time_burst);
    STATE_U64(v, s->budget);
    STATE_U64(v, s->elapsed_ns);
    STATE_CHECK(v, s->budget <= s->size);
    STATE_CHECK(v, s->one_time_burst <= s->initial_burst);
    if (!v->loading || state_error(v))
        return;
    if (!b->on || b->size != s->size || b->initial_burst != s->initial_burst ||
        b->refill_ms != s->refill_ms)
        state_fail(v, -EINVAL,
                   "%s bucket: the snapshot has size %llu, one_time_burst %llu, refill_time %llu; "
                   "the device is configured otherwise",
                   name, (unsigned long long)s->size, (unsigned long long)s->initial_burst,
                   (unsigned long long)s->refill_ms);
}

void rl_state_visit(struct state_visitor *v, struct rl_state *s, const struct ratelimiter *rl)
{
    if (!state_begin(v, "ratelimit", 1))
        return;
    tb_state_visit(v, &s->bw, &rl->bw, "bandwidth");
    tb_state_visit(v, &s->ops, &rl->ops, "ops");
    state_end(v);
}

static void tb_state_set(struct token_bucket *b, const struct tb_state *s, uint64_t now)
{
    if (!s->on || !b->on)
        return;
    b->one_time_burst = s->one_time_burst;
    b->budget = s->budget;
    b->last_update = now - MIN(s->elapsed_ns, now); /* time since the last update goes on */
}

void rl_state_set(struct ratelimiter *rl, const struct rl_state *s)
{
    uint64_t now = rl->clock();
    tb_state_set(&rl->bw, &s->bw, now);
    tb_state_set(&rl->ops, &s->ops, now);
    rl_unblock(rl);
}
