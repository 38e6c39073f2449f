/* config_balloon.c — the --balloon option: virtio-balloon's target and features. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "platform/config.h"
#include "util/util.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)

static int balloon_kv(void *ctx, const char *k, const char *v, char *err, size_t errlen)
{
    struct balloon_config *b = ctx;
    uint64_t n;
    if (!strcmp(k, "amount_mib")) {
        if (parse_uint(v, 0, UINT32_MAX / 256, &n))
            return ERR("--balloon: amount_mib=%s: expected a number of MiB", v);
        b->amount_mib = (uint32_t)n;
    } else if (!strcmp(k, "stats_polling_interval_s")) {
        if (parse_uint(v, 0, CFG_BALLOON_MAX_STATS_INTERVAL, &n))
            return ERR("--balloon: stats_polling_interval_s=%s: expected 0 to %d seconds", v,
                       CFG_BALLOON_MAX_STATS_INTERVAL);
        b->stats_polling_interval_s = (uint16_t)n;
    } else if (!strcmp(k, "deflate_on_oom") || !strcmp(k, "free_page_hinting") ||
               !strcmp(k, "free_page_reporting")) {
        bool *f = &b->free_page_reporting;
        if (!strcmp(k, "deflate_on_oom"))
            f = &b->deflate_on_oom;
        else if (!strcmp(k, "free_page_hinting"))
            f = &b->free_page_hinting;
        if (config_parse_bool(v, f))
            return ERR("--balloon: %s=%s: expected on or off", k, v);
    } else {
        return ERR("--balloon: unknown key '%s' (expected amount_mib, deflate_on_oom, "
                   "stats_polling_interval_s, free_page_hinting, free_page_reporting)",
                   k);
    }
    return 0;
}

int config_parse_balloon(struct vm_config *cfg, const char *spec, char *err, size_t errlen)
{
    struct balloon_config b = {0};
    bool have_amount = strstr(spec, "amount_mib=") != NULL;
    int rc = config_parse_kv(spec, "--balloon", balloon_kv, &b, err, errlen);
    if (rc)
        return rc;
    if (!have_amount)
        return ERR("--balloon: needs amount_mib=N");
    b.enabled = true;
    cfg->balloon = b;
    return 0;
}
