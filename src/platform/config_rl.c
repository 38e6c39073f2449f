/* config_rl.c — rate limiter keys of --disk, --net and --rng (bw=SIZE[/MS], ops=N[/MS], bursts). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/config.h"
#include "util/util.h"

#define ERR(...)          (snprintf(err, errlen, __VA_ARGS__), -EINVAL)
#define DEFAULT_REFILL_MS 1000

/* "AMOUNT[/MS]": AMOUNT through PARSE (a size with K/M/G, or a plain count), MS the refill time
 * (default 1000: AMOUNT per second). Returns 0 or -EINVAL. */
static int parse_bucket(const char *v, bool size, struct tb_config *b)
{
    char amount[64];
    const char *slash = strchr(v, '/');
    size_t n = slash ? (size_t)(slash - v) : strlen(v);
    if (n >= sizeof(amount))
        return -EINVAL;
    memcpy(amount, v, n);
    amount[n] = 0;
    uint64_t a, ms = DEFAULT_REFILL_MS;
    if (size ? parse_size(amount, &a) : parse_uint(amount, 0, INT64_MAX, &a))
        return -EINVAL;
    if (slash && parse_uint(slash + 1, 1, TB_MAX_REFILL_MS, &ms))
        return -EINVAL;
    if (a > INT64_MAX)
        return -EINVAL;
    b->size = a;
    b->refill_time = ms;
    return 0;
}

int config_rl_kv(struct rl_config *r, const char *opt, const char *prefix, const char *k,
                 const char *v, char *err, size_t errlen)
{
    uint64_t burst;
    size_t pl = strlen(prefix);
    if (strncmp(k, prefix, pl))
        return 0;
    const char *key = k + pl;
    if (!strcmp(key, "bw")) {
        if (parse_bucket(v, true, &r->bandwidth))
            return ERR("%s: %s=%s: expected bytes per second like 10M, or SIZE/MS (SIZE bytes "
                       "every MS milliseconds) like 1M/100",
                       opt, k, v);
    } else if (!strcmp(key, "ops")) {
        if (parse_bucket(v, false, &r->ops))
            return ERR("%s: %s=%s: expected operations per second like 1000, or N/MS (N every MS "
                       "milliseconds) like 100/100",
                       opt, k, v);
    } else if (!strcmp(key, "bw_burst")) {
        if (parse_size(v, &burst) || burst > INT64_MAX)
            return ERR("%s: %s=%s: expected a size like 64M", opt, k, v);
        r->bandwidth.one_time_burst = burst;
    } else if (!strcmp(key, "ops_burst")) {
        if (parse_uint(v, 0, INT64_MAX, &burst))
            return ERR("%s: %s=%s: expected a number of operations", opt, k, v);
        r->ops.one_time_burst = burst;
    } else {
        return 0;
    }
    return 1;
}

static int rng_kv(void *ctx, const char *k, const char *v, char *err, size_t errlen)
{
    int rc = config_rl_kv(ctx, "--rng", "", k, v, err, errlen);
    if (rc == 0)
        return ERR("--rng: unknown key '%s' (expected bw, bw_burst, ops, ops_burst)", k);
    return rc < 0 ? rc : 0;
}

int config_parse_rng(struct vm_config *cfg, const char *spec, char *err, size_t errlen)
{
    struct rl_config r = {0};
    if (spec && *spec) {
        int rc = config_parse_kv(spec, "--rng", rng_kv, &r, err, errlen);
        if (rc)
            return rc;
    }
    cfg->entropy = true;
    cfg->entropy_rate_limiter = r;
    return 0;
}
