/* fuzz_config.c — libFuzzer target: bytes as a --config-file document and as the JSON body of
 * every configuring PUT/PATCH route (strict JSON -> struct vm_config mapping). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api/api_int.h"
#include "fuzz_sandbox.h"

static const struct {
    const char *method, *path;
} routes[] = {
    {"PUT", "/boot-source"},
    {"PUT", "/machine-config"},
    {"PATCH", "/machine-config"},
    {"PUT", "/cpu-config"},
    {"PUT", "/drives/d0"},
    {"PATCH", "/drives/d0"},
    {"PUT", "/network-interfaces/eth0"},
    {"PATCH", "/network-interfaces/eth0"},
    {"PUT", "/vsock"},
    {"PUT", "/entropy"},
    {"PUT", "/serial"},
    {"PUT", "/logger"},
    {"PUT", "/metrics"},
    {"PUT", "/actions"},
    {"PATCH", "/vm"},
    {"GET", "/vm/config"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[API_ERR_LEN];
    fuzz_sandbox_init();
    struct api *api = api_new("fuzz");
    if (!api)
        return 0;
    api_load_config(api, (const char *)data, size, err, sizeof(err));
    /* the first byte picks a route, the rest is its body; every reply must be well-formed */
    if (size) {
        struct api_reply r;
        unsigned i = data[0] % (sizeof(routes) / sizeof(routes[0]));
        api_handle(api, routes[i].method, routes[i].path, (const char *)data + 1, size - 1, &r);
        if (r.status != 204 && !r.body)
            __builtin_trap();
        if (r.body && !strstr(r.body, "{"))
            __builtin_trap();
        api_reply_free(&r);
        api_handle(api, "GET", "/vm/config", NULL, 0, &r);
        if (r.status != 200)
            __builtin_trap();
        api_reply_free(&r);
    }
    api_free(api);
    return 0;
}
