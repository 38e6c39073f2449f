/* test_cli.c — `truce run` flag parsing and config validation: good values and clear errors. */
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

#include "cli.h"
#include "util/util.h"
#include "vm/vm.h"

static char kernel[] = "/tmp/truce-test-kernelXXXXXX";

static int setup(void **state)
{
    int fd = mkstemp(kernel);
    return fd < 0 ? -1 : write_full(fd, "x", 1);
}

static int parse(struct vm_config *cfg, char *err, const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "run";
    for (; *args; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    return cli_parse_run(argc, argv, cfg, err, 256);
}

#define PARSE(cfg, err, ...) parse(cfg, err, (const char *const[]){__VA_ARGS__, NULL})

static void good_flags(void **state)
{
    struct vm_config *cfg = malloc(sizeof(*cfg));
    char err[256] = "";
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel, "--cpus", "4", "--memory", "2G",
                           "--cmdline", "console=ttyS0 quiet", "--console", "none"),
                     0);
    assert_int_equal(cfg->cpus, 4);
    assert_int_equal(cfg->mem_bytes, 2 * GiB);
    assert_string_equal(cfg->cmdline, "console=ttyS0 quiet");
    assert_int_equal(cfg->console, CONSOLE_NONE);
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel), 0);
    assert_int_equal(cfg->cpus, 1);
    assert_int_equal(cfg->mem_bytes, 128 * MiB);
    assert_string_equal(cfg->cmdline, "console=ttyS0");
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel, "--console", "virtio"), 0);
    assert_string_equal(cfg->cmdline, "console=hvc0");
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel, "--memory", "64G", "--cpus", "64"), 0);
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel, "--disk",
                           "path=/dev/null,readonly=on,serial=abc", "--net",
                           "user,hostfwd=tcp::8080-:80,mac=02:00:00:00:00:01", "--vsock",
                           "cid=3,uds=/tmp/v.sock", "--rng"),
                     -EINVAL); /* /dev/null is not a regular file */
    assert_non_null(strstr(err, "--disk"));
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel, "--disk",
                           "path=/etc/hostname,readonly=on,serial=abc,direct=on", "--net",
                           "user,hostfwd=tcp::8080-:80,mac=02:00:00:00:00:01", "--vsock",
                           "cid=3,uds=/tmp/v.sock", "--rng"),
                     0);
    assert_true(cfg->disks[0].readonly);
    assert_true(cfg->disks[0].direct);
    assert_string_equal(cfg->disks[0].serial, "abc");
    assert_int_equal(cfg->nets[0].kind, NET_USER);
    assert_int_equal(cfg->nets[0].fwd[0].host_port, 8080);
    assert_int_equal(cfg->nets[0].fwd[0].guest_port, 80);
    assert_int_equal(cfg->nets[0].mac[5], 1);
    assert_int_equal(cfg->vsock.guest_cid, 3);
    assert_true(cfg->entropy);
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel, "--balloon",
                           "amount_mib=32,deflate_on_oom=on,stats_polling_interval_s=2,"
                           "free_page_hinting=on,free_page_reporting=yes"),
                     0);
    assert_true(cfg->balloon.enabled);
    assert_int_equal(cfg->balloon.amount_mib, 32);
    assert_true(cfg->balloon.deflate_on_oom);
    assert_int_equal(cfg->balloon.stats_polling_interval_s, 2);
    assert_true(cfg->balloon.free_page_hinting && cfg->balloon.free_page_reporting);
    free(cfg);
}

struct bad {
    const char *args[6];
    const char *needle;
};

/* Rate limits on --disk, --net and --rng (Firecracker's buckets: bw=SIZE[/MS], ops=N[/MS]). */
static void rate_limit_keys(void **state)
{
    struct vm_config *cfg = malloc(sizeof(*cfg));
    char err[256] = "";
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel, "--disk",
                           "path=/etc/hostname,bw=10M,ops=100/10,bw_burst=1M,ops_burst=5", "--net",
                           "tap=t0,rx_bw=2500000,tx_bw=250000/100,tx_ops=1000", "--rng=bw=64K"),
                     0);
    const struct rl_config *d = &cfg->disks[0].rate_limiter;
    assert_int_equal(d->bandwidth.size, 10 * MiB);
    assert_int_equal(d->bandwidth.refill_time, 1000);
    assert_int_equal(d->bandwidth.one_time_burst, 1 * MiB);
    assert_int_equal(d->ops.size, 100);
    assert_int_equal(d->ops.refill_time, 10);
    assert_int_equal(d->ops.one_time_burst, 5);
    assert_int_equal(cfg->nets[0].rx_rate_limiter.bandwidth.size, 2500000);
    assert_int_equal(cfg->nets[0].tx_rate_limiter.bandwidth.refill_time, 100);
    assert_int_equal(cfg->nets[0].tx_rate_limiter.ops.size, 1000);
    assert_false(tb_config_on(&cfg->nets[0].rx_rate_limiter.ops));
    assert_true(cfg->entropy);
    assert_int_equal(cfg->entropy_rate_limiter.bandwidth.size, 64 * KiB);
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel, "--rng"), 0);
    assert_true(cfg->entropy);
    assert_false(rl_config_on(&cfg->entropy_rate_limiter));
    free(cfg);
}

static void bad_flags_name_the_field(void **state)
{
    static const struct bad cases[] = {
        {{"--cpus", "0"}, "--cpus"},
        {{"--cpus", "65"}, "--cpus"},
        {{"--cpus", "two"}, "--cpus"},
        {{"--cpus", "-1"}, "--cpus"},
        {{"--memory", "12Q"}, "--memory"},
        {{"--memory", "1M"}, "--memory"},
        {{"--memory", "2T"}, "--memory"},
        {{"--memory", ""}, "--memory"},
        {{"--memory", "99999999999999999999G"}, "--memory"},
        {{"--console", "tty"}, "--console"},
        {{"--bogus"}, "--bogus"},
        {{"--disk", "readonly=on"}, "--disk"},
        {{"--disk", "path=/etc/hostname,colour=red"}, "colour"},
        {{"--disk", "path=/etc/hostname,direct=maybe"}, "direct=maybe"},
        {{"--disk", "path=/etc/hostname,bw=10Q"}, "bw=10Q"},
        {{"--disk", "path=/etc/hostname,ops=100/0"}, "ops=100/0"},
        {{"--disk", "path=/etc/hostname,bw_burst=x"}, "bw_burst"},
        {{"--disk", "path=/etc/hostname,if=ahci,bw=1M"}, "virtio disks only"},
        {{"--net", "tap=t0,tx_ops=abc"}, "tx_ops=abc"},
        {{"--net", "tap=t0,up_bw=1M"}, "up_bw"},
        {{"--rng=bw=1M,speed=2"}, "speed"},
        {{"--disk", "path=/etc/hostname,serial=123456789012345678901"}, "serial"},
        {{"--net", "tap="}, "--net"},
        {{"--net", "wifi"}, "wifi"},
        {{"--net", "user,mac=01:00:00:00:00:01"}, "mac"},
        {{"--net", "user,mac=2:00:00:00:00:01"}, "mac"},
        {{"--net", "user,mac=02:00:00:00:00:01:"}, "mac"},
        {{"--net", "user,hostfwd=tcp::0-:80"}, "hostfwd"},
        {{"--net", "tap=t0,hostfwd=tcp::80-:80"}, "hostfwd"},
        {{"--net", "user,tftp=/nonexistent-tftp"}, "tftp=/nonexistent-tftp: No such file"},
        {{"--net", "user,tftp=/etc/hostname"}, "not a directory"},
        {{"--net", "user,tftp=/tmp,bootfile=../etc/passwd"}, "'..' is not allowed"},
        {{"--net", "user,tftp=/tmp,bootfile=a/../../x"}, "'..' is not allowed"},
        {{"--net", "user,tftp=/tmp,bootfile=/boot/vmlinuz"}, "relative to the tftp directory"},
        {{"--net", "user,bootfile=boot.ipxe"}, "needs tftp=DIR"},
        {{"--net", "user,tftp=/tmp,bootfile=no-such-boot-file"}, "/tmp/no-such-boot-file"},
        {{"--net", "tap=t0,tftp=/tmp"}, "need user networking"},
        {{"--net", "user,rom=/nonexistent.rom"}, "rom=/nonexistent.rom"},
        {{"--net", "user,rom=/tmp"}, "not a regular file"},
        {{"--vsock", "cid=2,uds=/x"}, "cid"},
        {{"--vsock", "cid=3"}, "--vsock"},
        {{"--vsock", "cid=3,uds=/tmp/"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "xxxxxxxxxxxxxxxx"},
         "_<P>"}, /* 97 characters: no room for "_<port>" */
        {{"--net", "tap=tr%d"}, "'%'"},
        {{"--net", "tap=tr/x"}, "'/'"},
        {{"--net", "tap=.."}, "'..'"},
        {{"--net", "tap=tr x"}, "spaces"},
        {{"--initrd", "/nonexistent"}, "--initrd"},
        {{"--balloon", "deflate_on_oom=on"}, "needs amount_mib"},
        {{"--balloon", "amount_mib=ten"}, "amount_mib=ten"},
        {{"--balloon", "amount_mib=1,stats_polling_interval_s=65536"}, "0 to 65535"},
        {{"--balloon", "amount_mib=1,free_page_hinting=maybe"}, "free_page_hinting=maybe"},
        {{"--balloon", "amount_mib=1,must_tell_host=on"}, "must_tell_host"},
        {{"--balloon", "amount_mib=129"}, "more than the guest's 128 MiB"},
        {{"extra"}, "extra"},
    };
    struct vm_config *cfg = malloc(sizeof(*cfg));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *argv[10] = {"--kernel", kernel};
        int n = 2;
        for (int j = 0; cases[i].args[j]; j++)
            argv[n++] = cases[i].args[j];
        argv[n] = NULL;
        char err[256] = "";
        int rc = parse(cfg, err, argv);
        if (rc != -EINVAL || !strstr(err, cases[i].needle))
            fail_msg("case %zu (%s): rc %d err '%s'", i, cases[i].args[0], rc, err);
        assert_null(strchr(err, '\n'));
    }
    char err[256] = "";
    assert_int_equal(PARSE(cfg, err, "--cpus", "1"), -EINVAL);
    assert_non_null(strstr(err, "--kernel"));
    assert_int_equal(PARSE(cfg, err, "--kernel", "/nonexistent"), -EINVAL);
    assert_non_null(strstr(err, "/nonexistent"));
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel, "--firmware", kernel), 0);
    assert_int_equal(PARSE(cfg, err, "--help"), 1);
    free(cfg);
}

static void sizes_parse(void **state)
{
    uint64_t v;
    assert_int_equal(parse_size("512M", &v), 0);
    assert_int_equal(v, 512 * MiB);
    assert_int_equal(parse_size("4GiB", &v), 0);
    assert_int_equal(v, 4 * GiB);
    assert_int_equal(parse_size("64k", &v), 0);
    assert_int_equal(v, 64 * KiB);
    assert_int_equal(parse_size("1048576", &v), 0);
    assert_int_equal(v, 1048576);
    assert_int_equal(parse_size("12Q", &v), -EINVAL);
    assert_int_equal(parse_size("M", &v), -EINVAL);
    assert_int_equal(parse_size("-1G", &v), -EINVAL);
    assert_int_equal(parse_size("1GX", &v), -EINVAL);
    assert_int_equal(parse_size("17179869184G", &v), -ERANGE);
}

static int teardown(void **state)
{
    return unlink(kernel);
}

/* --transport: pci by default, mmio on request, anything else named in the error. */
static void transport_flag(void **state)
{
    struct vm_config *cfg = malloc(sizeof(*cfg));
    char err[256] = "";
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel), 0);
    assert_int_equal(cfg->transport, TRANSPORT_PCI);
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel, "--transport", "mmio"), 0);
    assert_int_equal(cfg->transport, TRANSPORT_MMIO);
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel, "--transport", "pci"), 0);
    assert_int_equal(cfg->transport, TRANSPORT_PCI);
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel, "--transport", "ccw"), -EINVAL);
    assert_string_equal(err, "--transport: 'ccw': expected pci or mmio");
    free(cfg);
}

/* --thp: on by default where the host hands out transparent huge pages, off with --hugepages
 * (hugetlb pages are huge already, never both) and with --balloon (unless asked). */
static void thp_flag(void **state)
{
    struct vm_config *cfg = malloc(sizeof(*cfg));
    char err[256] = "";
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel), 0);
    assert_int_equal(cfg->thp, thp_host_policy() >= THP_HOST_MADVISE);
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel, "--thp", "off"), 0);
    assert_false(cfg->thp);
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel, "--thp", "on"), 0);
    assert_true(cfg->thp);
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel, "--hugepages"), 0);
    assert_false(cfg->thp);
    assert_true(cfg->hugepages);
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel, "--balloon", "amount_mib=0"), 0);
    assert_false(cfg->thp); /* a balloon gives back 4 KiB pages: off unless asked */
    assert_int_equal(
        PARSE(cfg, err, "--kernel", kernel, "--balloon", "amount_mib=0", "--thp", "on"), 0);
    assert_true(cfg->thp);
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel, "--hugepages", "--thp", "on"), -EINVAL);
    assert_string_equal(err,
                        "--thp and --hugepages: choose one (transparent or hugetlb huge pages)");
    assert_int_equal(PARSE(cfg, err, "--kernel", kernel, "--thp", "maybe"), -EINVAL);
    assert_string_equal(err, "--thp: 'maybe': expected on or off");
    free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_flags),      cmocka_unit_test(bad_flags_name_the_field),
        cmocka_unit_test(rate_limit_keys), cmocka_unit_test(sizes_parse),
        cmocka_unit_test(transport_flag),  cmocka_unit_test(thp_flag),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
