/* test_state.c — the state visitor, and save/restore of the legacy devices and the PCI host. */
#include <errno.h>
#include <stdlib.h>

#include "devtest.h"
#include "statetest.h"
#include "bus/pci.h"
#include "util/state.h"

/* ---- the visitor ------------------------------------------------------------------------- */

struct sample {
    uint8_t a;
    uint16_t b;
    uint32_t c;
    uint64_t d;
    int64_t e;
    bool f;
    uint8_t g[3];
};

static void sample_visit(struct state_visitor *v, struct sample *s)
{
    if (!state_begin(v, "sample", 2))
        return;
    STATE_U8_MAX(v, s->a, 9);
    if (v->version >= 2)
        STATE_U16(v, s->b);
    STATE_U32(v, s->c);
    STATE_U64(v, s->d);
    STATE_I64(v, s->e);
    STATE_BOOL(v, s->f);
    STATE_BYTES(v, s->g);
    state_end(v);
}

static void test_visitor_layout(void **state)
{
    struct sample s = {7, 0x1234, 0xdeadbeef, 0x0102030405060708ULL, -2, true, {1, 2, 3}};
    struct state_visitor v;
    state_save_init(&v);
    sample_visit(&v, &s);
    assert_int_equal(state_finish(&v), 0);
    static const uint8_t want[] = {6,    's',  'a',  'm',  'p',  'l',  'e',  2,    0,    0,    0,
                                   27,   0,    0,    0,    7,    0x34, 0x12, 0xef, 0xbe, 0xad, 0xde,
                                   8,    7,    6,    5,    4,    3,    2,    1,    0xfe, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 1,    1,    2,    3};
    assert_int_equal(v.len, sizeof(want));
    assert_memory_equal(v.buf, want, sizeof(want));

    struct sample back = {0};
    struct state_visitor l;
    state_load_init(&l, v.buf, v.len);
    sample_visit(&l, &back);
    assert_int_equal(state_finish(&l), 0);
    assert_true(back.a == s.a && back.b == s.b && back.c == s.c && back.d == s.d && back.e == s.e &&
                back.f == s.f);
    assert_memory_equal(back.g, s.g, sizeof(s.g));
    state_free(&v);
}

static void test_visitor_rejects(void **state)
{
    struct sample s = {7, 1, 2, 3, 4, false, {0}}, back;
    struct state_visitor v, l;
    state_save_init(&v);
    sample_visit(&v, &s);
    assert_int_equal(state_finish(&v), 0);
    uint8_t *b = v.buf;
    size_t pay = 1 + 6 + 8;
    /* a value over its maximum, a boolean that is 2 */
    b[pay] = 10;
    state_load_init(&l, b, v.len);
    sample_visit(&l, &back);
    assert_int_equal(state_finish(&l), -EINVAL);
    assert_non_null(strstr(l.msg, "state of sample: out of range: s->a <= 9"));
    b[pay] = 7;
    b[pay + 1 + 2 + 4 + 8 + 8] = 2;
    state_load_init(&l, b, v.len);
    sample_visit(&l, &back);
    assert_int_equal(state_finish(&l), -EINVAL);
    assert_non_null(strstr(l.msg, "s->f: 2 is not a boolean"));
    b[pay + 1 + 2 + 4 + 8 + 8] = 0;
    /* a section length that runs past the buffer, and one that leaves bytes unread */
    b[11] = 200;
    state_load_init(&l, b, v.len);
    sample_visit(&l, &back);
    assert_int_equal(state_finish(&l), -EINVAL);
    assert_non_null(strstr(l.msg, "only"));
    b[11] = 28;
    uint8_t *longer = calloc(1, v.len + 1);
    memcpy(longer, b, v.len);
    state_load_init(&l, longer, v.len + 1);
    sample_visit(&l, &back);
    assert_int_equal(state_finish(&l), -EINVAL);
    assert_non_null(strstr(l.msg, "unexpected bytes at the end of the section"));
    free(longer);
    b[11] = 27;
    state_free(&v);
}

/* Version 1 of "sample" had no field b: a version-2 reader still loads it. */
static void test_visitor_older_version(void **state)
{
    static const uint8_t v1[] = {6, 's', 'a', 'm', 'p', 'l', 'e', 1, 0, 0, 0, 25, 0, 0,
                                 0, 7,   0,   0,   0,   0,   0,   0, 0, 0, 0, 0,  0, 0,
                                 0, 0,   0,   0,   0,   0,   0,   0, 1, 9, 9, 9};
    struct sample back;
    memset(&back, 0, sizeof(back));
    struct state_visitor l;
    state_load_init(&l, v1, sizeof(v1));
    sample_visit(&l, &back);
    assert_int_equal(state_finish(&l), 0);
    assert_int_equal(l.version, 1);
    assert_int_equal(back.a, 7);
    assert_int_equal(back.b, 0);
    assert_true(back.f);
    assert_int_equal(back.g[2], 9);
}

/* ---- devices ----------------------------------------------------------------------------- */

struct pair {
    struct vm a, b;
};

static void pair_init(struct pair *p, const char *cls)
{
    test_vm_init(&p->a, 256 * MiB);
    test_vm_init(&p->b, 256 * MiB);
    test_create(&p->a, cls);
    test_create(&p->b, cls);
}

static void pair_free(struct pair *p)
{
    test_vm_free(&p->a, NULL);
    test_vm_free(&p->b, NULL);
}

static void test_uart_state(void **state)
{
    struct pair p;
    pair_init(&p, "uart8250");
    struct vm *a = &p.a, *b = &p.b;
    test_outb(a, PORT_COM1 + 3, 0x80); /* DLAB: divisor 3 */
    test_outb(a, PORT_COM1 + 0, 0x03);
    test_outb(a, PORT_COM1 + 3, 0x1b); /* 8E1 */
    test_outb(a, PORT_COM1 + 2, 0xc1); /* FIFO on, trigger 14 */
    test_outb(a, PORT_COM1 + 4, 0x1b); /* loopback, OUT2 */
    test_outb(a, PORT_COM1 + 0, 'h');
    test_outb(a, PORT_COM1 + 0, 'i');
    test_outb(a, PORT_COM1 + 1, 0x05);
    test_outb(a, PORT_COM1 + 7, 0x5a);
    size_t len;
    uint8_t *buf = st_roundtrip(st_last(a), st_last(b), &len);
    /* the fresh UART now behaves as the first one */
    for (uint16_t r = 1; r < 8; r++)
        if (r != 5 && r != 6) /* reading LSR/MSR clears state: compared below */
            assert_int_equal(test_inb(b, PORT_COM1 + r), test_inb(a, PORT_COM1 + r));
    assert_int_equal(test_inb(b, PORT_COM1 + 5), test_inb(a, PORT_COM1 + 5));
    assert_int_equal(test_inb(b, PORT_COM1), 'h');
    assert_int_equal(test_inb(b, PORT_COM1), 'i');
    /* corrupted: trigger 3, FIFO count beyond the FIFO, a boolean of 2 */
    size_t s = st_payload(buf);
    st_reject_header(st_last(b), buf, len);
    st_reject_patched(st_last(b), buf, len, s + 10, 3, "trigger");
    st_reject_patched(st_last(b), buf, len, s + 12 + 16 + 1, 17, "rx_count");
    st_reject_patched(st_last(b), buf, len, s + 9, 2, "fifo_on");
    free(buf);
    pair_free(&p);
}

static void test_i8042_state(void **state)
{
    struct pair p;
    pair_init(&p, "i8042");
    struct vm *a = &p.a, *b = &p.b;
    test_outb(a, PORT_I8042_CMD, 0x60); /* write CTR: translation off, IRQ on */
    test_outb(a, PORT_I8042_DATA, 0x05);
    test_outb(a, PORT_I8042_DATA, 0xf0); /* keyboard: scan set 3 */
    test_outb(a, PORT_I8042_DATA, 0x03);
    test_outb(a, PORT_I8042_CMD, 0xd2); /* queue a byte as if typed */
    test_outb(a, PORT_I8042_DATA, 0x42);
    size_t len;
    uint8_t *buf = st_roundtrip(st_last(a), st_last(b), &len);
    assert_int_equal(test_inb(b, PORT_I8042_CMD), test_inb(a, PORT_I8042_CMD));
    for (int i = 0; i < 3; i++)
        assert_int_equal(test_inb(b, PORT_I8042_DATA), test_inb(a, PORT_I8042_DATA));
    size_t s = st_payload(buf);
    st_reject_header(st_last(b), buf, len);
    /* queue head beyond the queue; scan set 4 */
    st_reject_patched(st_last(b), buf, len, s + 32 + 3 + 32, 16, "qhead");
    st_reject_patched(st_last(b), buf, len, s + 32 + 3 + 32 + 6, 4, "kbd_set");
    free(buf);
    pair_free(&p);
}

static void test_cmos_state(void **state)
{
    struct pair p;
    pair_init(&p, "cmos");
    struct vm *a = &p.a, *b = &p.b;
    test_outb(a, PORT_CMOS, 0x40);
    test_outb(a, PORT_CMOS + 1, 0x99); /* NVRAM */
    test_outb(a, PORT_CMOS, 0x0b);
    test_outb(a, PORT_CMOS + 1, 0x86); /* SET, binary, 24 h: the clock holds */
    test_outb(a, PORT_CMOS, 0x09);
    test_outb(a, PORT_CMOS + 1, 42); /* year 42 while frozen */
    size_t len;
    uint8_t *buf = st_roundtrip(st_last(a), st_last(b), &len);
    test_outb(b, PORT_CMOS, 0x40);
    assert_int_equal(test_inb(b, PORT_CMOS + 1), 0x99);
    test_outb(b, PORT_CMOS, 0x09);
    assert_int_equal(test_inb(b, PORT_CMOS + 1), 42);
    size_t s = st_payload(buf);
    st_reject_header(st_last(b), buf, len);
    st_reject_patched(st_last(b), buf, len, s, 0x80, "index");
    st_reject_patched(st_last(b), buf, len, s + 1 + 0x0a, 0xa6, "UIP");
    st_reject_patched(st_last(b), buf, len, s + 1 + 128 + 8, 0, "frozen"); /* SET still on */
    free(buf);
    pair_free(&p);
}

static void test_post_state(void **state)
{
    struct pair p;
    pair_init(&p, "post");
    test_outb(&p.a, PORT_POST, 0x3c);
    size_t len;
    uint8_t *buf = st_roundtrip(st_last(&p.a), st_last(&p.b), &len);
    assert_int_equal(test_inb(&p.b, PORT_POST), 0x3c);
    st_reject_header(st_last(&p.b), buf, len);
    free(buf);
    pair_free(&p);
}

static void test_pci_host_state(void **state)
{
    struct pair p;
    pair_init(&p, "pci-host");
    struct vm *a = &p.a, *b = &p.b;
    uint8_t d[4] = {0x04, 0x00, 0x00, 0x80}; /* latch 00:00.0 register 4 */
    assert_int_equal(io_bus_access(&a->pio, PORT_PCI_CONFIG, d, 4, true), 0);
    pci_cfg_write(a->pci, 0, 0x0c, 1, 0x10); /* cache line size */
    pci_cfg_write(a->pci, 0, 0x3c, 1, 0x0b); /* interrupt line */
    size_t len;
    uint8_t *buf = st_roundtrip(st_last(a), st_last(b), &len);
    uint8_t q[4] = {0};
    assert_int_equal(io_bus_access(&b->pio, PORT_PCI_CONFIG, q, 4, false), 0);
    assert_memory_equal(q, d, 4);
    assert_int_equal(pci_cfg_read(b->pci, 0, 0x0c, 1), 0x10);
    assert_int_equal(pci_cfg_read(b->pci, 0, 0x3c, 1), 0x0b);
    st_reject_header(st_last(b), buf, len);
    /* the second section (the host function): a changed vendor id is refused */
    size_t fn = st_payload(buf) + 4;
    st_reject_patched(st_last(b), buf, len, fn + st_payload(buf + fn), 0x86,
                      "read-only bits changed");
    free(buf);
    pair_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_visitor_layout),
        cmocka_unit_test(test_visitor_rejects),
        cmocka_unit_test(test_visitor_older_version),
        cmocka_unit_test(test_uart_state),
        cmocka_unit_test(test_i8042_state),
        cmocka_unit_test(test_cmos_state),
        cmocka_unit_test(test_post_state),
        cmocka_unit_test(test_pci_host_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
