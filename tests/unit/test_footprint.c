/* test_footprint.c — util/footprint.c and mem_zero/mem_copy: same results as memset/memcpy, the
 * pages they need not write stay unbacked, and code still runs after footprint_trim. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/util.h"

#define PAGES 16
#define PAGE  4096

/* PAGES fresh pages between two inaccessible ones, so that their mapping is one of its own. */
static unsigned char *fresh(void)
{
    unsigned char *p =
        mmap(NULL, (PAGES + 2) * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    assert_int_equal(mprotect(p, PAGE, PROT_NONE), 0);
    assert_int_equal(mprotect(p + (PAGES + 1) * PAGE, PAGE, PROT_NONE), 0);
    return p + PAGE;
}

static void release(unsigned char *p)
{
    munmap(p - PAGE, (PAGES + 2) * PAGE);
}

/* Pages of the mapping holding P backed by memory of their own (smaps' Rss leaves out the shared
 * zero page that reading untouched memory maps). */
static unsigned backed(const unsigned char *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    assert_non_null(f);
    char line[512];
    unsigned long lo, hi, kib = 0;
    bool in = false;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            in = lo <= (uintptr_t)p && (uintptr_t)p < hi;
        else if (in && !strncmp(line, "Rss:", 4))
            kib = strtoul(line + 4, NULL, 10);
    }
    fclose(f);
    return (unsigned)(kib * 1024 / PAGE);
}

/* Whether this kernel maps the shared zero page when untouched memory is read: some do not (a
 * PVM guest's `pvm_no_zero_page=1`), and every page read is then backed, so what mem_zero and
 * mem_copy leave unwritten cannot be told from what they read. */
static bool reads_map_the_zero_page(void)
{
    unsigned char *p = fresh();
    unsigned sum = 0;
    for (unsigned i = 0; i < PAGES * PAGE; i += PAGE)
        sum += p[i];
    bool zero_page = sum == 0 && backed(p) == 0;
    release(p);
    return zero_page;
}

/* reads_map_the_zero_page(), saying so when not: the values are checked either way, what stays
 * unbacked only where it can be seen */
static bool zero_page_or_say(void)
{
    bool zp = reads_map_the_zero_page();
    if (!zp)
        print_message("reading untouched memory backs it on this kernel: backing not checked\n");
    return zp;
}

static void zero_skips_zero_pages(void **state)
{
    bool zp = zero_page_or_say();
    unsigned char *p = fresh();
    for (unsigned i = 0; i < PAGES * PAGE; i++) /* reading maps the zero page only */
        assert_int_equal(p[i], 0);
    mem_zero(p, PAGES * PAGE);
    if (zp)
        assert_int_equal(backed(p), 0);
    p[3 * PAGE + 7] = 1; /* one dirty page: zeroed, the others left alone */
    p[9 * PAGE] = 0xff;
    mem_zero(p + 5, PAGES * PAGE - 10); /* unaligned ends */
    for (unsigned i = 0; i < PAGES * PAGE; i++)
        assert_int_equal(p[i], 0);
    if (zp)
        assert_int_equal(backed(p), 2);
    release(p);
}

static void copy_writes_only_what_differs(void **state)
{
    bool zp = zero_page_or_say();
    unsigned char *src = fresh(), *dst = fresh(), want[PAGES * PAGE];
    src[PAGE + 1] = 'a';                     /* page 1 of src holds data */
    memcpy(src + 6 * PAGE - 3, "across", 6); /* pages 5 and 6 */
    dst[12 * PAGE] = 'x';                    /* dst has data where src has none */
    memcpy(want, src, sizeof(want));
    mem_copy(dst + 1, src + 1, PAGES * PAGE - 2); /* unaligned ends */
    assert_memory_equal(dst + 1, want + 1, sizeof(want) - 2);
    assert_int_equal(dst[0] | dst[PAGES * PAGE - 1], 0); /* reading: nothing backed */
    if (zp)
        assert_int_equal(backed(dst), 4); /* pages 1, 5, 6 copied, 12 cleared */
    release(src);
    release(dst);
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static void trim_then_code_still_runs(void **state)
{
    assert_true(footprint_trim() > 0); /* some code and read-only data were unmapped */
    int v[64];
    for (int i = 0; i < 64; i++)
        v[i] = (i * 37) % 64;
    qsort(v, 64, sizeof(v[0]), cmp_int); /* libc code and this program's, mapped again */
    for (int i = 0; i < 64; i++)
        assert_int_equal(v[i], i);
    char buf[64];
    snprintf(buf, sizeof(buf), "%s %d %.2f", "trimmed", 42, 1.5);
    assert_string_equal(buf, "trimmed 42 1.50");
    assert_true(footprint_trim() > 0); /* and again */
    uint64_t n;
    assert_int_equal(parse_size("64K", &n), 0);
    assert_int_equal(n, 65536);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(zero_skips_zero_pages),
        cmocka_unit_test(copy_writes_only_what_differs),
        cmocka_unit_test(trim_then_code_still_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
