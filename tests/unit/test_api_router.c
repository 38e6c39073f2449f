/* test_api_router.c — the API router and pre-boot handlers, driven without a socket or KVM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_int.h"

struct fixture {
    struct api *api;
    char kernel[64]; /* a readable temp file standing in for a kernel image */
    char disk[64];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->api = api_new("unit-vm");
    snprintf(f->kernel, sizeof(f->kernel), "/tmp/truce-api-kernel-XXXXXX");
    snprintf(f->disk, sizeof(f->disk), "/tmp/truce-api-disk-XXXXXX");
    close(mkstemp(f->kernel));
    close(mkstemp(f->disk));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    api_free(f->api);
    unlink(f->kernel);
    unlink(f->disk);
    free(f);
    return 0;
}

/* Send a request; return the status and keep the body (or "") in BODY (caller frees). */
static int req(struct api *api, const char *method, const char *path, const char *body, char **out)
{
    struct api_reply r;
    api_handle(api, method, path, body, body ? strlen(body) : 0, &r);
    if (out)
        *out = r.body ? strdup(r.body) : strdup("");
    api_reply_free(&r);
    return r.status;
}

/* Expect STATUS and, when NEEDLE is given, a fault_message containing it. */
static void expect(struct api *api, const char *method, const char *path, const char *body,
                   int status, const char *needle)
{
    char *b;
    int s = req(api, method, path, body, &b);
    if (s != status || (needle && !strstr(b, needle)))
        fail_msg("%s %s %s: got %d %s, want %d containing '%s'", method, path, body ? body : "", s,
                 b, status, needle ? needle : "");
    if (status >= 400) {
        json_t *j = json_loads(b, 0, NULL);
        assert_non_null(j);
        assert_true(json_is_string(json_object_get(j, "fault_message")));
        json_decref(j);
    }
    free(b);
}

static void test_instance_info(void **state)
{
    struct fixture *f = *state;
    char *b;
    assert_int_equal(req(f->api, "GET", "/", NULL, &b), 200);
    json_t *j = json_loads(b, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "Not started");
    assert_string_equal(json_string_value(json_object_get(j, "id")), "unit-vm");
    assert_string_equal(json_string_value(json_object_get(j, "app_name")), "truce");
    json_decref(j);
    free(b);
    expect(f->api, "GET", "/version", NULL, 200, NULL);
    expect(f->api, "GET", "/", "{}", 400, "takes no body");
}

static void test_routing_errors(void **state)
{
    struct api *api = ((struct fixture *)*state)->api;
    expect(api, "GET", "/nope", NULL, 400, "invalid request path: /nope");
    expect(api, "DELETE", "/boot-source", NULL, 400, "invalid request method");
    expect(api, "PUT", "/balloon", "{}", 400, "amount_mib: missing");
    expect(api, "GET", "/mmds", NULL, 200, NULL);
    expect(api, "PUT", "/pmem/p0", "{}", 400, "id: missing required field");
    expect(api, "PUT", "/drives/", "{}", 400, "needs an id");
    expect(api, "PUT", "/drives", "{}", 400, "needs an id");
    expect(api, "PUT", "/drives/a/b", "{}", 400, "invalid request path");
    expect(api, "PUT", "/machine-config", NULL, 400, "JSON body is required");
    expect(api, "PUT", "/machine-config", "{\"vcpu_count\": 1,", 400, "invalid JSON body");
    expect(api, "PUT", "/machine-config", "[1]", 400, "must be a JSON object");
    expect(api, "PUT", "/machine-config", "{\"a\":1,\"a\":2}", 400, "duplicate");
}

static void test_machine_config(void **state)
{
    struct api *api = ((struct fixture *)*state)->api;
    expect(api, "PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 256}", 204, NULL);
    assert_int_equal(api->cfg.cpus, 2);
    assert_int_equal(api->cfg.mem_bytes, 256ULL << 20);
    expect(api, "PUT", "/machine-config", "{\"vcpu_count\": 0, \"mem_size_mib\": 256}", 400,
           "vcpu_count: 0 is out of range");
    expect(api, "PUT", "/machine-config", "{\"vcpu_count\": 33, \"mem_size_mib\": 256}", 400,
           "vcpu_count");
    expect(api, "PUT", "/machine-config", "{\"vcpu_count\": \"2\", \"mem_size_mib\": 256}", 400,
           "vcpu_count: must be an integer");
    expect(api, "PUT", "/machine-config", "{\"mem_size_mib\": 256}", 400,
           "vcpu_count: missing required field");
    expect(api, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64, \"x\": 1}",
           400, "x: unknown field");
    expect(api, "PUT", "/machine-config",
           "{\"vcpu_count\": 3, \"mem_size_mib\": 64, \"smt\": true}", 400, "even");
    expect(api, "PUT", "/machine-config",
           "{\"vcpu_count\": 1, \"mem_size_mib\": 64, \"cpu_template\": \"V1N1\"}", 400,
           "cpu_template: V1N1 is an aarch64 template");
    expect(api, "PUT", "/machine-config",
           "{\"vcpu_count\": 1, \"mem_size_mib\": 65, \"huge_pages\": \"2M\"}", 400,
           "mem_size_mib: must be a multiple of 2");
    expect(api, "PUT", "/machine-config",
           "{\"vcpu_count\": 1, \"mem_size_mib\": 64, \"huge_pages\": \"1G\"}", 400,
           "huge_pages: invalid value");
    /* huge_pages Transparent: guest RAM advised MADV_HUGEPAGE (--thp); None and 2M clear it */
    expect(api, "PUT", "/machine-config",
           "{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"huge_pages\": \"Transparent\"}", 204,
           NULL);
    assert_true(api->cfg.thp);
    assert_false(api->cfg.hugepages);
    char *got;
    assert_int_equal(req(api, "GET", "/machine-config", NULL, &got), 200);
    assert_non_null(strstr(got, "\"huge_pages\":\"Transparent\""));
    free(got);
    expect(api, "PATCH", "/machine-config", "{\"huge_pages\": \"2M\"}", 204, NULL);
    assert_false(api->cfg.thp);
    assert_true(api->cfg.hugepages);
    expect(api, "PATCH", "/machine-config", "{\"huge_pages\": \"None\"}", 204, NULL);
    assert_false(api->cfg.thp || api->cfg.hugepages);
    /* a failed update changes nothing */
    assert_int_equal(api->cfg.cpus, 2);
    expect(api, "PATCH", "/machine-config", "{}", 400, "empty PATCH");
    expect(api, "PATCH", "/machine-config", "{\"mem_size_mib\": 512}", 204, NULL);
    assert_int_equal(api->cfg.cpus, 2);
    assert_int_equal(api->cfg.mem_bytes, 512ULL << 20);
    char *b;
    assert_int_equal(req(api, "GET", "/machine-config", NULL, &b), 200);
    assert_non_null(strstr(b, "\"mem_size_mib\":512"));
    free(b);
}

static void test_boot_source(void **state)
{
    struct fixture *f = *state;
    char body[256];
    expect(f->api, "PUT", "/boot-source", "{\"kernel_image_path\": \"/nonexistent/vmlinux\"}", 400,
           "kernel_image_path: cannot read '/nonexistent/vmlinux'");
    expect(f->api, "PUT", "/boot-source", "{\"boot_args\": \"console=ttyS0\"}", 400,
           "kernel_image_path: missing required field");
    snprintf(body, sizeof(body), "{\"kernel_image_path\": \"%s\", \"boot_args\": 7}", f->kernel);
    expect(f->api, "PUT", "/boot-source", body, 400, "boot_args: must be a string");
    snprintf(body, sizeof(body), "{\"kernel_image_path\": \"%s\", \"boot_args\": \"quiet\"}",
             f->kernel);
    expect(f->api, "PUT", "/boot-source", body, 204, NULL);
    assert_string_equal(f->api->cfg.cmdline, "quiet");
    assert_true(f->api->cfg.cmdline_set);
}

static void test_drives(void **state)
{
    struct fixture *f = *state;
    char body[512];
    snprintf(body, sizeof(body),
             "{\"drive_id\": \"data\", \"path_on_host\": \"%s\", \"is_root_device\": false}",
             f->disk);
    expect(f->api, "PUT", "/drives/data", body, 204, NULL);
    expect(f->api, "PUT", "/drives/other", body, 400, "does not match the id in the path");
    snprintf(body, sizeof(body),
             "{\"drive_id\": \"root\", \"path_on_host\": \"%s\", \"is_root_device\": true, "
             "\"is_read_only\": true, \"io_engine\": \"Async\"}",
             f->disk);
    expect(f->api, "PUT", "/drives/root", body, 204, NULL);
    /* the root device moves to the front: it becomes vda */
    assert_int_equal(f->api->cfg.ndisks, 2);
    assert_string_equal(f->api->cfg.disks[0].id, "root");
    assert_true(f->api->cfg.disks[0].readonly);
    snprintf(body, sizeof(body),
             "{\"drive_id\": \"root2\", \"path_on_host\": \"%s\", \"is_root_device\": true}",
             f->disk);
    expect(f->api, "PUT", "/drives/root2", body, 400, "a root device already exists");
    expect(f->api, "PUT", "/drives/x",
           "{\"drive_id\": \"x\", \"path_on_host\": \"/nonexistent\", \"is_root_device\": false}",
           400, "path_on_host: cannot open");
    expect(f->api, "PUT", "/drives/x", "{\"drive_id\": \"x\", \"is_root_device\": false}", 400,
           "path_on_host: missing required field");
    expect(f->api, "PUT", "/drives/x-y", "{\"drive_id\": \"x-y\", \"is_root_device\": false}", 400,
           "may only contain");
    snprintf(body, sizeof(body),
             "{\"drive_id\": \"rl\", \"path_on_host\": \"%s\", \"is_root_device\": false, "
             "\"rate_limiter\": {\"bandwidth\": {\"size\": 1, \"refill_time\": 100}}}",
             f->disk);
    expect(f->api, "PUT", "/drives/rl", body, 204, NULL);
    snprintf(body, sizeof(body),
             "{\"drive_id\": \"rl\", \"path_on_host\": \"%s\", \"is_root_device\": false, "
             "\"rate_limiter\": {\"bandwidth\": {\"size\": -1, \"refill_time\": 100}}}",
             f->disk);
    expect(f->api, "PUT", "/drives/rl", body, 400, "rate_limiter.bandwidth.size");
    snprintf(body, sizeof(body),
             "{\"drive_id\": \"rl\", \"path_on_host\": \"%s\", \"is_root_device\": false, "
             "\"rate_limiter\": {\"ops\": {\"size\": 5, \"refill_time\": 18446744073710}}}",
             f->disk);
    expect(f->api, "PUT", "/drives/rl", body, 400,
           "rate_limiter.ops.refill_time: refill_time is too large");
    snprintf(body, sizeof(body),
             "{\"drive_id\": \"rl\", \"path_on_host\": \"%s\", \"is_root_device\": false, "
             "\"rate_limiter\": {\"ops\": {\"refill_time\": 100}}}",
             f->disk);
    expect(f->api, "PUT", "/drives/rl", body, 400, "rate_limiter.ops.size: missing");
    /* PATCH before boot is the wrong state */
    snprintf(body, sizeof(body), "{\"drive_id\": \"data\", \"path_on_host\": \"%s\"}", f->disk);
    expect(f->api, "PATCH", "/drives/data", body, 400, "not started");
    char *b;
    assert_int_equal(req(f->api, "GET", "/vm/config", NULL, &b), 200);
    assert_non_null(strstr(b, "\"io_engine\":\"Async\""));
    assert_non_null(strstr(b, "\"rate_limiter\":{\"bandwidth\":{\"size\":1,\"one_time_burst\":0,"
                              "\"refill_time\":100}}"));
    free(b);
}

static void test_net_vsock_entropy_serial(void **state)
{
    struct api *api = ((struct fixture *)*state)->api;
    expect(api, "PUT", "/network-interfaces/eth0",
           "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"guest_mac\": "
           "\"06:00:ac:10:00:02\"}",
           204, NULL);
    assert_int_equal(api->cfg.nets[0].mac[5], 2);
    expect(api, "PUT", "/network-interfaces/eth1",
           "{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap0\"}", 400, "already used");
    expect(api, "PUT", "/network-interfaces/eth1",
           "{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap1\", \"guest_mac\": \"zz\"}", 400,
           "guest_mac");
    expect(api, "PUT", "/network-interfaces/eth1",
           "{\"iface_id\": \"eth1\", \"host_dev_name\": \"a-very-long-interface-name\"}", 400,
           "host_dev_name: too long");
    expect(api, "PUT", "/vsock", "{\"guest_cid\": 3, \"uds_path\": \"/tmp/v.sock\"}", 204, NULL);
    expect(api, "PUT", "/vsock", "{\"guest_cid\": 2, \"uds_path\": \"/tmp/v.sock\"}", 400,
           "guest_cid");
    expect(api, "PUT", "/vsock", "{\"guest_cid\": 3}", 400, "uds_path: missing");
    /* the path must leave room for "_<port>": 96 characters are fine, 97 are refused at once */
    char body[256], path[128];
    snprintf(path, sizeof(path), "/tmp/%091d", 0);
    snprintf(body, sizeof(body), "{\"guest_cid\": 3, \"uds_path\": \"%s\"}", path);
    expect(api, "PUT", "/vsock", body, 204, NULL);
    snprintf(path, sizeof(path), "/tmp/%092d", 0);
    snprintf(body, sizeof(body), "{\"guest_cid\": 3, \"uds_path\": \"%s\"}", path);
    expect(api, "PUT", "/vsock", body, 400, "uds_path: longer than 96");
    static const char *const taps[] = {"tap%d", "a/b", "..", "a b", "a:b"};
    for (size_t i = 0; i < sizeof(taps) / sizeof(taps[0]); i++) {
        snprintf(body, sizeof(body), "{\"iface_id\": \"eth1\", \"host_dev_name\": \"%s\"}",
                 taps[i]);
        expect(api, "PUT", "/network-interfaces/eth1", body, 400, "host_dev_name: '");
    }
    expect(api, "PUT", "/entropy", "{}", 204, NULL);
    expect(api, "PUT", "/entropy", "{\"rate\": 1}", 400, "rate: unknown field");
    expect(api, "PUT", "/serial", "{\"serial_out_path\": \"/tmp/truce-serial.log\"}", 204, NULL);
    assert_int_equal(api->cfg.console, CONSOLE_FILE);
    expect(api, "PUT", "/serial", "{\"serial_out_path\": 5}", 400, "serial_out_path");
    expect(api, "PATCH", "/vm", "{\"state\": \"Paused\"}", 400, "not started");
    expect(api, "PATCH", "/vm", "{\"state\": \"Frozen\"}", 400, "state: invalid value");
}

static void test_cpu_config(void **state)
{
    struct api *api = ((struct fixture *)*state)->api;
    expect(api, "PUT", "/cpu-config",
           "{\"kvm_capabilities\": [\"!56\", \"121\"], \"cpuid_modifiers\": [{\"leaf\": \"0x1\", "
           "\"subleaf\": \"0\", \"flags\": 0, \"modifiers\": [{\"register\": \"ecx\", \"bitmap\": "
           "\"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx0\"}]}], \"msr_modifiers\": [{\"addr\": \"0x10a\", "
           "\"bitmap\": \"0b0000000000000000000000000000000000000000000000000000000000000001\"}]}",
           204, NULL);
    assert_non_null(api->cpu_config);
    expect(api, "PUT", "/cpu-config", "{\"kvm_capabilities\": [\"x1\"]}", 400,
           "kvm_capabilities[0]");
    expect(api, "PUT", "/cpu-config",
           "{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0\", \"flags\": 0, "
           "\"modifiers\": [{\"register\": \"eax\", \"bitmap\": \"0b01\"}]}]}",
           400, "cpuid_modifiers[0].modifiers[0].bitmap");
    expect(api, "PUT", "/cpu-config", "{\"reg_modifiers\": [{\"addr\": \"0\"}]}", 400,
           "aarch64 only");
    /* numbers: only digits of the base after its prefix (strtoull alone takes all of these) */
    static const char *const bad[] = {"0x0x5", " 0", "\\t7", "+5", "0x-1", "0b0b1", "0x", "1 "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"msr_modifiers\": [{\"addr\": \"%s\", \"bitmap\": \"0b%064d\"}]}", bad[i], 0);
        expect(api, "PUT", "/cpu-config", body, 400, "msr_modifiers[0].addr");
        snprintf(body, sizeof(body),
                 "{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"%s\", "
                 "\"flags\": 0, \"modifiers\": []}]}",
                 bad[i]);
        expect(api, "PUT", "/cpu-config", body, 400, "cpuid_modifiers[0].subleaf");
    }
    expect(api, "PUT", "/cpu-config",
           "{\"cpuid_modifiers\": [{\"leaf\": \"0X1F\", \"subleaf\": \"0b10\", \"flags\": 0, "
           "\"modifiers\": []}], \"kvm_capabilities\": [\"!0\"]}",
           204, NULL);
    expect(api, "PUT", "/cpu-config", "{\"kvm_capabilities\": [\" 5\"]}", 400,
           "kvm_capabilities[0]");
}

static void test_actions_preboot(void **state)
{
    struct api *api = ((struct fixture *)*state)->api;
    expect(api, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", 400,
           "boot-source: not configured");
    expect(api, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}", 400, "not started");
    expect(api, "PUT", "/actions", "{\"action_type\": \"SendPowerButton\"}", 400, "not started");
    expect(api, "PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}", 400, "not initialized");
    expect(api, "PUT", "/actions", "{\"action_type\": \"Reboot\"}", 400, "action_type");
    expect(api, "PUT", "/actions", "{}", 400, "action_type: missing");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_instance_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routing_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_machine_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_boot_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drives, setup, teardown),
        cmocka_unit_test_setup_teardown(test_net_vsock_entropy_serial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cpu_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_actions_preboot, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
