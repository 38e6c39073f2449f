/* config_file.c — Firecracker's full-configuration JSON (--config-file) into the api state. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"

#define CPU_TEMPLATE_MAX (1 << 20) /* a cpu-config file given by path */

struct put_each {
    struct api *api;
    int (*put)(struct api *, const json_t *, const char *, struct jctx *);
};

static int put_one(void *arg, struct jctx *ec, const json_t *e)
{
    const struct put_each *p = arg;
    return p->put(p->api, e, NULL, ec);
}

/* Each element of the array member FIELD through PUT (drives, network-interfaces). */
static int each_device(struct api *api, const json_t *root, const char *field,
                       int (*put)(struct api *, const json_t *, const char *, struct jctx *),
                       const struct jctx *c)
{
    struct put_each p = {.api = api, .put = put};
    return jeach(c, root, field, put_one, &p);
}

/* "cpu-config" is a CpuConfig object, or (as in Firecracker's config files) a path to one. */
static int cpu_config(struct api *api, const json_t *v, const struct jctx *c)
{
    struct jctx cc;
    jctx_child(c, &cc, "cpu-config", -1);
    if (!json_is_string(v))
        return api_put_cpu_config(api, v, &cc);
    uint8_t *buf;
    size_t len;
    int rc = read_file(json_string_value(v), CPU_TEMPLATE_MAX, &buf, &len);
    if (rc < 0)
        return jfail(c, "cpu-config", "cannot read '%s': %s", json_string_value(v), strerror(-rc));
    json_error_t je;
    json_t *o = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (!o)
        return jfail(c, "cpu-config", "%s: invalid JSON: %s (line %d)", json_string_value(v),
                     je.text, je.line);
    rc = api_put_cpu_config(api, o, &cc);
    json_decref(o);
    return rc;
}

typedef int (*section_fn)(struct api *, const json_t *, struct jctx *);

static int machine_put(struct api *api, const json_t *o, struct jctx *c)
{
    return api_put_machine(api, o, false, c);
}

/* Apply the object sections in dependency order: telemetry first, then the machine. */
static int apply(struct api *api, const json_t *root, const struct jctx *c)
{
    static const struct {
        const char *key;
        section_fn fn;
        bool required;
    } sections[] = {
        {"logger", api_put_logger, false},
        {"metrics", api_put_metrics, false},
        {"machine-config", machine_put, false},
        {"boot-source", api_put_boot_source, true},
        {"vsock", api_put_vsock, false},
        {"entropy", api_put_entropy, false},
        {"serial", api_put_serial, false},
        {"balloon", api_put_balloon, false},
        {"memory-hotplug", api_put_memory_hotplug, false},
        {"display", api_put_display, false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(sections); i++) {
        json_t *v = json_object_get(root, sections[i].key);
        if (v && json_is_null(v))
            v = NULL;
        if (!v && sections[i].required)
            return jfail(c, sections[i].key, "missing required section");
        struct jctx sc;
        jctx_child(c, &sc, sections[i].key, -1);
        if (v && sections[i].fn(api, v, &sc) < 0)
            return -EINVAL;
    }
    json_t *cpu = json_object_get(root, "cpu-config");
    if (cpu && !json_is_null(cpu) && cpu_config(api, cpu, c) < 0)
        return -EINVAL;
    if (each_device(api, root, "drives", api_put_drive, c) < 0 ||
        each_device(api, root, "network-interfaces", api_put_net, c) < 0 ||
        each_device(api, root, "pmem", api_put_pmem, c) < 0)
        return -EINVAL;
    json_t *mmds = json_object_get(root, "mmds-config"); /* names interfaces: after them */
    struct jctx mc;
    jctx_child(c, &mc, "mmds-config", -1);
    if (mmds && !json_is_null(mmds) && api_put_mmds_config(api, mmds, &mc) < 0)
        return -EINVAL;
    return 0;
}

/* "virtio-transport": "pci" | "mmio". Returns 0 or -EINVAL with C's error. */
static int config_transport(struct api *api, const json_t *v, const struct jctx *c)
{
    const char *s = json_string_value(v);
    if (!s || (strcmp(s, "pci") && strcmp(s, "mmio")))
        return jfail(c, "virtio-transport", "expected \"pci\" or \"mmio\"");
    api->cfg.transport = strcmp(s, "mmio") ? TRANSPORT_PCI : TRANSPORT_MMIO;
    return 0;
}

int api_load_config(struct api *api, const char *json, size_t len, char *err, size_t errlen)
{
    static const char *const keys[] = {
        "boot-source", "drives",         "machine-config", "network-interfaces",
        "vsock",       "entropy",        "serial",         "logger",
        "metrics",     "cpu-config",     "balloon",        "mmds-config",
        "pmem",        "memory-hotplug", "display",        NULL};
    struct jctx c;
    jctx_init(&c, "", err, errlen);
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errlen, "invalid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
        return -EINVAL;
    }
    /* "virtio-transport" (a truce extension, as GET /vm/config writes it; else --enable-pci) */
    json_t *transport = json_incref(json_object_get(root, "virtio-transport"));
    json_object_del(root, "virtio-transport");
    int rc = jobject(&c, root, keys);
    pthread_mutex_lock(&api->lock);
    if (!rc && api->state != API_VM_NOT_STARTED)
        rc = jfail(&c, NULL, "the microVM was already started");
    if (!rc)
        rc = apply(api, root, &c);
    if (!rc && transport)
        rc = config_transport(api, transport, &c);
    json_decref(transport);
    if (!rc) {
        struct vm_config *cfg = malloc(sizeof(*cfg));
        rc = cfg ? api_validate(api, cfg, err, errlen) : -ENOMEM;
        free(cfg);
    }
    pthread_mutex_unlock(&api->lock);
    json_decref(root);
    return rc;
}
