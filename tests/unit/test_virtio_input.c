/* test_virtio_input.c — virtio-input: configuration space, keys and absolute pointer events into
 * the driver's buffers, bounded queues, the status queue, and the state round trip. */
#include <linux/input.h>
#include <linux/virtio_input.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "virtio_fixture.h"
#include "statetest.h"

#define KBD_SLOT    1
#define TABLET_SLOT 2
#define EV_SIZE     8

/* A VM with --display std,input=virtio; SLOT's function probed, brought up when BRINGUP. */
static struct vfix *input_new(unsigned slot, bool bringup)
{
    struct vfix *f = calloc(1, sizeof(*f));
    vf_init(f);
    char err[256] = "";
    f->vm.cfg.display.kind = DISPLAY_STD;
    f->vm.cfg.display.input = DISPLAY_INPUT_VIRTIO;
    assert_int_equal(device_class_find("virtio-input")->create(&f->vm, err, sizeof(err)), 0);
    vf_probe(f, slot);
    assert_int_equal(vf_cfg_read(f, slot, 0x02, 2), 0x1040 + VIRTIO_ID_INPUT);
    if (bringup)
        vf_bringup(f, vf_features(f), 2);
    return f;
}

static void input_free(struct vfix *f)
{
    vf_fini(f);
    free(f);
}

static int setup_kbd(void **state)
{
    *state = input_new(KBD_SLOT, true);
    return 0;
}

static int setup_tablet(void **state)
{
    *state = input_new(TABLET_SLOT, true);
    return 0;
}

static int teardown(void **state)
{
    input_free(*state);
    return 0;
}

/* Offer N event buffers of LEN bytes on the event queue (descriptors FIRST.., buffer i at VF_BUF
 * + 16 * i). */
static void offer_events(struct vfix *f, unsigned first, unsigned n, uint32_t len)
{
    for (unsigned i = first; i < first + n; i++) {
        vf_desc(f, 0, i, VF_BUF + 16 * i, len, VRING_DESC_F_WRITE, 0);
        vf_offer(f, 0, (uint16_t)i);
    }
}

/* The event the device wrote into buffer I. */
static struct virtio_input_event event_at(struct vfix *f, unsigned i)
{
    struct virtio_input_event e;
    assert_int_equal(guest_mem_read(&f->vm.mem, VF_BUF + 16 * i, &e, sizeof(e)), 0);
    return e;
}

static void expect_event(struct vfix *f, unsigned i, uint16_t type, uint16_t code, uint32_t value)
{
    struct virtio_input_event e = event_at(f, i);
    if (le16toh(e.type) != type || le16toh(e.code) != code || le32toh(e.value) != value)
        fail_msg("event %u: %u/%u/%u, expected %u/%u/%u", i, le16toh(e.type), le16toh(e.code),
                 le32toh(e.value), type, code, value);
}

/* Select SEL/SUBSEL; returns the size the device answers. */
static uint8_t cfg_select(struct vfix *f, uint8_t sel, uint8_t subsel)
{
    vf_wr(f, f->devcfg + offsetof(struct virtio_input_config, select), 1, sel);
    vf_wr(f, f->devcfg + offsetof(struct virtio_input_config, subsel), 1, subsel);
    return (uint8_t)vf_rd(f, f->devcfg + offsetof(struct virtio_input_config, size), 1);
}

static uint8_t cfg_byte(struct vfix *f, unsigned off)
{
    return (uint8_t)vf_rd(f, f->devcfg + offsetof(struct virtio_input_config, u) + off, 1);
}

static bool cfg_bit(struct vfix *f, unsigned bit)
{
    return (cfg_byte(f, bit / 8) >> (bit % 8)) & 1;
}

static void keyboard_config(void **state)
{
    struct vfix *f = *state;
    char name[64] = "";
    uint8_t n = cfg_select(f, VIRTIO_INPUT_CFG_ID_NAME, 0);
    assert_true(n > 0 && n < sizeof(name));
    for (unsigned i = 0; i < n; i++)
        name[i] = (char)cfg_byte(f, i);
    assert_string_equal(name, "truce virtio-keyboard");
    assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_ID_DEVIDS, 0), 8);
    assert_int_equal(cfg_byte(f, 0), BUS_VIRTUAL);
    assert_true(cfg_select(f, VIRTIO_INPUT_CFG_EV_BITS, EV_KEY) >= KEY_COMPOSE / 8);
    assert_true(cfg_bit(f, KEY_A) && cfg_bit(f, KEY_ENTER) && cfg_bit(f, KEY_LEFTSHIFT));
    assert_false(cfg_bit(f, 0));
    assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_EV_BITS, EV_REP), 1);
    assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_EV_BITS, EV_LED), 1);
    assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_EV_BITS, EV_ABS), 0);
    assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_ABS_INFO, ABS_X), 0);
    assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_UNSET, 0), 0);
    assert_int_equal(cfg_select(f, 0x7f, 0), 0); /* an unknown selection answers nothing */
    /* the read-only part ignores writes */
    vf_wr(f, f->devcfg + offsetof(struct virtio_input_config, size), 1, 99);
    assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_UNSET, 0), 0);
}

static void tablet_config(void **state)
{
    struct vfix *f = *state;
    assert_true(cfg_select(f, VIRTIO_INPUT_CFG_EV_BITS, EV_ABS) >= 1);
    assert_true(cfg_bit(f, ABS_X) && cfg_bit(f, ABS_Y));
    assert_true(cfg_select(f, VIRTIO_INPUT_CFG_EV_BITS, EV_KEY) > BTN_LEFT / 8);
    assert_true(cfg_bit(f, BTN_LEFT) && cfg_bit(f, BTN_RIGHT) && cfg_bit(f, BTN_MIDDLE));
    assert_false(cfg_bit(f, KEY_A));
    assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_ABS_INFO, ABS_Y), 20);
    assert_int_equal(cfg_byte(f, 4) | cfg_byte(f, 5) << 8, VIRTIO_INPUT_ABS_MAX);
    assert_int_equal(cfg_select(f, VIRTIO_INPUT_CFG_ABS_INFO, ABS_Z), 0);
}

/* Before DRIVER_OK the host is told to use PS/2; after it, a shifted character arrives wrapped
 * in Shift, each event in its own buffer, the report closed by SYN_REPORT. */
static void keys_reach_the_driver(void **state)
{
    struct vfix *f = *state;
    offer_events(f, 0, 16, EV_SIZE);
    assert_int_equal(virtio_input_keysym(&f->vm, 'A', true), 0);
    assert_int_equal(virtio_input_keysym(&f->vm, 'A', false), 0); /* sent with the press */
    assert_true(vf_wait_used(f, 0, 5));
    expect_event(f, 0, EV_KEY, KEY_LEFTSHIFT, 1);
    expect_event(f, 1, EV_KEY, KEY_A, 1);
    expect_event(f, 2, EV_KEY, KEY_A, 0);
    expect_event(f, 3, EV_KEY, KEY_LEFTSHIFT, 0);
    expect_event(f, 4, EV_SYN, SYN_REPORT, 0);
    assert_int_equal(vf_used(f, 0, 4).len, EV_SIZE);
    /* a client holding Shift itself gets no wrapping; E0 keys have their own codes */
    assert_int_equal(virtio_input_keysym(&f->vm, 0xffe1, true), 0);
    assert_int_equal(virtio_input_keysym(&f->vm, 'B', true), 0);
    assert_int_equal(virtio_input_keysym(&f->vm, 0xff52, true), 0); /* Up */
    assert_true(vf_wait_used(f, 0, 11));
    expect_event(f, 5, EV_KEY, KEY_LEFTSHIFT, 1);
    expect_event(f, 7, EV_KEY, KEY_B, 1);
    expect_event(f, 9, EV_KEY, KEY_UP, 1);
    assert_int_equal(virtio_input_keysym(&f->vm, 0x20ac, true), -ENOENT); /* EuroSign */
    struct input_counters c;
    virtio_input_counters(&f->vm, VIRTIO_INPUT_KEYBOARD, &c);
    assert_int_equal(c.delivered, 11);
    assert_int_equal(c.pending, 0);
}

static void no_driver_means_ps2(void **state)
{
    (void)state;
    struct vfix *f = input_new(KBD_SLOT, false);
    assert_int_equal(virtio_input_keysym(&f->vm, 'a', true), -ENODEV);
    assert_int_equal(virtio_input_pointer(&f->vm, 1, 1, 640, 480, 0, 0), -ENODEV);
    vf_bringup(f, vf_features(f), 2);
    assert_int_equal(virtio_input_keysym(&f->vm, 'a', true), 0);
    vf_set_status(f, 0); /* the driver went away */
    assert_int_equal(virtio_input_keysym(&f->vm, 'a', false), -ENODEV);
    input_free(f);
    /* a VM without input=virtio has no such device */
    f = calloc(1, sizeof(*f));
    vf_init(f);
    char err[256];
    f->vm.cfg.display.kind = DISPLAY_STD;
    assert_int_equal(device_class_find("virtio-input")->create(&f->vm, err, sizeof(err)), 0);
    assert_null(virtio_find(&f->vm, VIRTIO_ID_INPUT, NULL));
    assert_int_equal(virtio_input_keysym(&f->vm, 'a', true), -ENODEV);
    input_free(f);
}

/* Events wait for buffers; a report that does not fit the bounded queue is dropped whole. */
static void events_wait_and_overflow_is_bounded(void **state)
{
    struct vfix *f = *state;
    unsigned ok = 0, full = 0;
    for (unsigned i = 0; i < 200; i++) {
        int rc = virtio_input_keysym(&f->vm, 'x', i % 2 == 0);
        if (rc == 0)
            ok++;
        else if (rc == -ENOSPC)
            full++;
        else
            fail_msg("keysym: %d", rc);
    }
    assert_int_equal(ok, 128); /* 256 events of 2 each */
    assert_int_equal(full, 72);
    struct input_counters c;
    virtio_input_counters(&f->vm, VIRTIO_INPUT_KEYBOARD, &c);
    assert_int_equal(c.pending, 256);
    assert_int_equal(c.dropped, 144);
    /* 64 buffers (the queue size) take the first 64 events, in order */
    offer_events(f, 0, 64, EV_SIZE);
    assert_true(vf_wait_used(f, 0, 64));
    expect_event(f, 0, EV_KEY, KEY_X, 1);
    expect_event(f, 1, EV_SYN, SYN_REPORT, 0);
    expect_event(f, 2, EV_KEY, KEY_X, 0);
    vf_quiesce(f);
    virtio_input_counters(&f->vm, VIRTIO_INPUT_KEYBOARD, &c);
    assert_int_equal(c.pending, 192);
    assert_int_equal(c.delivered, 64);
    /* a buffer too short for an event loses that event, not the queue */
    for (unsigned i = 0; i < 4; i++) {
        uint16_t head = (uint16_t)i;
        vf_desc(f, 0, head, VF_BUF + 16 * head, i ? EV_SIZE : 4, VRING_DESC_F_WRITE, 0);
        vf_offer(f, 0, head);
    }
    assert_true(vf_wait_used(f, 0, 68));
    assert_int_equal(vf_used(f, 0, 64).len, 4);
    assert_int_equal(vf_used(f, 0, 65).len, EV_SIZE);
    virtio_input_counters(&f->vm, VIRTIO_INPUT_KEYBOARD, &c);
    assert_int_equal(c.dropped, 145);
    assert_int_equal(c.pending, 188);
}

static void status_queue_is_drained(void **state)
{
    struct vfix *f = *state;
    struct virtio_input_event led = {htole16(EV_LED), htole16(LED_CAPSL), htole32(1)};
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(guest_mem_write(&f->vm.mem, VF_BUF + 16 * i, &led, sizeof(led)), 0);
        vf_desc(f, 1, i, VF_BUF + 16 * i, EV_SIZE, 0, 0);
        vf_offer(f, 1, (uint16_t)i);
    }
    assert_true(vf_wait_used(f, 1, 3));
    assert_int_equal(vf_used(f, 1, 2).len, 0);
    struct input_counters c;
    virtio_input_counters(&f->vm, VIRTIO_INPUT_KEYBOARD, &c);
    assert_int_equal(c.status_events, 3);
}

/* The tablet: positions scaled to the axes, buttons only when they change, the wheel. */
static void tablet_absolute_pointer(void **state)
{
    struct vfix *f = *state;
    offer_events(f, 0, 32, EV_SIZE);
    assert_int_equal(virtio_input_pointer(&f->vm, 639, 0, 640, 480, 0, 1), 0);
    assert_true(vf_wait_used(f, 0, 4));
    expect_event(f, 0, EV_ABS, ABS_X, VIRTIO_INPUT_ABS_MAX);
    expect_event(f, 1, EV_ABS, ABS_Y, 0);
    expect_event(f, 2, EV_KEY, BTN_LEFT, 1);
    expect_event(f, 3, EV_SYN, SYN_REPORT, 0);
    /* the middle of the screen, left held (no button event), wheel up, then a point past the
     * edge (clamped) with the left button released and the right pressed */
    assert_int_equal(virtio_input_pointer(&f->vm, 320, 240, 641, 481, -1, 1), 0);
    assert_true(vf_wait_used(f, 0, 8));
    expect_event(f, 4, EV_ABS, ABS_X, VIRTIO_INPUT_ABS_MAX / 2);
    expect_event(f, 5, EV_ABS, ABS_Y, VIRTIO_INPUT_ABS_MAX / 2);
    expect_event(f, 6, EV_REL, REL_WHEEL, 1);
    expect_event(f, 7, EV_SYN, SYN_REPORT, 0);
    assert_int_equal(virtio_input_pointer(&f->vm, 5000, 5000, 640, 480, 0, 2), 0);
    assert_true(vf_wait_used(f, 0, 13));
    expect_event(f, 9, EV_ABS, ABS_Y, VIRTIO_INPUT_ABS_MAX);
    expect_event(f, 10, EV_KEY, BTN_LEFT, 0);
    expect_event(f, 11, EV_KEY, BTN_RIGHT, 1);
    /* a screen of one pixel or none does not divide by zero */
    assert_int_equal(virtio_input_pointer(&f->vm, 0, 0, 0, 1, 0, 2), 0);
    assert_true(vf_wait_used(f, 0, 16));
    expect_event(f, 13, EV_ABS, ABS_X, 0);
}

/* Pending events and the selector survive save/restore into a new VM, which then delivers them;
 * every truncation is rejected. */
static void state_roundtrip(void **state)
{
    (void)state;
    struct vfix *a = input_new(TABLET_SLOT, true), *b = input_new(TABLET_SLOT, false);
    assert_int_equal(virtio_input_pointer(&a->vm, 10, 20, 100, 100, 0, 4), 0);
    cfg_select(a, VIRTIO_INPUT_CFG_ABS_INFO, ABS_X);
    struct device_instance *da = st_last(&a->vm), *db = st_last(&b->vm);
    da->ops->pause(da->dev);
    memcpy(gpa_to_hva(&b->vm.mem, VF_RING(0), 0xc000), gpa_to_hva(&a->vm.mem, VF_RING(0), 0xc000),
           0xc000);
    size_t len;
    uint8_t *buf = st_roundtrip(da, db, &len);
    st_reject_header(db, buf, len);
    free(buf);
    assert_int_equal(vf_rd(b, b->devcfg + 1, 1), ABS_X); /* subsel */
    struct input_counters c;
    virtio_input_counters(&b->vm, VIRTIO_INPUT_TABLET, &c);
    assert_int_equal(c.pending, 4);
    b->qsize[0] = a->qsize[0];
    b->avail_idx[0] = a->avail_idx[0];
    offer_events(b, 0, 4, EV_SIZE);
    assert_true(vf_wait_used(b, 0, 4));
    expect_event(b, 0, EV_ABS, ABS_X, VIRTIO_INPUT_ABS_MAX * 10 / 99);
    expect_event(b, 2, EV_KEY, BTN_MIDDLE, 1);
    expect_event(b, 3, EV_SYN, SYN_REPORT, 0);
    da->ops->resume(da->dev);
    input_free(a);
    input_free(b);
}

/* A reset forgets what was queued. */
static void reset_drops_pending(void **state)
{
    struct vfix *f = *state;
    assert_int_equal(virtio_input_keysym(&f->vm, 'q', true), 0);
    vf_bringup(f, vf_features(f), 2);
    struct input_counters c;
    virtio_input_counters(&f->vm, VIRTIO_INPUT_KEYBOARD, &c);
    assert_int_equal(c.pending, 0);
}

int main(void)
{
#define K(fn) cmocka_unit_test_setup_teardown(fn, setup_kbd, teardown)
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_tablet, teardown)
    const struct CMUnitTest tests[] = {
        K(keyboard_config),
        T(tablet_config),
        K(keys_reach_the_driver),
        cmocka_unit_test(no_driver_means_ps2),
        K(events_wait_and_overflow_is_bounded),
        K(status_queue_is_drained),
        T(tablet_absolute_pointer),
        cmocka_unit_test(state_roundtrip),
        K(reset_drops_pending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
