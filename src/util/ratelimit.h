/* ratelimit.h — Firecracker's rate limiter: a bandwidth and an ops token bucket and one timer. */
#ifndef TRUCE_RATELIMIT_H
#define TRUCE_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct state_visitor;

/* One bucket as configured (Firecracker's TokenBucket object): SIZE tokens, refilled from empty
 * to full in REFILL_TIME milliseconds, plus ONE_TIME_BURST tokens spent first and never refilled.
 * A SIZE or REFILL_TIME of 0 means no bucket: that kind of token is not limited. */
struct tb_config {
    uint64_t size;
    uint64_t one_time_burst;
    uint64_t refill_time; /* ms */
};

/* A RateLimiter object: bandwidth counts bytes, ops counts requests. */
struct rl_config {
    struct tb_config bandwidth;
    struct tb_config ops;
};

static inline bool tb_config_on(const struct tb_config *c)
{
    return c->size && c->refill_time;
}
static inline bool rl_config_on(const struct rl_config *c)
{
    return tb_config_on(&c->bandwidth) || tb_config_on(&c->ops);
}

/* Largest refill_time accepted: refill_time * 10^6 ns must fit 64 bits (Firecracker's bound). */
#define TB_MAX_REFILL_MS (UINT64_MAX / 1000000ULL)
/* Why C cannot be a bucket (NULL: it can). */
const char *tb_config_error(const struct tb_config *c);

/* ---- the bucket -------------------------------------------------------------------------------
 * Refills lazily, when a request finds it short: the tokens made since last_update are added
 * (at most up to SIZE) and last_update advances only by the time those whole tokens took, so
 * the fraction of a token already earned is kept: no drift, however often it is asked. Times
 * are CLOCK_MONOTONIC nanoseconds passed in by the caller. */
struct token_bucket {
    bool on;
    uint64_t size, initial_burst, refill_ms;
    uint64_t one_time_burst; /* left of the burst */
    uint64_t budget;         /* tokens in the bucket, <= size */
    uint64_t last_update;    /* ns */
    uint64_t cap_q, time_q;  /* size / g and refill time in ns / g, g = their gcd */
};

enum tb_result {
    TB_OK,   /* the tokens were taken */
    TB_FAIL, /* not enough: nothing taken; *OVER_NS says when enough will be there */
    TB_OVER, /* more than the bucket's size: the bucket was emptied, *OVER_NS says for how long
                it stays in debt (the tokens beyond the budget at the bucket's refill rate) */
};

/* Set B from C at time NOW, full. A C that is off makes B off (every reduce succeeds). */
void tb_init(struct token_bucket *b, const struct tb_config *c, uint64_t now);
/* Take TOKENS: from the one-time burst first, then the budget (refilled first when short). */
enum tb_result tb_reduce(struct token_bucket *b, uint64_t tokens, uint64_t now, uint64_t *over_ns);
/* Give TOKENS back (undoing a reduce): to the burst while one is left, else to the budget. */
void tb_replenish(struct token_bucket *b, uint64_t tokens);

/* ---- the limiter ------------------------------------------------------------------------------
 * Firecracker's RateLimiter: a request that finds a bucket short is refused and arms a one-shot
 * timer; one larger than the bucket is let through, empties it and arms the timer for the time
 * the excess takes to refill. While the timer is armed every request is refused. The device
 * keeps refused requests in its queue and tries again when the timer fires. Firecracker retries
 * a refused request after a fixed 100 ms; truce waits for the time its missing tokens take
 * (between RL_MIN_RETRY_NS and RL_RETRY_NS), so a stream is not stalled longer than the rate
 * needs and a TCP flow gets close to its limit rather than well below it. */
#define RL_RETRY_NS     (100 * 1000000ULL)
#define RL_MIN_RETRY_NS (1000000ULL)

enum rl_token { RL_BYTES, RL_OPS };

struct ratelimiter {
    struct token_bucket bw, ops;
    int timer_fd;      /* CLOCK_MONOTONIC timerfd, or -1 (unit tests: the wait is only recorded) */
    bool timer_active; /* refusing everything until the timer fires */
    uint64_t timer_ns; /* the last wait armed */
    uint64_t (*clock)(void); /* now in ns: now_ns(), or a test's fake clock */
};

/* Set RL from C. WITH_TIMER: create its timerfd (kept for the limiter's life even when C is off,
 * so a later update can turn limiting on). Returns 0 or -errno. */
int rl_init(struct ratelimiter *rl, const struct rl_config *c, bool with_timer);
void rl_fini(struct ratelimiter *rl);
/* Replace the buckets named by BW / OPS with C's (a bucket that is off in C is removed); each new
 * bucket starts full, as Firecracker's update_buckets. */
void rl_update(struct ratelimiter *rl, const struct rl_config *c, bool bw, bool ops);
static inline bool rl_blocked(const struct ratelimiter *rl)
{
    return rl->timer_active;
}
/* Take TOKENS of KIND; false when refused (the timer is then armed). */
bool rl_consume(struct ratelimiter *rl, uint64_t tokens, enum rl_token kind);
void rl_replenish(struct ratelimiter *rl, uint64_t tokens, enum rl_token kind);
/* One request of BYTES bytes: an op, then the bytes; both are taken or neither (net, entropy). */
bool rl_request(struct ratelimiter *rl, uint64_t bytes);
/* The timerfd became readable: returns true when it had expired (the limiter takes requests
 * again), false when it was spurious. */
bool rl_timer_event(struct ratelimiter *rl);
/* Stop refusing now (a live update): disarm the timer. */
void rl_unblock(struct ratelimiter *rl);

/* ---- state (snapshots) --------------------------------------------------------------------------
 * As Firecracker saves it: per bucket whether it exists, its configuration, the burst and budget
 * left and the time since its last update; the timer is not saved (a restored limiter is not
 * blocked). */
struct tb_state {
    bool on;
    uint64_t size, initial_burst, refill_ms, one_time_burst, budget, elapsed_ns;
};
struct rl_state {
    struct tb_state bw, ops;
};
void rl_state_get(const struct ratelimiter *rl, struct rl_state *s);
/* One section "ratelimit". Loading checks the buckets against RL's configuration (the same
 * buckets, sizes, bursts and refill times: a snapshot restores its limits through the machine
 * configuration) and the ranges (budget <= size, burst left <= burst). Changes nothing. */
void rl_state_visit(struct state_visitor *v, struct rl_state *s, const struct ratelimiter *rl);
/* Make S (checked by rl_state_visit) RL's state at the limiter's clock. */
void rl_state_set(struct ratelimiter *rl, const struct rl_state *s);

#endif
