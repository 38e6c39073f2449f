/* rate_limiter.c — RateLimiter objects: parsing, GET /vm/config views and live PATCH updates. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "virtio/blk.h"
#include "virtio/net.h"

int api_token_bucket(const struct jctx *c, const json_t *o, const char *field,
                     struct tb_config *out, bool *set)
{
    static const char *const fields[] = {"size", "one_time_burst", "refill_time", NULL};
    json_t *b = json_object_get(o, field);
    *set = false;
    if (!b || json_is_null(b))
        return 0;
    struct jctx bc;
    struct tb_config t = {0};
    jctx_child(c, &bc, field, -1);
    if (jobject(&bc, b, fields) < 0 ||
        juint(&bc, b, "size", true, 0, INT64_MAX, &t.size, NULL) < 0 ||
        juint(&bc, b, "refill_time", true, 0, INT64_MAX, &t.refill_time, NULL) < 0 ||
        juint(&bc, b, "one_time_burst", false, 0, INT64_MAX, &t.one_time_burst, NULL) < 0)
        return -EINVAL;
    const char *why = tb_config_error(&t);
    if (why)
        return jfail(&bc, "refill_time", "%s", why);
    *out = t;
    *set = true;
    return 0;
}

int api_rate_limiter(const struct jctx *c, const json_t *o, const char *field,
                     struct rl_config *out, bool *bw, bool *ops)
{
    static const char *const fields[] = {"bandwidth", "ops", NULL};
    struct rl_config r = {0};
    bool b = false, p = false;
    json_t *rl = json_object_get(o, field);
    if (rl && !json_is_null(rl)) {
        struct jctx rc;
        jctx_child(c, &rc, field, -1);
        if (jobject(&rc, rl, fields) < 0 ||
            api_token_bucket(&rc, rl, "bandwidth", &r.bandwidth, &b) < 0 ||
            api_token_bucket(&rc, rl, "ops", &r.ops, &p) < 0)
            return -EINVAL;
    }
    *out = r;
    if (bw)
        *bw = b;
    if (ops)
        *ops = p;
    return 0;
}

static json_t *bucket_json(const struct tb_config *t)
{
    return json_pack("{s:I, s:I, s:I}", "size", (json_int_t)t->size, "one_time_burst",
                     (json_int_t)t->one_time_burst, "refill_time", (json_int_t)t->refill_time);
}

void api_export_rate_limiter(json_t *o, const char *field, const struct rl_config *c)
{
    if (!rl_config_on(c))
        return;
    json_t *r = json_object();
    if (tb_config_on(&c->bandwidth))
        json_object_set_new(r, "bandwidth", bucket_json(&c->bandwidth));
    if (tb_config_on(&c->ops))
        json_object_set_new(r, "ops", bucket_json(&c->ops));
    json_object_set_new(o, field, r);
}

/* CUR with the buckets named by BW / OPS taken from NEW. */
static void merge(struct rl_config *cur, const struct rl_config *new, bool bw, bool ops)
{
    if (bw)
        cur->bandwidth = new->bandwidth;
    if (ops)
        cur->ops = new->ops;
}

int api_update_drive_rl(struct api *api, const char *id, const struct rl_config *c, bool bw,
                        bool ops, char *err, size_t errlen)
{
    int i = -1;
    for (unsigned j = 0; j < api->cfg.ndisks; j++)
        if (!strcmp(api->cfg.disks[j].id, id))
            i = (int)j;
    if (i < 0) {
        snprintf(err, errlen, "drive_id: no drive '%s'", id);
        return -ENOENT;
    }
    char why[API_ERR_LEN] = "";
    int rc = virtio_blk_set_rate_limiter(api->vm, id, c, bw, ops, why, sizeof(why));
    if (rc < 0) {
        snprintf(err, errlen, "rate_limiter: %s", why);
        return rc;
    }
    merge(&api->cfg.disks[i].rate_limiter, c, bw, ops);
    for (unsigned j = 0; j < api->vm->cfg.ndisks; j++) /* what a snapshot saves */
        if (!strcmp(api->vm->cfg.disks[j].id, id))
            merge(&api->vm->cfg.disks[j].rate_limiter, c, bw, ops);
    log_info("drive %s: rate limiter updated", id);
    return 0;
}

int api_update_net_rl(struct api *api, const char *id, const struct rl_config *rx, bool rx_bw,
                      bool rx_ops, const struct rl_config *tx, bool tx_bw, bool tx_ops, char *err,
                      size_t errlen)
{
    int i = -1;
    for (unsigned j = 0; j < api->cfg.nnets; j++)
        if (!strcmp(api->cfg.nets[j].id, id))
            i = (int)j;
    struct virtio_net *n = i < 0 ? NULL : virtio_net_find(api->vm, id);
    if (!n) {
        snprintf(err, errlen, "iface_id: no network interface '%s'", id);
        return -ENOENT;
    }
    if (api->cfg.nets[i].vhost && (rx_bw || rx_ops || tx_bw || tx_ops))
        return snprintf(err, errlen,
                        "%s: vhost is on: frames move in the host kernel, where rate limiters "
                        "cannot see them",
                        rx_bw || rx_ops ? "rx_rate_limiter" : "tx_rate_limiter"),
               -EINVAL;
    if ((rx_bw || rx_ops) && virtio_net_set_rate_limiter(n, false, rx, rx_bw, rx_ops) < 0)
        return snprintf(err, errlen, "rx_rate_limiter: out of memory"), -ENOMEM;
    if ((tx_bw || tx_ops) && virtio_net_set_rate_limiter(n, true, tx, tx_bw, tx_ops) < 0)
        return snprintf(err, errlen, "tx_rate_limiter: out of memory"), -ENOMEM;
    merge(&api->cfg.nets[i].rx_rate_limiter, rx, rx_bw, rx_ops);
    merge(&api->cfg.nets[i].tx_rate_limiter, tx, tx_bw, tx_ops);
    for (unsigned j = 0; j < api->vm->cfg.nnets; j++) {
        if (strcmp(api->vm->cfg.nets[j].id, id))
            continue;
        merge(&api->vm->cfg.nets[j].rx_rate_limiter, rx, rx_bw, rx_ops);
        merge(&api->vm->cfg.nets[j].tx_rate_limiter, tx, tx_bw, tx_ops);
    }
    if (rx_bw || rx_ops || tx_bw || tx_ops)
        log_info("interface %s: rate limiters updated", id);
    return 0;
}

int api_rate_limiter_refused(const struct jctx *c, const json_t *o, const char *field)
{
    struct rl_config r;
    bool bw, ops;
    if (api_rate_limiter(c, o, field, &r, &bw, &ops) < 0)
        return -EINVAL;
    if (!bw && !ops)
        return 0; /* no bucket: no limit */
    return jfail(c, field, "not supported yet: rate limiting on this device");
}
