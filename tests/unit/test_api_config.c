/* test_api_config.c — the --config-file mapping, metrics lines and the logger/metrics sinks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api_int.h"

static char kernel[64], disk[64], dir[64];

static int group_setup(void **state)
{
    snprintf(kernel, sizeof(kernel), "/tmp/truce-cfg-kernel-XXXXXX");
    snprintf(disk, sizeof(disk), "/tmp/truce-cfg-disk-XXXXXX");
    snprintf(dir, sizeof(dir), "/tmp/truce-cfg-dir-XXXXXX");
    close(mkstemp(kernel));
    close(mkstemp(disk));
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int group_teardown(void **state)
{
    unlink(kernel);
    unlink(disk);
    rmdir(dir);
    return 0;
}

/* Load DOC (a printf format taking the kernel and disk paths) into a fresh api. */
static int load(struct api **out, char *err, size_t errlen, const char *doc)
{
    char json[2048];
    snprintf(json, sizeof(json), doc, kernel, disk);
    *out = api_new(NULL);
    return api_load_config(*out, json, strlen(json), err, errlen);
}

static void test_full_config(void **state)
{
    struct api *api;
    char err[512] = "";
    int rc = load(
        &api, err, sizeof(err),
        "{\"boot-source\": {\"kernel_image_path\": \"%s\", \"boot_args\": \"quiet\"},"
        " \"drives\": [{\"drive_id\": \"rootfs\", \"path_on_host\": \"%s\","
        " \"is_root_device\": true, \"is_read_only\": false, \"num_queues\": 2,"
        " \"rate_limiter\": {\"bandwidth\": {\"size\": 1000000, \"refill_time\": 100}}}],"
        " \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 256},"
        " \"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\","
        " \"num_queue_pairs\": 2, \"tx_rate_limiter\": {\"ops\": {\"size\": 100, "
        "\"one_time_burst\": 50,"
        " \"refill_time\": 1000}}}],"
        " \"vsock\": {\"guest_cid\": 7, \"uds_path\": \"/tmp/x.vsock\"},"
        " \"entropy\": {\"rate_limiter\": {\"bandwidth\": {\"size\": 65536,"
        " \"refill_time\": 1000}}}, \"balloon\": {\"amount_mib\": 64, \"deflate_on_oom\": true,"
        " \"stats_polling_interval_s\": 5, \"free_page_reporting\": true}}");
    if (rc)
        fail_msg("%s", err);
    assert_int_equal(api->cfg.cpus, 2);
    assert_int_equal(api->cfg.ndisks, 1);
    assert_true(api->cfg.disks[0].is_root);
    assert_int_equal(api->cfg.disks[0].iface, DISK_IF_VIRTIO); /* the default */
    assert_false(api->cfg.disks[0].cdrom);
    assert_int_equal(api->cfg.nnets, 1);
    assert_int_equal(api->cfg.disks[0].queues, 2); /* truce extensions: multiqueue */
    assert_int_equal(api->cfg.nets[0].queues, 2);
    assert_int_equal(api->cfg.vsock.guest_cid, 7);
    assert_true(api->cfg.entropy);
    /* rate limiters, as Firecracker's objects */
    assert_int_equal(api->cfg.disks[0].rate_limiter.bandwidth.size, 1000000);
    assert_int_equal(api->cfg.disks[0].rate_limiter.bandwidth.refill_time, 100);
    assert_false(tb_config_on(&api->cfg.disks[0].rate_limiter.ops));
    assert_int_equal(api->cfg.nets[0].tx_rate_limiter.ops.size, 100);
    assert_int_equal(api->cfg.nets[0].tx_rate_limiter.ops.one_time_burst, 50);
    assert_false(rl_config_on(&api->cfg.nets[0].rx_rate_limiter));
    assert_int_equal(api->cfg.entropy_rate_limiter.bandwidth.size, 65536);
    assert_true(api->cfg.balloon.enabled);
    assert_int_equal(api->cfg.balloon.amount_mib, 64);
    assert_true(api->cfg.balloon.deflate_on_oom);
    assert_int_equal(api->cfg.balloon.stats_polling_interval_s, 5);
    assert_false(api->cfg.balloon.free_page_hinting);
    assert_true(api->cfg.balloon.free_page_reporting);
    assert_string_equal(api->cfg.vm_id, "anonymous-instance");
    api_free(api);
}

/* Each bad document fails with an error that starts with the JSON path given. */
static void test_errors_name_the_path(void **state)
{
    static const struct {
        const char *doc, *want;
    } cases[] = {
        {"{\"drives\": []}", "boot-source: missing required section"},
        {"{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"drives\": [{\"drive_id\": \"a\","
         " \"path_on_host\": \"%s\", \"is_root_device\": false}, {\"drive_id\": \"b\","
         " \"path_on_host\": \"/nonexistent\", \"is_root_device\": false}]}",
         "drives[1].path_on_host: cannot open"},
        {"{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"drives\": [{\"drive_id\": \"c\","
         " \"path_on_host\": \"%s\", \"is_root_device\": false, \"is_read_only\": true,"
         " \"media\": \"cdrom\"}]}",
         "drives[0].media: a cdrom is read-only on AHCI"},
        {"{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"drives\": [{\"drive_id\": \"c\","
         " \"path_on_host\": \"%s\", \"is_root_device\": false, \"is_read_only\": true,"
         " \"interface\": \"ahci\", \"media\": \"cdrom\"}]}",
         "drives[0].path_on_host: '/tmp/truce-cfg-disk-"},
        {"{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"drives\": [{\"drive_id\": \"c\","
         " \"path_on_host\": \"%s\", \"is_root_device\": false, \"interface\": \"scsi\"}]}",
         "drives[0].interface"},
        {"{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"drives\": [{\"drive_id\": \"c\","
         " \"path_on_host\": \"%s\", \"is_root_device\": false, \"interface\": \"ahci\","
         " \"rate_limiter\": {\"ops\": {\"size\": 10, \"refill_time\": 100}}}]}",
         "drives[0].rate_limiter: not supported yet on AHCI drives"},
        {"{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"machine-config\": "
         "{\"vcpu_count\": 1, \"mem_size_mib\": \"big\"}}",
         "machine-config.mem_size_mib: must be an integer"},
        {"{\"boot-source\": {\"kernel_image_path\": \"%s\", \"kernel\": 1}}",
         "boot-source.kernel: unknown field"},
        {"{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"bogus\": {}}",
         "bogus: unknown field"},
        {"{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"drives\": [{\"drive_id\": \"c\","
         " \"path_on_host\": \"%s\", \"is_root_device\": false, \"num_queues\": 17}]}",
         "drives[0].num_queues: 17 is out of range [1, 16]"},
        {"{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"network-interfaces\": "
         "[{\"iface_id\": \"e0\", \"host_dev_name\": \"tap0\", \"num_queue_pairs\": 0}]}",
         "network-interfaces[0].num_queue_pairs: 0 is out of range [1, 8]"},
        {"{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"balloon\": {\"amount_mib\": 4096,"
         " \"deflate_on_oom\": true}}",
         "balloon.amount_mib: Amount of pages requested is too large"},
        {"{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"network-interfaces\": "
         "[{\"iface_id\": \"e0\", \"host_dev_name\": \"tap0\", \"mtu\": 9000}]}",
         "network-interfaces[0].mtu: not supported yet"},
        {"{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"network-interfaces\": "
         "[{\"iface_id\": \"e0\", \"host_dev_name\": \"tap0\", \"tx_rate_limiter\": "
         "{\"ops\": {\"size\": 1}}}]}",
         "network-interfaces[0].tx_rate_limiter.ops.refill_time: missing"},
        {"{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"entropy\": {\"rate_limiter\": "
         "{\"bandwidth\": {\"size\": 1, \"refill_time\": 1, \"burst\": 2}}}}",
         "entropy.rate_limiter.bandwidth.burst: unknown field"},
        {"{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"cpu-config\": {"
         "\"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": \"0b1\"}]}}",
         "cpu-config.msr_modifiers[0].bitmap"},
        {"{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"cpu-config\": \"/nonexistent\"}",
         "cpu-config: cannot read"},
        {"{\"boot-source\": {\"kernel_image_path\": \"%s\"}", "invalid JSON"},
        {"{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"network-interfaces\": "
         "[{\"iface_id\": \"e0\", \"host_dev_name\": \"tap%%d\"}]}",
         "network-interfaces[0].host_dev_name: 'tap%d'"},
        {"{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"vsock\": {\"guest_cid\": 3, "
         "\"uds_path\": \"/tmp/0000000000000000000000000000000000000000000000000000000000000000"
         "0000000000000000000000000000\"}}",
         "vsock.uds_path: longer than 96"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct api *api;
        char err[512] = "";
        int rc = load(&api, err, sizeof(err), cases[i].doc);
        if (rc != -EINVAL || strncmp(err, cases[i].want, strlen(cases[i].want)))
            fail_msg("case %zu: rc %d, err '%s', want '%s'", i, rc, err, cases[i].want);
        api_free(api);
    }
}

/* A directory is not a kernel: config_validate (the one validation path) says so by JSON name. */
static void test_validate_names_json_field(void **state)
{
    struct api *api = api_new(NULL);
    char err[512] = "", json[256];
    snprintf(json, sizeof(json), "{\"boot-source\": {\"kernel_image_path\": \"%s\"}}", dir);
    assert_int_equal(api_load_config(api, json, strlen(json), err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "boot-source.kernel_image_path"));
    api_free(api);
}

static void test_metrics_file(void **state)
{
    struct api *api = api_new("metrics-vm");
    char path[96], body[256];
    snprintf(path, sizeof(path), "%s/metrics.json", dir);
    snprintf(body, sizeof(body),
             "{\"metrics_path\": \"%s\", \"emit_id\": true, \"properties\": {\"k\": \"v\"}}", path);
    struct api_reply r;
    api_handle(api, "PUT", "/metrics", body, strlen(body), &r);
    assert_int_equal(r.status, 204);
    api_handle(api, "PUT", "/metrics", body, strlen(body), &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "already initialized"));
    api_reply_free(&r);
    const char *flush = "{\"action_type\": \"FlushMetrics\"}";
    api_handle(api, "PUT", "/actions", flush, strlen(flush), &r);
    assert_int_equal(r.status, 204);
    api_free(api);

    uint8_t *buf;
    size_t len;
    assert_int_equal(read_file(path, 1 << 20, &buf, &len), 0);
    buf[len - 1] = '\0'; /* one line, newline-terminated */
    assert_null(strchr((char *)buf, '\n'));
    json_t *j = json_loads((char *)buf, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "metrics-vm");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "properties"), "k")),
                        "v");
    json_t *srv = json_object_get(j, "api_server");
    /* two PUT /metrics before the flush was counted */
    assert_true(json_integer_value(json_object_get(srv, "requests")) >= 2);
    assert_int_equal(json_integer_value(json_object_get(srv, "status_4xx")), 1);
    json_decref(j);
    free(buf);
    unlink(path);
}

/* Firecracker's counters are deltas since the previous line; gauges stay absolute; the totals are
 * under truce_cumulative. */
static void test_metrics_deltas(void **state)
{
    json_t *prev = json_pack("{s:I, s:{s:I, s:I, s:I}, s:s}", "utc_timestamp_ms", (json_int_t)1000,
                             "api_server", "requests", (json_int_t)5, "latency_us_max",
                             (json_int_t)90, "status_4xx", (json_int_t)1, "path", "x");
    json_t *now =
        json_pack("{s:I, s:{s:I, s:I, s:I, s:I}, s:s}", "utc_timestamp_ms", (json_int_t)2000,
                  "api_server", "requests", (json_int_t)8, "latency_us_max", (json_int_t)70,
                  "status_4xx", (json_int_t)1, "status_5xx", (json_int_t)2, "path", "x");
    json_t *d = api_metrics_delta(now, prev);
    json_t *srv = json_object_get(d, "api_server");
    assert_int_equal(json_integer_value(json_object_get(d, "utc_timestamp_ms")), 2000);
    assert_int_equal(json_integer_value(json_object_get(srv, "requests")), 3);
    assert_int_equal(json_integer_value(json_object_get(srv, "status_4xx")), 0);
    assert_int_equal(json_integer_value(json_object_get(srv, "status_5xx")), 2); /* new: all */
    assert_int_equal(json_integer_value(json_object_get(srv, "latency_us_max")), 70);
    assert_string_equal(json_string_value(json_object_get(d, "path")), "x");
    json_decref(d);
    d = api_metrics_delta(now, NULL); /* the first line: everything since start */
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(d, "api_server"), "requests")), 8);
    json_decref(d);
    json_decref(now);
    json_decref(prev);
}

/* A FIFO without a reader: opening works, lines fill the pipe, then are lost and counted. */
static void test_metrics_fifo_never_blocks(void **state)
{
    char path[96];
    snprintf(path, sizeof(path), "%s/metrics.fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    struct api *api = api_new(NULL);
    assert_int_equal(api_metrics_open(&api->metrics, path), 0);
    int lost = 0;
    for (int i = 0; i < 2000 && !lost; i++)
        lost = api_metrics_flush(api) == -EAGAIN;
    assert_true(lost);
    assert_int_equal(api->metrics.lost, 1);
    assert_true(api->metrics.lines > 0);
    api_free(api);
    unlink(path);
}

static void test_logger(void **state)
{
    struct api *api = api_new(NULL);
    char path[96], body[256];
    snprintf(path, sizeof(path), "%s/log.txt", dir);
    snprintf(body, sizeof(body),
             "{\"log_path\": \"%s\", \"level\": \"debug\", \"show_level\": true}", path);
    struct api_reply r;
    api_handle(api, "PUT", "/logger", body, strlen(body), &r);
    assert_int_equal(r.status, 204);
    log_info("hello from the unit test");
    const char *bad = "{\"level\": \"Loud\"}";
    api_handle(api, "PUT", "/logger", bad, strlen(bad), &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "level"));
    api_reply_free(&r);
    const char *off = "{\"level\": \"Off\"}";
    api_handle(api, "PUT", "/logger", off, strlen(off), &r);
    assert_int_equal(r.status, 204);
    log_err("must not appear");
    log_configure(LOG_LVL_WARN, true, false);
    assert_int_equal(log_set_path("/dev/stderr"), 0);
    api_free(api);
    uint8_t *buf;
    size_t len;
    assert_int_equal(read_file(path, 1 << 20, &buf, &len), 0);
    buf[len - 1] = '\0';
    assert_non_null(strstr((char *)buf, "[INFO] hello from the unit test"));
    assert_null(strstr((char *)buf, "must not appear"));
    free(buf);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_errors_name_the_path),
        cmocka_unit_test(test_validate_names_json_field),
        cmocka_unit_test(test_metrics_file),
        cmocka_unit_test(test_metrics_deltas),
        cmocka_unit_test(test_metrics_fifo_never_blocks),
        cmocka_unit_test(test_logger),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
