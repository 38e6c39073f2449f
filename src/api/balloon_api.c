/* balloon_api.c — Firecracker's /balloon endpoints, the config-file section and its metrics. */
#include <errno.h>
#include <string.h>

#include "api/api_int.h"
#include "virtio/balloon.h"

#define ERRF(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)

int api_put_balloon(struct api *api, const json_t *o, struct jctx *c)
{
    static const char *const fields[] = {
        "amount_mib",        "deflate_on_oom",      "stats_polling_interval_s",
        "free_page_hinting", "free_page_reporting", NULL};
    struct balloon_config b = {.enabled = true};
    uint64_t amount, interval = 0;
    if (jobject(c, o, fields) < 0 ||
        juint(c, o, "amount_mib", true, 0, UINT32_MAX / BALLOON_PAGES_PER_MIB, &amount, NULL) < 0 ||
        jbool(c, o, "deflate_on_oom", true, &b.deflate_on_oom, NULL) < 0 ||
        juint(c, o, "stats_polling_interval_s", false, 0, CFG_BALLOON_MAX_STATS_INTERVAL, &interval,
              NULL) < 0 ||
        jbool(c, o, "free_page_hinting", false, &b.free_page_hinting, NULL) < 0 ||
        jbool(c, o, "free_page_reporting", false, &b.free_page_reporting, NULL) < 0)
        return -EINVAL;
    if (amount * MiB > api->cfg.mem_bytes)
        return jfail(c, "amount_mib",
                     "Amount of pages requested is too large (%llu MiB, the guest has %llu MiB)",
                     (unsigned long long)amount, (unsigned long long)(api->cfg.mem_bytes / MiB));
    b.amount_mib = (uint32_t)amount;
    b.stats_polling_interval_s = (uint16_t)interval;
    api->cfg.balloon = b;
    return 0;
}

/* The device of a started VM, or NULL with the error. */
static struct virtio_balloon *device(struct api *api, char *err, size_t errlen)
{
    struct virtio_balloon *b = api->vm ? virtio_balloon_find(api->vm) : NULL;
    if (!b)
        snprintf(err, errlen, "No balloon device found.");
    return b;
}

static json_t *config_json(const struct balloon_config *b)
{
    return json_pack("{s:I, s:b, s:I, s:b, s:b}", "amount_mib", (json_int_t)b->amount_mib,
                     "deflate_on_oom", b->deflate_on_oom, "stats_polling_interval_s",
                     (json_int_t)b->stats_polling_interval_s, "free_page_hinting",
                     b->free_page_hinting, "free_page_reporting", b->free_page_reporting);
}

json_t *api_export_balloon(const struct api *api)
{
    return api->cfg.balloon.enabled ? config_json(&api->cfg.balloon) : NULL;
}

static int get_balloon(struct api *api, json_t **out, char *err, size_t errlen)
{
    if (!api->cfg.balloon.enabled)
        return ERRF("No balloon device found.");
    struct balloon_config cfg = api->cfg.balloon;
    struct virtio_balloon *b = api->vm ? virtio_balloon_find(api->vm) : NULL;
    if (b) { /* the device's own view: the target may have moved */
        struct balloon_info i;
        balloon_get_info(b, &i);
        cfg.amount_mib = i.target_pages / BALLOON_PAGES_PER_MIB;
        cfg.stats_polling_interval_s = i.stats_polling_interval_s;
    }
    *out = config_json(&cfg);
    return 0;
}

static int patch_balloon(struct api *api, const json_t *o, char *err, size_t errlen)
{
    static const char *const fields[] = {"amount_mib", NULL};
    struct jctx c;
    uint64_t amount;
    jctx_init(&c, "", err, errlen);
    if (jobject(&c, o, fields) < 0 ||
        juint(&c, o, "amount_mib", true, 0, UINT32_MAX / BALLOON_PAGES_PER_MIB, &amount, NULL) < 0)
        return -EINVAL;
    if (!api->cfg.balloon.enabled)
        return ERRF("No balloon device found.");
    if (api->state == API_VM_NOT_STARTED) {
        if (amount * MiB > api->cfg.mem_bytes)
            return ERRF("amount_mib: Amount of pages requested is too large");
        api->cfg.balloon.amount_mib = (uint32_t)amount;
        return 0;
    }
    struct virtio_balloon *b = device(api, err, errlen);
    if (!b || balloon_set_target(b, (uint32_t)amount, err, errlen) < 0)
        return -EINVAL;
    api->cfg.balloon.amount_mib = api->vm->cfg.balloon.amount_mib = (uint32_t)amount;
    return 0;
}

static int get_stats(struct api *api, json_t **out, char *err, size_t errlen)
{
    struct virtio_balloon *b = device(api, err, errlen);
    struct balloon_stats s;
    struct balloon_info i;
    if (!b || balloon_get_stats(b, &s, err, errlen) < 0)
        return -EINVAL;
    balloon_get_info(b, &i);
    json_t *j = json_pack("{s:I, s:I, s:I, s:I}", "target_pages", (json_int_t)i.target_pages,
                          "actual_pages", (json_int_t)i.actual_pages, "target_mib",
                          (json_int_t)(i.target_pages / BALLOON_PAGES_PER_MIB), "actual_mib",
                          (json_int_t)(i.actual_pages / BALLOON_PAGES_PER_MIB));
    for (unsigned t = 0; j && t < BALLOON_S_NR; t++) /* only the figures the guest sent */
        if (s.have >> t & 1)
            json_object_set_new(j, balloon_stat_names[t], json_integer((json_int_t)s.val[t]));
    *out = j;
    return 0;
}

static int patch_stats(struct api *api, const json_t *o, char *err, size_t errlen)
{
    static const char *const fields[] = {"stats_polling_interval_s", NULL};
    struct jctx c;
    uint64_t interval;
    jctx_init(&c, "", err, errlen);
    if (jobject(&c, o, fields) < 0 || juint(&c, o, "stats_polling_interval_s", true, 0,
                                            CFG_BALLOON_MAX_STATS_INTERVAL, &interval, NULL) < 0)
        return -EINVAL;
    if (!api->cfg.balloon.enabled)
        return ERRF("No balloon device found.");
    if (api->state == API_VM_NOT_STARTED) {
        api->cfg.balloon.stats_polling_interval_s = (uint16_t)interval;
        return 0;
    }
    struct virtio_balloon *b = device(api, err, errlen);
    if (!b || balloon_set_stats_interval(b, (uint16_t)interval, err, errlen) < 0)
        return -EINVAL;
    api->cfg.balloon.stats_polling_interval_s = (uint16_t)interval;
    api->vm->cfg.balloon.stats_polling_interval_s = (uint16_t)interval;
    return 0;
}

static int hinting(struct api *api, const char *op, const json_t *o, json_t **out, char *err,
                   size_t errlen)
{
    struct virtio_balloon *b = device(api, err, errlen);
    if (!b)
        return -EINVAL;
    if (!strcmp(op, "start")) {
        static const char *const fields[] = {"acknowledge_on_stop", NULL};
        bool ack = true; /* Firecracker's default */
        struct jctx c;
        jctx_init(&c, "", err, errlen);
        if (o && (jobject(&c, o, fields) < 0 ||
                  jbool(&c, o, "acknowledge_on_stop", false, &ack, NULL) < 0))
            return -EINVAL;
        return balloon_hint_start(b, ack, err, errlen) < 0 ? -EINVAL : 0;
    }
    if (!strcmp(op, "stop"))
        return balloon_hint_stop(b, err, errlen) < 0 ? -EINVAL : 0;
    uint32_t host, guest;
    bool guest_set;
    if (balloon_hint_status(b, &host, &guest, &guest_set, err, errlen) < 0)
        return -EINVAL;
    json_t *j = json_pack("{s:I}", "host_cmd", (json_int_t)host);
    if (j && guest_set)
        json_object_set_new(j, "guest_cmd", json_integer(guest));
    *out = j;
    return 0;
}

int api_balloon(struct api *api, const char *method, const char *path, const json_t *body,
                json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    bool started = api->state != API_VM_NOT_STARTED;
    bool get = !strcmp(method, "GET");
    if (!strcmp(path, "/balloon")) {
        if (get)
            return get_balloon(api, out, err, errlen);
        if (!strcmp(method, "PATCH"))
            return patch_balloon(api, body, err, errlen);
        if (started)
            return ERRF("PUT /balloon: not allowed after the microVM started");
        struct jctx c;
        jctx_init(&c, "", err, errlen);
        return api_put_balloon(api, body, &c);
    }
    if (!strcmp(path, "/balloon/statistics") && !get)
        return patch_stats(api, body, err, errlen);
    if (api->state != API_VM_RUNNING && api->state != API_VM_PAUSED)
        return ERRF("%s %s: the microVM is %s", method, path, started ? "stopped" : "not started");
    if (!strcmp(path, "/balloon/statistics"))
        return get_stats(api, out, err, errlen);
    return hinting(api, path + strlen("/balloon/hinting/"), body, out, err, errlen);
}

json_t *api_metrics_balloon(struct vm *vm)
{
    struct virtio_balloon *b = virtio_balloon_find(vm);
    if (!b)
        return NULL;
    struct balloon_counters c;
    balloon_get_counters(b, &c);
    json_t *j = json_object();
    const struct {
        const char *name;
        uint64_t v;
    } f[] = {
        {"activate_fails", c.activate_fails},
        {"inflate_count", c.inflate_count},
        {"stats_updates_count", c.stats_updates_count},
        {"stats_update_fails", c.stats_update_fails},
        {"deflate_count", c.deflate_count},
        {"event_fails", c.event_fails},
        {"free_page_report_count", c.free_page_report_count},
        {"free_page_report_freed", c.free_page_report_freed},
        {"free_page_report_fails", c.free_page_report_fails},
        {"free_page_hint_count", c.free_page_hint_count},
        {"free_page_hint_freed", c.free_page_hint_freed},
        {"free_page_hint_fails", c.free_page_hint_fails},
        {"invalid_pfns", c.invalid_pfns},     /* truce */
        {"returned_bytes", c.returned_bytes}, /* truce */
    };
    for (size_t i = 0; i < ARRAY_SIZE(f); i++)
        json_object_set_new(j, f[i].name, json_integer((json_int_t)f[i].v));
    return j;
}
