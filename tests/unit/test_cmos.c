/* test_cmos.c — RTC time in BCD/binary and 12/24 h, setting the clock, memory-size bytes, NVRAM. */
#include <stdlib.h>
#include <time.h>

#include "devtest.h"

static struct vm *vm_new(uint64_t ram)
{
    struct vm *vm = calloc(1, sizeof(*vm));
    assert_non_null(vm);
    test_vm_init(vm, ram);
    test_create(vm, "cmos");
    return vm;
}

static void vm_del(struct vm *vm)
{
    test_vm_free(vm, NULL);
    free(vm);
}

static uint8_t rd(struct vm *vm, uint8_t idx)
{
    test_outb(vm, PORT_CMOS, idx);
    return test_inb(vm, PORT_CMOS + 1);
}

static void wr(struct vm *vm, uint8_t idx, uint8_t v)
{
    test_outb(vm, PORT_CMOS, idx);
    test_outb(vm, PORT_CMOS + 1, v);
}

static unsigned bcd(uint8_t v)
{
    return (v >> 4) * 10 + (v & 15);
}

/* Read the clock the way Linux does (avoid UIP, re-check seconds) and convert to time_t. */
static time_t read_clock(struct vm *vm)
{
    for (;;) {
        uint8_t sec = rd(vm, 0x00);
        if (rd(vm, 0x0a) & 0x80)
            continue;
        uint8_t r[10], b = rd(vm, 0x0b);
        for (int i = 0; i < 10; i++)
            r[i] = rd(vm, (uint8_t)i);
        uint8_t cent = rd(vm, 0x32);
        if (rd(vm, 0x0a) & 0x80 || rd(vm, 0x00) != sec)
            continue;
        unsigned (*d)(uint8_t) = (b & 0x04) ? NULL : bcd;
#define DEC(x) (d ? d(x) : (x))
        struct tm tm = {0};
        tm.tm_sec = (int)DEC(r[0]);
        tm.tm_min = (int)DEC(r[2]);
        if (b & 0x02)
            tm.tm_hour = (int)DEC(r[4]);
        else
            tm.tm_hour = (int)(DEC(r[4] & 0x7f) % 12) + ((r[4] & 0x80) ? 12 : 0);
        tm.tm_mday = (int)DEC(r[7]);
        tm.tm_mon = (int)DEC(r[8]) - 1;
        tm.tm_year = (int)(DEC(cent) * 100 + DEC(r[9])) - 1900;
        time_t t = timegm(&tm);
        struct tm check;
        gmtime_r(&t, &check);
        assert_int_equal(DEC(r[6]), (unsigned)check.tm_wday + 1);
#undef DEC
        return t;
    }
}

/* The host's clock as the device reads it: time() can lag CLOCK_REALTIME by a tick (the vDSO's
 * coarse seconds), so across a second boundary the RTC would be "ahead" of it. */
static time_t host_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

static void check_host_time(struct vm *vm)
{
    time_t before = host_now();
    time_t t = read_clock(vm);
    time_t after = host_now();
    assert_true(t >= before && t <= after);
}

static void test_time_formats(void **state)
{
    struct vm *vm = vm_new(128 * MiB);
    assert_int_equal(rd(vm, 0x0b), 0x02); /* BCD, 24 h */
    check_host_time(vm);
    wr(vm, 0x0b, 0x06); /* binary */
    check_host_time(vm);
    uint8_t h = rd(vm, 0x04);
    assert_true(h < 24);
    wr(vm, 0x0b, 0x00); /* BCD, 12 h */
    check_host_time(vm);
    h = rd(vm, 0x04);
    assert_true(bcd(h & 0x7f) >= 1 && bcd(h & 0x7f) <= 12);
    wr(vm, 0x0b, 0x04); /* binary, 12 h */
    check_host_time(vm);
    vm_del(vm);
}

/* Linux's mc146818_set_time: SET, divider reset, fields, century, then restore. */
static void test_set_time(void **state)
{
    struct vm *vm = vm_new(128 * MiB);
    time_t host0 = host_now();
    wr(vm, 0x0b, 0x82);
    assert_int_equal(rd(vm, 0x0a) & 0x80, 0); /* no update while SET */
    wr(vm, 0x0a, 0x26 | 0x70);
    wr(vm, 0x09, 0x01);
    wr(vm, 0x08, 0x02);
    wr(vm, 0x07, 0x03);
    wr(vm, 0x04, 0x04);
    wr(vm, 0x02, 0x05);
    wr(vm, 0x00, 0x06);
    wr(vm, 0x32, 0x20);
    assert_int_equal(rd(vm, 0x00), 0x06); /* held while SET */
    wr(vm, 0x0b, 0x02);
    wr(vm, 0x0a, 0x26);
    struct tm set = {
        .tm_year = 101, .tm_mon = 1, .tm_mday = 3, .tm_hour = 4, .tm_min = 5, .tm_sec = 6};
    time_t want = timegm(&set);
    time_t got = read_clock(vm);
    time_t elapsed = host_now() - host0;
    assert_true(got >= want && got <= want + elapsed + 1);
    /* a single field written while running moves the clock too */
    wr(vm, 0x09, 0x02); /* 2002 */
    got = read_clock(vm);
    assert_int_equal(bcd(rd(vm, 0x09)), 2);
    assert_true(got >= want + 365 * 86400);
    vm_del(vm);
}

static void test_status_registers(void **state)
{
    struct vm *vm = vm_new(128 * MiB);
    assert_int_equal(rd(vm, 0x0d), 0x80); /* valid RAM and time */
    wr(vm, 0x0d, 0x00);
    assert_int_equal(rd(vm, 0x0d), 0x80);
    assert_int_equal(rd(vm, 0x0a) & 0x7f, 0x26);
    wr(vm, 0x0a, 0xa6); /* UIP is read-only */
    wr(vm, 0x0b, 0x82); /* held clock: no update in progress, ever */
    assert_int_equal(rd(vm, 0x0a), 0x26);
    assert_int_equal(rd(vm, 0x0c) & 0x10, 0); /* no update ends while held */
    wr(vm, 0x0b, 0x02);
    assert_int_equal(test_inb(vm, PORT_CMOS), 0xff); /* index port is write-only */
    vm_del(vm);
}

static void test_nvram(void **state)
{
    struct vm *vm = vm_new(128 * MiB);
    for (unsigned i = 0x38; i < 0x5b; i++)
        wr(vm, (uint8_t)i, (uint8_t)(i ^ 0xa5));
    for (unsigned i = 0x38; i < 0x5b; i++)
        assert_int_equal(rd(vm, (uint8_t)i), i ^ 0xa5);
    assert_int_equal(rd(vm, 0x80 | 0x40), 0x40 ^ 0xa5); /* NMI-disable bit ignored */
    wr(vm, 0x7f, 0x11);
    assert_int_equal(rd(vm, 0xff), 0x11);
    vm_del(vm);
}

static unsigned word(struct vm *vm, uint8_t lo)
{
    return rd(vm, lo) | (unsigned)rd(vm, (uint8_t)(lo + 1)) << 8;
}

static void check_memory(uint64_t ram, unsigned ext, unsigned above16, unsigned above4g)
{
    struct vm *vm = vm_new(ram);
    assert_int_equal(word(vm, 0x15), 640);
    assert_int_equal(word(vm, 0x17), ext);
    assert_int_equal(word(vm, 0x30), ext);
    assert_int_equal(word(vm, 0x34), above16);
    assert_int_equal(rd(vm, 0x5b) | rd(vm, 0x5c) << 8 | rd(vm, 0x5d) << 16, above4g);
    unsigned sum = 0;
    for (uint8_t i = 0x10; i <= 0x2d; i++)
        sum += rd(vm, i);
    assert_int_equal(word(vm, 0x2e), (sum >> 8 | (sum & 0xff) << 8) & 0xffff);
    vm_del(vm);
}

static void test_memory_size(void **state)
{
    check_memory(16 * MiB, 15 * 1024, 0, 0);
    check_memory(64 * MiB, 63 * 1024, (48 * MiB) / (64 * KiB), 0);
    check_memory(512 * MiB, 0xffff, (496 * MiB) / (64 * KiB), 0);
    /* 8 GiB: 3 GiB below the hole, 5 GiB from 4 GiB */
    check_memory(8 * GiB, 0xffff, (3 * GiB - 16 * MiB) / (64 * KiB), (5 * GiB) / (64 * KiB));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_formats),     cmocka_unit_test(test_set_time),
        cmocka_unit_test(test_status_registers), cmocka_unit_test(test_nvram),
        cmocka_unit_test(test_memory_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
