/* test_cli_firecracker.c — the `firecracker` command line (Firecracker's parsing rules, defaults,
 * messages, exit codes), the boot-timer device and GET /vm/config's transport. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/api_int.h"
#include "cli.h"
#include "devtest.h"

static int parse(struct fc_args *a, char *err, const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "/usr/bin/firecracker";
    for (; *args; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    err[0] = 0;
    return cli_fc_parse(argc, argv, a, err, 256);
}

#define PARSE(a, err, ...) parse(a, err, (const char *const[]){__VA_ARGS__, NULL})

static void test_name(void **state)
{
    assert_true(cli_is_firecracker("firecracker"));
    assert_true(cli_is_firecracker("/usr/local/bin/firecracker"));
    assert_true(cli_is_firecracker("./firecracker"));
    assert_false(cli_is_firecracker("truce"));
    assert_false(cli_is_firecracker("/opt/firecracker/truce"));
    assert_false(cli_is_firecracker("firecracker-v1.7"));
    assert_false(cli_is_firecracker(NULL));
}

static void test_defaults(void **state)
{
    struct fc_args a;
    struct api_opts o;
    char err[256];
    assert_int_equal(PARSE(&a, err, "--boot-timer"), 0);
    assert_string_equal(cli_fc_value(&a, "api-sock"), "/run/firecracker.socket");
    assert_string_equal(cli_fc_value(&a, "id"), "anonymous-instance");
    assert_string_equal(cli_fc_value(&a, "http-api-max-payload-size"), "51200");
    assert_null(cli_fc_value(&a, "config-file"));
    assert_int_equal(cli_fc_options(&a, &o, err, sizeof(err)), 0);
    assert_string_equal(o.api_sock, "/run/firecracker.socket");
    assert_int_equal(o.max_payload, 51200);
    assert_int_equal(o.mmds_size_limit, 0); /* api_run: the payload limit */
    assert_true(o.boot_timer);
    assert_false(o.enable_pci);
    assert_null(o.config_file);
}

static void test_good(void **state)
{
    struct fc_args a;
    struct api_opts o;
    char err[256];
    assert_int_equal(PARSE(&a, err, "--api-sock", "/tmp/s", "--id", "vm-1", "--level", "Debug",
                           "--show-level", "--show-log-origin", "--log-path", "/tmp/l",
                           "--metrics-path", "/tmp/m", "--http-api-max-payload-size", "102400",
                           "--mmds-size-limit", "4096", "--enable-pci", "--start-time-us", "12",
                           "--start-time-cpu-us", "3", "--parent-cpu-time-us", "4", "--module",
                           "vmm"),
                     0);
    assert_int_equal(cli_fc_options(&a, &o, err, sizeof(err)), 0);
    assert_string_equal(o.api_sock, "/tmp/s");
    assert_string_equal(o.id, "vm-1");
    assert_string_equal(o.level, "Debug");
    assert_string_equal(o.log_path, "/tmp/l");
    assert_string_equal(o.metrics_path, "/tmp/m");
    assert_true(o.show_level && o.show_origin && o.enable_pci);
    assert_false(o.boot_timer);
    assert_int_equal(o.max_payload, 102400);
    assert_int_equal(o.mmds_size_limit, 4096);
    /* --no-api with --config-file: no socket */
    assert_int_equal(PARSE(&a, err, "--no-api", "--config-file", "/tmp/c.json"), 0);
    assert_int_equal(cli_fc_options(&a, &o, err, sizeof(err)), 0);
    assert_null(o.api_sock);
    assert_string_equal(o.config_file, "/tmp/c.json");
    /* everything after "--" is ignored, even what would be wrong */
    assert_int_equal(PARSE(&a, err, "--id", "x", "--", "--nonsense", "y"), 0);
    /* --help / -h and --version win wherever they are, over any error */
    assert_int_equal(PARSE(&a, err, "--bogus", "-h"), 0);
    assert_true(a.help);
    assert_int_equal(PARSE(&a, err, "--id", "--version"), 0);
    assert_true(cli_fc_flag(&a, "version"));
    assert_false(a.help);
    assert_int_equal(PARSE(&a, err, "--snapshot-version"), 0);
    assert_true(cli_fc_flag(&a, "snapshot-version"));
    assert_int_equal(PARSE(&a, err, "--seccomp-filter", "/f"), 0);
    assert_string_equal(cli_fc_value(&a, "seccomp-filter"), "/f");
}

struct bad {
    const char *args[6];
    const char *msg;
};

static void test_bad(void **state)
{
    static const struct bad cases[] = {
        {{"--foo"}, "Found argument 'foo' which wasn't expected, or isn't valid in this context."},
        {{"foo"}, "Found argument 'foo' which wasn't expected, or isn't valid in this context."},
        {{"-id", "x"}, "Found argument '-id' which wasn't expected"},
        {{"--api-sock=/s"}, "Found argument 'api-sock=/s' which wasn't expected"},
        {{"--id", "a", "--id", "b"}, "The argument 'id' was provided more than once."},
        {{"--id"}, "The argument 'id' requires a value, but none was supplied."},
        {{"--api-sock", "--id", "x"},
         "The argument 'api-sock' requires a value, but none was supplied."},
        {{"--show-level", "yes"}, "Found argument 'yes' which wasn't expected"},
        {{"--no-api"}, "Argument 'config-file' required, but not found."},
        {{"--no-seccomp", "--seccomp-filter", "/f"},
         "Argument 'seccomp-filter' cannot be used together with argument 'no-seccomp'."},
        {{"--seccomp-filter", "/f", "--no-seccomp"},
         "Argument 'seccomp-filter' cannot be used together with argument 'no-seccomp'."},
    };
    struct fc_args a;
    char err[256];
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *argv[8] = {"firecracker"};
        int argc = 1;
        for (; argc < 7 && cases[i].args[argc - 1]; argc++)
            argv[argc] = (char *)cases[i].args[argc - 1];
        err[0] = 0;
        int rc = cli_fc_parse(argc, argv, &a, err, sizeof(err));
        if (rc != -EINVAL || !strstr(err, cases[i].msg))
            fail_msg("case %zu (%s): rc %d, \"%s\"", i, cases[i].args[0], rc, err);
    }
}

static void test_bad_values(void **state)
{
    static const struct bad cases[] = {
        {{"--id", "a_b"}, "Invalid instance ID: Invalid char (_) at position 1"},
        {{"--id", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
         "Invalid len (65)"},
        {{"--http-api-max-payload-size", "abc"},
         "'http-api-max-payload-size' parameter expected to be of 'usize' type."},
        {{"--http-api-max-payload-size", "100"}, "outside what truce takes"},
        {{"--mmds-size-limit", "-1"}, "'mmds-size-limit' parameter expected to be of 'usize'"},
        {{"--start-time-us", "x"}, "'start-time-us' parameter expected to be of 'u64' type."},
    };
    struct fc_args a;
    struct api_opts o;
    char err[256];
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *argv[8] = {"firecracker"};
        int argc = 1;
        for (; argc < 7 && cases[i].args[argc - 1]; argc++)
            argv[argc] = (char *)cases[i].args[argc - 1];
        assert_int_equal(cli_fc_parse(argc, argv, &a, err, sizeof(err)), 0);
        err[0] = 0;
        int rc = cli_fc_options(&a, &o, err, sizeof(err));
        if (rc != -EINVAL || !strstr(err, cases[i].msg))
            fail_msg("case %zu (%s): rc %d, \"%s\"", i, cases[i].args[0], rc, err);
    }
    /* the jailer's times are only read when the API runs, as in Firecracker */
    assert_int_equal(PARSE(&a, err, "--no-api", "--config-file", "c", "--start-time-us", "x"), 0);
    assert_int_equal(cli_fc_options(&a, &o, err, sizeof(err)), 0);
}

static void test_exit_codes(void **state)
{
    assert_int_equal(cli_fc_exit_status(TRUCE_EXIT_POWEROFF), 0);
    assert_int_equal(cli_fc_exit_status(TRUCE_EXIT_REBOOT), 0); /* reboot=k ends Firecracker */
    assert_int_equal(cli_fc_exit_status(TRUCE_EXIT_MIGRATED), 0);
    assert_int_equal(cli_fc_exit_status(TRUCE_EXIT_SECCOMP), 148);
    assert_int_equal(cli_fc_exit_status(TRUCE_EXIT_TRIPLE), 1);
    assert_int_equal(cli_fc_exit_status(TRUCE_EXIT_HOST), 1);
    assert_int_equal(cli_fc_exit_status(TRUCE_EXIT_USAGE), 1);
    assert_int_equal(cli_fc_exit_status(TRUCE_EXIT_PANIC), 1);
    assert_int_equal(cli_fc_exit_status(85), 85); /* debug-exit statuses are kept */
}

/* ---- the boot-timer device ------------------------------------------------------------------ */

static char *read_log(const char *path)
{
    FILE *f = fopen(path, "r");
    static char buf[4096];
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    buf[n] = 0;
    if (f)
        fclose(f);
    return buf;
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (; (s = strstr(s, needle)); s++)
        n++;
    return n;
}

static void test_boot_timer(void **state)
{
    static struct vm vm;
    char path[] = "/tmp/truce-boot-timer-XXXXXX";
    close(mkstemp(path));
    assert_int_equal(log_set_path(path), 0);
    log_configure(LOG_LVL_INFO, false, false);

    test_vm_init(&vm, 64 << 20);
    test_create(&vm, "boot-timer"); /* not configured: nothing mapped */
    uint8_t v = 123;
    assert_int_equal(io_bus_access(&vm.mmio, LAYOUT_BOOT_TIMER, &v, 1, true), -ENOENT);
    test_vm_free(&vm, NULL);

    test_vm_init(&vm, 64 << 20);
    vm.cfg.boot_timer = true;
    test_create(&vm, "boot-timer");
    uint8_t other = 122, word[4] = {123, 0, 0, 0}, back = 0;
    assert_int_equal(io_bus_access(&vm.mmio, LAYOUT_BOOT_TIMER, &other, 1, true), 0);
    assert_int_equal(io_bus_access(&vm.mmio, LAYOUT_BOOT_TIMER + 1, &v, 1, true), 0);
    assert_int_equal(io_bus_access(&vm.mmio, LAYOUT_BOOT_TIMER, word, 4, true), 0);
    assert_int_equal(io_bus_access(&vm.mmio, LAYOUT_BOOT_TIMER, &back, 1, false), 0);
    assert_int_equal(back, 0xff);
    assert_int_equal(count(read_log(path), "Guest-boot-time"), 0); /* none of those counts */
    assert_int_equal(io_bus_access(&vm.mmio, LAYOUT_BOOT_TIMER, &v, 1, true), 0);
    const char *log = read_log(path);
    assert_int_equal(count(log, "Guest-boot-time = "), 1);
    assert_non_null(strstr(log, " us "));
    assert_non_null(strstr(log, " CPU ms"));
    for (int i = 0; i < 100; i++) /* a guest in a loop: a bounded number of lines */
        assert_int_equal(io_bus_access(&vm.mmio, LAYOUT_BOOT_TIMER, &v, 1, true), 0);
    assert_int_equal(count(read_log(path), "Guest-boot-time = "), 8);
    test_vm_free(&vm, NULL);
    log_configure(LOG_LVL_WARN, true, false);
    unlink(path);
}

/* ---- GET /vm/config names the transport; a config file may set it -----------------------------
 */

static void test_vm_config_transport(void **state)
{
    struct api *api = api_new("t");
    struct api_reply r;
    api->cfg.transport = TRANSPORT_MMIO;
    api_handle(api, "GET", "/vm/config", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"virtio-transport\":\"mmio\""));
    api_reply_free(&r);
    char kernel[] = "/tmp/truce-fc-kernel-XXXXXX", json[512], err[256];
    close(mkstemp(kernel));
    snprintf(json, sizeof(json),
             "{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"virtio-transport\": \"pci\"}",
             kernel);
    assert_int_equal(api_load_config(api, json, strlen(json), err, sizeof(err)), 0);
    assert_int_equal(api->cfg.transport, TRANSPORT_PCI);
    api_handle(api, "GET", "/vm/config", NULL, 0, &r);
    assert_non_null(strstr(r.body, "\"virtio-transport\":\"pci\""));
    api_reply_free(&r);
    snprintf(json, sizeof(json),
             "{\"boot-source\": {\"kernel_image_path\": \"%s\"}, \"virtio-transport\": \"usb\"}",
             kernel);
    assert_int_equal(api_load_config(api, json, strlen(json), err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "virtio-transport"));
    unlink(kernel);
    api_free(api);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name),       cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_good),       cmocka_unit_test(test_bad),
        cmocka_unit_test(test_bad_values), cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_boot_timer), cmocka_unit_test(test_vm_config_transport),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
