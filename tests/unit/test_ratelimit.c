/* test_ratelimit.c — token buckets and the limiter (util/ratelimit.c) on a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/ratelimit.h"
#include "util/state.h"

#define MS 1000000ULL

static uint64_t fake_now;
static uint64_t fake_clock(void)
{
    return fake_now;
}

static struct ratelimiter *limiter(const struct rl_config *c)
{
    static struct ratelimiter rl;
    fake_now = 1000 * MS;
    assert_int_equal(rl_init(&rl, c, false), 0);
    rl.clock = fake_clock;
    rl_update(&rl, c, true, true); /* again, on the fake clock */
    return &rl;
}

/* A bucket starts full, refuses what it lacks and refills linearly with time. */
static void bucket_starts_full_and_refills(void **state)
{
    struct token_bucket b;
    struct tb_config c = {.size = 1000, .refill_time = 1000};
    uint64_t over = 0;
    tb_init(&b, &c, 0);
    assert_true(b.on);
    assert_int_equal(tb_reduce(&b, 1000, 0, &over), TB_OK);
    assert_int_equal(b.budget, 0);
    assert_int_equal(tb_reduce(&b, 1, 0, &over), TB_FAIL);
    assert_int_equal(tb_reduce(&b, 1, 999999, &over), TB_FAIL); /* 0.999 of a token */
    assert_int_equal(tb_reduce(&b, 1, 1 * MS, &over), TB_OK);
    assert_int_equal(tb_reduce(&b, 250, 250 * MS, &over), TB_FAIL); /* 249 made since */
    assert_int_equal(tb_reduce(&b, 250, 251 * MS, &over), TB_OK);
    /* a long wait fills it to its size, never beyond */
    assert_int_equal(tb_reduce(&b, 1001, 10000 * MS, &over), TB_OVER);
    tb_init(&b, &c, 0);
    assert_int_equal(tb_reduce(&b, 1, 5000 * MS, &over), TB_OK);
    assert_int_equal(b.budget, 999);
}

/* No drift: asking every 0.7 token's time for one token gives exactly the rate over a long run. */
static void no_drift_at_high_frequency(void **state)
{
    struct token_bucket b;
    struct tb_config c = {.size = 3, .refill_time = 1}; /* 3 tokens per ms: one per 333333.3 ns */
    uint64_t over, now = 0, got = 0;
    tb_init(&b, &c, 0);
    assert_int_equal(tb_reduce(&b, 3, 0, &over), TB_OK); /* empty it */
    for (int i = 0; i < 100000; i++) {
        now += 233333; /* 0.7 of a token */
        got += tb_reduce(&b, 1, now, &over) == TB_OK;
    }
    /* in `now` ns floor(now * 3 / 10^6) tokens were made; the rounding up of each refill's time
     * may cost at most one of them (resetting the clock at each refill would lose about 30%) */
    uint64_t made = now * 3 / MS;
    assert_true(got <= made && got + 1 >= made);
}

/* one_time_burst is spent first, is not refilled, and the budget is untouched while it lasts. */
static void one_time_burst_first_and_never_refilled(void **state)
{
    struct token_bucket b;
    struct tb_config c = {.size = 100, .one_time_burst = 500, .refill_time = 100};
    uint64_t over;
    tb_init(&b, &c, 0);
    assert_int_equal(tb_reduce(&b, 450, 0, &over), TB_OK);
    assert_int_equal(b.one_time_burst, 50);
    assert_int_equal(b.budget, 100);
    /* 50 from the burst, 30 from the budget */
    assert_int_equal(tb_reduce(&b, 80, 1 * MS, &over), TB_OK);
    assert_int_equal(b.one_time_burst, 0);
    assert_int_equal(b.budget, 70);
    /* a long time later: the budget is full again, the burst is gone for good */
    assert_int_equal(tb_reduce(&b, 100, 10000 * MS, &over), TB_OK);
    assert_int_equal(tb_reduce(&b, 1, 10000 * MS, &over), TB_FAIL);
    assert_int_equal(b.one_time_burst, 0);
    /* replenish goes to the burst while one is left, never above its initial value */
    tb_init(&b, &c, 0);
    assert_int_equal(tb_reduce(&b, 10, 0, &over), TB_OK);
    tb_replenish(&b, 1000);
    assert_int_equal(b.one_time_burst, 500);
    assert_int_equal(b.budget, 100);
}

/* A request larger than the bucket passes, empties it and owes excess/size refill times. */
static void larger_than_the_bucket(void **state)
{
    struct token_bucket b;
    struct tb_config c = {.size = 1000, .refill_time = 100};
    uint64_t over = 0;
    tb_init(&b, &c, 0);
    assert_int_equal(tb_reduce(&b, 400, 0, &over), TB_OK);
    assert_int_equal(tb_reduce(&b, 2600, 0, &over), TB_OVER);
    assert_int_equal(b.budget, 0);
    assert_int_equal(over, 2000ULL * 100 * MS / 1000); /* 2000 beyond the 600 left: 200 ms */
}

/* Size 0 or refill_time 0: no bucket, nothing limited. */
static void zero_means_unlimited(void **state)
{
    struct token_bucket b;
    uint64_t over;
    struct tb_config c = {.size = 0, .refill_time = 100};
    tb_init(&b, &c, 0);
    assert_false(b.on);
    assert_int_equal(tb_reduce(&b, UINT64_MAX, 0, &over), TB_OK);
    c = (struct tb_config){.size = 100, .refill_time = 0};
    tb_init(&b, &c, 0);
    assert_false(b.on);
    c = (struct tb_config){.size = 1, .refill_time = TB_MAX_REFILL_MS + 1};
    assert_non_null(tb_config_error(&c));
    c.refill_time = TB_MAX_REFILL_MS;
    assert_null(tb_config_error(&c));
    tb_init(&b, &c, 0);
    assert_true(b.on);
    assert_int_equal(tb_reduce(&b, 1, 0, &over), TB_OK);
    assert_int_equal(tb_reduce(&b, 1, UINT64_MAX / 2, &over), TB_FAIL); /* no overflow */
}

/* The limiter: a refused request arms the timer for the time its missing tokens take (1 ms to
 * 100 ms), and it refuses everything until it fires; an oversized one arms it for the debt. */
static void limiter_timer(void **state)
{
    struct rl_config c = {.bandwidth = {.size = 1000, .refill_time = 100},
                          .ops = {.size = 10, .refill_time = 1000}};
    struct ratelimiter *rl = limiter(&c);
    assert_true(rl_request(rl, 600));
    assert_false(rl_request(rl, 600)); /* bytes short: the op is given back */
    assert_true(rl_blocked(rl));
    assert_int_equal(rl->timer_ns, 20 * MS); /* 200 bytes missing at 10 bytes/ms */
    assert_int_equal(rl->ops.budget, 9);
    assert_false(rl_consume(rl, 1, RL_OPS)); /* blocked: even what is there is refused */
    fake_now += 100 * MS;
    assert_true(rl_timer_event(rl));
    assert_true(rl_request(rl, 600));
    /* 5000 bytes: the bucket refilled to 1000, 4000 owed = 400 ms */
    fake_now += 100 * MS;
    assert_true(rl_consume(rl, 5000, RL_BYTES));
    assert_true(rl_blocked(rl));
    assert_int_equal(rl->timer_ns, 400 * MS);
    assert_true(rl_timer_event(rl));
    /* ops run out first: the bytes are not touched */
    fake_now += 10000 * MS;
    int n = 0;
    while (rl_request(rl, 1))
        n++;
    assert_int_equal(n, 8 + 10); /* the 8 ops left, then one refill to the size */
    assert_int_equal(rl->bw.budget, 1000 - 18);
}

/* The rate a busy guest gets over 10 s never exceeds size/refill_time plus the first bucket. */
static void long_run_rate_bound(void **state)
{
    struct rl_config c = {.bandwidth = {.size = 1000000, .refill_time = 100}};
    struct ratelimiter *rl = limiter(&c);
    uint64_t start = fake_now, bytes = 0;
    while (fake_now - start < 10000 * MS) {
        if (rl_blocked(rl)) {
            fake_now += rl->timer_ns;
            rl_timer_event(rl);
            continue;
        }
        if (rl_consume(rl, 262144, RL_BYTES))
            bytes += 262144;
        fake_now += 50000; /* the device's own time per request */
    }
    uint64_t limit = 10ULL * 10000000 + 1000000; /* 10 MB/s for 10 s, plus the full bucket */
    assert_true(bytes <= limit + 262144);
    /* and not starved either: a refused request waits only for its missing tokens, so the
     * stream gets within 10% of the limit */
    assert_true(bytes >= limit * 9 / 10);
}

/* A tap's frames (1514 bytes, 10 us of device time each) under 20 Mbit/s (250 kB per 100 ms):
 * over 10 s the guest gets at most the limit plus the first bucket, and at least 90% of it. */
static void frames_near_the_limit(void **state)
{
    struct rl_config c = {.bandwidth = {.size = 250000, .refill_time = 100}};
    struct ratelimiter *rl = limiter(&c);
    uint64_t start = fake_now, bytes = 0;
    while (fake_now - start < 10000 * MS) {
        if (rl_blocked(rl)) {
            assert_true(rl->timer_ns >= RL_MIN_RETRY_NS && rl->timer_ns <= RL_RETRY_NS);
            fake_now += rl->timer_ns;
            rl_timer_event(rl);
            continue;
        }
        if (rl_request(rl, 1514))
            bytes += 1514;
        fake_now += 10000;
    }
    uint64_t limit = 10ULL * 2500000 + 250000;
    assert_true(bytes <= limit + 1514);
    assert_true(bytes >= limit * 9 / 10);
}

/* The wait for missing tokens is at least RL_MIN_RETRY_NS and at most RL_RETRY_NS. */
static void retry_wait_bounds(void **state)
{
    struct rl_config slow = {.ops = {.size = 1, .refill_time = 10000}};
    struct ratelimiter *rl = limiter(&slow);
    assert_true(rl_consume(rl, 1, RL_OPS));
    assert_false(rl_consume(rl, 1, RL_OPS)); /* 10 s away: capped */
    assert_int_equal(rl->timer_ns, RL_RETRY_NS);
    struct rl_config fast = {.bandwidth = {.size = 1000000, .refill_time = 1}};
    rl_update(rl, &fast, true, true);
    rl_unblock(rl);
    assert_true(rl_consume(rl, 1000000, RL_BYTES));
    assert_false(rl_consume(rl, 10, RL_BYTES)); /* 10 ns away: the floor */
    assert_int_equal(rl->timer_ns, RL_MIN_RETRY_NS);
}

/* Updates replace only the buckets named, full; an off bucket removes limiting of its kind. */
static void update_buckets(void **state)
{
    struct rl_config c = {.bandwidth = {.size = 100, .refill_time = 100},
                          .ops = {.size = 1, .refill_time = 1000}};
    struct ratelimiter *rl = limiter(&c);
    assert_true(rl_request(rl, 100));
    struct rl_config n = {.bandwidth = {.size = 5000, .refill_time = 100}};
    rl_update(rl, &n, true, false);
    assert_int_equal(rl->bw.budget, 5000);
    assert_int_equal(rl->ops.budget, 0); /* untouched */
    assert_false(rl_request(rl, 1));
    rl_unblock(rl);
    rl_update(rl, &n, false, true); /* ops off */
    assert_false(rl->ops.on);
    assert_true(rl_request(rl, 5000));
}

/* Saved state: round trip, elapsed time carried, mismatched configuration refused. */
static void state_round_trip(void **state)
{
    struct rl_config c = {.bandwidth = {.size = 1000, .one_time_burst = 300, .refill_time = 100}};
    struct ratelimiter *rl = limiter(&c);
    assert_true(rl_consume(rl, 800, RL_BYTES)); /* 300 burst + 500 budget */
    fake_now += 20 * MS;
    struct rl_state s, t;
    rl_state_get(rl, &s);
    struct state_visitor v;
    state_save_init(&v);
    rl_state_visit(&v, &s, rl);
    assert_int_equal(state_finish(&v), 0);

    static struct ratelimiter r2;
    rl_init(&r2, &c, false);
    r2.clock = fake_clock;
    fake_now += 5000 * MS; /* restored much later: the elapsed time is the saved one */
    rl_update(&r2, &c, true, true);
    struct state_visitor l;
    memset(&t, 0, sizeof(t));
    state_load_init(&l, v.buf, v.len);
    rl_state_visit(&l, &t, &r2);
    assert_int_equal(state_finish(&l), 0);
    rl_state_set(&r2, &t);
    assert_int_equal(r2.bw.budget, 500);
    assert_int_equal(r2.bw.one_time_burst, 0);
    uint64_t over;
    assert_int_equal(tb_reduce(&r2.bw, 700, fake_now, &over), TB_OK); /* 500 + 200 made in 20 ms */
    assert_int_equal(tb_reduce(&r2.bw, 1, fake_now, &over), TB_FAIL);

    /* another bucket size in the device: refused, naming it */
    struct rl_config d = {.bandwidth = {.size = 2000, .one_time_burst = 300, .refill_time = 100}};
    rl_update(&r2, &d, true, true);
    state_load_init(&l, v.buf, v.len);
    rl_state_visit(&l, &t, &r2);
    assert_int_not_equal(state_error(&l), 0);
    assert_non_null(strstr(l.msg, "bandwidth"));
    /* a budget above the size: refused */
    rl_update(&r2, &c, true, true);
    rl_state_get(rl, &s);
    s.bw.budget = 1001;
    struct state_visitor w;
    state_save_init(&w);
    rl_state_visit(&w, &s, rl);
    state_load_init(&l, w.buf, w.len);
    rl_state_visit(&l, &t, &r2);
    assert_int_not_equal(state_error(&l), 0);
    state_free(&w);
    state_free(&v);
}

/* The real timerfd: armed for the wait, readable after it, and the limiter open again. */
static void real_timer(void **state)
{
    struct rl_config c = {.ops = {.size = 1, .refill_time = 1000}};
    struct ratelimiter rl;
    assert_int_equal(rl_init(&rl, &c, true), 0);
    assert_true(rl.timer_fd >= 0);
    assert_false(rl_timer_event(&rl)); /* nothing armed: spurious */
    assert_true(rl_consume(&rl, 1, RL_OPS));
    assert_false(rl_consume(&rl, 1, RL_OPS));
    assert_true(rl_blocked(&rl));
    rl_unblock(&rl);
    assert_false(rl_blocked(&rl));
    assert_false(rl_timer_event(&rl)); /* disarmed: nothing to read */
    rl_fini(&rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bucket_starts_full_and_refills),
        cmocka_unit_test(no_drift_at_high_frequency),
        cmocka_unit_test(one_time_burst_first_and_never_refilled),
        cmocka_unit_test(larger_than_the_bucket),
        cmocka_unit_test(zero_means_unlimited),
        cmocka_unit_test(limiter_timer),
        cmocka_unit_test(long_run_rate_bound),
        cmocka_unit_test(frames_near_the_limit),
        cmocka_unit_test(retry_wait_bounds),
        cmocka_unit_test(update_buckets),
        cmocka_unit_test(state_round_trip),
        cmocka_unit_test(real_timer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
