/* test_api_mem.c — the memory devices in the API: PUT/PATCH /pmem/{id}, PUT/PATCH/GET
 * /hotplug/memory, the config file's "pmem" and "memory-hotplug", GET /vm/config, driven without
 * a socket or KVM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_int.h"

struct fixture {
    struct api *api;
    char file[64]; /* a temp file of 1 MiB standing in for kernel and pmem images */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->api = api_new("unit-vm");
    snprintf(f->file, sizeof(f->file), "/tmp/truce-api-mem-XXXXXX");
    int fd = mkstemp(f->file);
    assert_int_equal(ftruncate(fd, 1 << 20), 0);
    close(fd);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    api_free(f->api);
    unlink(f->file);
    free(f);
    return 0;
}

/* Send a request; expect STATUS and, when NEEDLE is given, a body containing it. */
static void expect(struct api *api, const char *method, const char *path, const char *body,
                   int status, const char *needle)
{
    struct api_reply r;
    api_handle(api, method, path, body, body ? strlen(body) : 0, &r);
    const char *b = r.body ? r.body : "";
    if (r.status != status || (needle && !strstr(b, needle)))
        fail_msg("%s %s %s: got %d %s, want %d containing '%s'", method, path, body ? body : "",
                 r.status, b, status, needle ? needle : "");
    api_reply_free(&r);
}

static void test_pmem(void **state)
{
    struct fixture *f = *state;
    char body[512];
    snprintf(body, sizeof(body),
             "{\"id\": \"pm0\", \"path_on_host\": \"%s\", \"root_device\": true, "
             "\"read_only\": true}",
             f->file);
    expect(f->api, "PUT", "/pmem/pm0", body, 204, NULL);
    expect(f->api, "PUT", "/pmem/other", body, 400, "does not match the id in the path");
    snprintf(body, sizeof(body),
             "{\"id\": \"pm1\", \"path_on_host\": \"%s\", \"root_device\": true}", f->file);
    expect(f->api, "PUT", "/pmem/pm1", body, 400, "a root device already exists (pmem 'pm0')");
    expect(f->api, "PUT", "/pmem/pm1", "{\"id\": \"pm1\", \"path_on_host\": \"/nonexistent\"}", 400,
           "path_on_host: cannot open '/nonexistent'");
    expect(f->api, "PUT", "/pmem/pm1", "{\"id\": \"pm1\", \"path_on_host\": \"x\", \"bogus\": 1}",
           400, "bogus");
    expect(f->api, "PUT", "/pmem/p-1", "{\"id\": \"p-1\", \"path_on_host\": \"x\"}", 400,
           "may only contain letters, digits and _");
    expect(f->api, "GET", "/vm/config", NULL, 200,
           "\"pmem\":[{\"id\":\"pm0\",\"path_on_host\":\"/tmp/truce-api-mem-");
    expect(f->api, "GET", "/vm/config", NULL, 200, "\"root_device\":true,\"read_only\":true}]");
    /* PATCH is post-boot only */
    expect(f->api, "PATCH", "/pmem/pm0", "{\"id\": \"pm0\"}", 400, "not started");
}

static void test_config_file(void **state)
{
    struct fixture *f = *state;
    char json[1024], err[256] = "";
    snprintf(json, sizeof(json),
             "{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"pmem\": [{\"id\": \"a\", "
             "\"path_on_host\": \"%s\"}, {\"id\": \"b\", \"path_on_host\": \"%s\", "
             "\"read_only\": true}]}",
             f->file, f->file, f->file);
    /* the same file twice is allowed by the API (the device's lock refuses a second writer) */
    assert_int_equal(api_load_config(f->api, json, strlen(json), err, sizeof(err)), 0);
    expect(f->api, "GET", "/vm/config", NULL, 200, "{\"id\":\"b\"");
    snprintf(json, sizeof(json),
             "{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"pmem\": [{\"id\": \"a\"}]}",
             f->file);
    struct api *fresh = api_new("unit-vm-2");
    assert_int_equal(api_load_config(fresh, json, strlen(json), err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "pmem[0].path_on_host"));
    api_free(fresh);
}

static void test_hotplug(void **state)
{
    struct api *api = ((struct fixture *)*state)->api;
    expect(api, "GET", "/hotplug/memory", NULL, 400, "no hotplug memory is configured");
    expect(api, "PATCH", "/hotplug/memory", "{\"requested_size_mib\": 2}", 400,
           "PUT /hotplug/memory first");
    expect(api, "PUT", "/hotplug/memory", "{\"total_size_mib\": 100}", 400,
           "multiple of the slot size");
    expect(api, "PUT", "/hotplug/memory", "{\"total_size_mib\": 1024, \"block_size_mib\": 3}", 400,
           "power of 2");
    expect(api, "PUT", "/hotplug/memory", "{\"total_size_mib\": 1024, \"slot_size_mib\": 64}", 400,
           "slot_size_mib");
    expect(api, "PUT", "/hotplug/memory", "{\"block_size_mib\": 2}", 400, "total_size_mib");
    expect(api, "PUT", "/hotplug/memory", "{\"total_size_mib\": 1024, \"x\": 1}", 400, "x");
    expect(api, "PUT", "/hotplug/memory", "{\"total_size_mib\": 1024, \"block_size_mib\": 4}", 204,
           NULL);
    expect(api, "GET", "/hotplug/memory", NULL, 200,
           "{\"total_size_mib\":1024,\"slot_size_mib\":128,\"block_size_mib\":4,"
           "\"plugged_size_mib\":0,\"requested_size_mib\":0}");
    /* before boot PATCH sets the size the guest starts with */
    expect(api, "PATCH", "/hotplug/memory", "{\"requested_size_mib\": 256}", 204, NULL);
    expect(api, "PATCH", "/hotplug/memory", "{\"requested_size_mib\": 2}", 400,
           "multiple of the block size");
    expect(api, "PATCH", "/hotplug/memory", "{\"requested_size_mib\": 2048}", 400,
           "at most the total size");
    expect(api, "GET", "/hotplug/memory", NULL, 200, "\"requested_size_mib\":256}");
    expect(api, "GET", "/vm/config", NULL, 200,
           "\"memory-hotplug\":{\"total_size_mib\":1024,\"slot_size_mib\":128,"
           "\"block_size_mib\":4}");
}

static void test_hotplug_config_file(void **state)
{
    struct fixture *f = *state;
    char json[512], err[256] = "";
    snprintf(json, sizeof(json),
             "{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"memory-hotplug\": "
             "{\"total_size_mib\": 512}}",
             f->file);
    assert_int_equal(api_load_config(f->api, json, strlen(json), err, sizeof(err)), 0);
    expect(f->api, "GET", "/hotplug/memory", NULL, 200, "\"total_size_mib\":512");
    snprintf(json, sizeof(json),
             "{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"memory-hotplug\": "
             "{\"total_size_mib\": 500}}",
             f->file);
    struct api *fresh = api_new("unit-vm-3");
    assert_int_equal(api_load_config(fresh, json, strlen(json), err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "memory-hotplug"));
    api_free(fresh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pmem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hotplug, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hotplug_config_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
