/* test_rng.c — virtio-rng: random bytes into the driver's buffers, bounded per request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "virtio_fixture.h"

/* The rate limiter of the next device created (setup_limited). */
static struct rl_config next_limit;

static int setup(void **state)
{
    struct vfix *f = calloc(1, sizeof(*f));
    vf_init(f);
    char err[256] = "";
    f->vm.cfg.entropy = true;
    f->vm.cfg.entropy_rate_limiter = next_limit;
    assert_int_equal(device_class_find("virtio-rng")->create(&f->vm, err, sizeof(err)), 0);
    vf_probe(f, 1);
    vf_bringup(f, vf_features(f), 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    vf_fini(*state);
    free(*state);
    return 0;
}

/* Count the zero bytes of [gpa, gpa + len). */
static size_t zeros(struct vfix *f, uint64_t gpa, size_t len)
{
    const uint8_t *p = gpa_to_hva(&f->vm.mem, gpa, len);
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += !p[i];
    return n;
}

static void fills_buffers_with_entropy(void **state)
{
    struct vfix *f = *state;
    vf_desc(f, 0, 0, VF_BUF, 4096, VRING_DESC_F_WRITE, 0);
    vf_offer(f, 0, 0);
    assert_true(vf_wait_used(f, 0, 1));
    assert_int_equal(vf_used(f, 0, 0).len, 4096);
    assert_true(zeros(f, VF_BUF, 4096) < 100); /* ~16 expected; all-zero would be a bug */
}

static void bounded_per_request(void **state)
{
    struct vfix *f = *state;
    vf_desc(f, 0, 0, VF_BUF, 48 * 1024, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    vf_desc(f, 0, 1, VF_BUF + 0x10000, 48 * 1024, VRING_DESC_F_WRITE, 0);
    vf_offer(f, 0, 0);
    assert_true(vf_wait_used(f, 0, 1));
    assert_int_equal(vf_used(f, 0, 0).len, 64 * 1024);
    /* the bytes beyond the bound are left alone */
    assert_int_equal(zeros(f, VF_BUF + 0x10000 + 16 * 1024, 32 * 1024), 32 * 1024);
}

static void readable_only_chain_gets_nothing(void **state)
{
    struct vfix *f = *state;
    vf_desc(f, 0, 0, VF_BUF, 64, 0, 0);
    vf_offer(f, 0, 0);
    assert_true(vf_wait_used(f, 0, 1));
    assert_int_equal(vf_used(f, 0, 0).len, 0);
    assert_int_equal(zeros(f, VF_BUF, 64), 64);
}

static void many_small_requests(void **state)
{
    struct vfix *f = *state;
    for (unsigned i = 0; i < 40; i++) {
        vf_desc(f, 0, i, VF_BUF + 64 * i, 32, VRING_DESC_F_WRITE, 0);
        vf_offer(f, 0, (uint16_t)i);
    }
    assert_true(vf_wait_used(f, 0, 40));
    for (unsigned i = 0; i < 40; i++)
        assert_int_equal(vf_used(f, 0, (uint16_t)i).len, 32);
}

/* Offer N requests of 32 bytes (buffers 64 bytes apart) at once. */
static void offer_n(struct vfix *f, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        vf_desc(f, 0, i, VF_BUF + 64 * i, 32, VRING_DESC_F_WRITE, 0);
        vf_offer(f, 0, (uint16_t)i);
    }
}

static int setup_slow(void **state)
{
    next_limit = (struct rl_config){.ops = {.size = 2, .refill_time = 10000}};
    int rc = setup(state);
    next_limit = (struct rl_config){0};
    return rc;
}

static int setup_fast(void **state)
{
    next_limit = (struct rl_config){.ops = {.size = 1, .refill_time = 100},
                                    .bandwidth = {.size = 64, .refill_time = 100}};
    int rc = setup(state);
    next_limit = (struct rl_config){0};
    return rc;
}

/* Two requests per 10 s: two are served, the rest wait in the ring (not failed) until a live
 * update lifts the limit; then every one is served in full. */
static void limited_requests_wait_in_the_queue(void **state)
{
    struct vfix *f = *state;
    struct rng_counters c;
    offer_n(f, 5);
    assert_true(vf_wait_used(f, 0, 2));
    vf_quiesce(f);
    assert_int_equal(vf_used_idx(f, 0), 2); /* the next token is 5 s away */
    virtio_rng_counters(&f->vm, &c);
    assert_true(c.throttled >= 1);
    assert_int_equal(c.bytes, 64);
    struct rl_config off = {0};
    assert_int_equal(virtio_rng_set_rate_limiter(&f->vm, &off, true, true), 0);
    assert_true(vf_wait_used(f, 0, 5));
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(vf_used(f, 0, (uint16_t)i).len, 32);
    assert_true(zeros(f, VF_BUF + 64 * 4, 32) < 32);
}

/* One request and 64 bytes per 100 ms: the limiter's timer brings every request through. */
static void limiter_timer_resumes_the_queue(void **state)
{
    struct vfix *f = *state;
    struct rng_counters c;
    offer_n(f, 4);
    assert_true(vf_wait_used(f, 0, 4));
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(vf_used(f, 0, (uint16_t)i).len, 32);
    virtio_rng_counters(&f->vm, &c);
    assert_true(c.throttled >= 1);
    assert_true(c.events >= 1);
    assert_int_equal(c.bytes, 4 * 32);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(fills_buffers_with_entropy),
        T(bounded_per_request),
        T(readable_only_chain_gets_nothing),
        T(many_small_requests),
        cmocka_unit_test_setup_teardown(limited_requests_wait_in_the_queue, setup_slow, teardown),
        cmocka_unit_test_setup_teardown(limiter_timer_resumes_the_queue, setup_fast, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
