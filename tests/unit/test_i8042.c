/* test_i8042.c — keyboard controller: Linux's probe sequences, keyboard commands, resets,
 * Ctrl+Alt+Del. Everything goes through the port bus. */
#include <errno.h>
#include <stdlib.h>

#include "devtest.h"

#define DATA PORT_I8042_DATA
#define CMD  PORT_I8042_CMD
#define OBF  0x01

static struct vm *vm_new(void)
{
    struct vm *vm = calloc(1, sizeof(*vm));
    assert_non_null(vm);
    test_vm_init(vm, 128 * MiB);
    test_create(vm, "i8042");
    return vm;
}

static void vm_del(struct vm *vm)
{
    test_vm_free(vm, NULL);
    free(vm);
}

/* i8042_command(): command byte, optional parameter, then the answer bytes. */
static void command(struct vm *vm, uint8_t cmd, int param)
{
    assert_int_equal(test_inb(vm, CMD) & 0x02, 0); /* input buffer never full */
    test_outb(vm, CMD, cmd);
    if (param >= 0)
        test_outb(vm, DATA, (uint8_t)param);
}

/* Read every byte the controller has queued into OUT; returns how many. */
static size_t drain(struct vm *vm, uint8_t *out, size_t max)
{
    size_t n = 0;
    while ((test_inb(vm, CMD) & OBF) && n < max)
        out[n++] = test_inb(vm, DATA);
    return n;
}

static void expect(struct vm *vm, const uint8_t *want, size_t n)
{
    uint8_t got[32];
    size_t m = drain(vm, got, sizeof(got));
    assert_int_equal(m, n);
    assert_memory_equal(got, want, n);
}

#define EXPECT(vm, ...)                                                                            \
    do {                                                                                           \
        const uint8_t w_[] = {__VA_ARGS__};                                                        \
        expect(vm, w_, sizeof(w_));                                                                \
    } while (0)

static void test_controller(void **state)
{
    struct vm *vm = vm_new();
    uint8_t st = test_inb(vm, CMD);
    assert_int_equal(st & OBF, 0);
    assert_int_equal(st & 0x10, 0x10); /* not inhibited: no keylock warning */
    command(vm, 0xaa, -1);
    EXPECT(vm, 0x55);
    command(vm, 0x20, -1);
    EXPECT(vm, 0x65); /* KBDINT, SYS, AUX disabled, translation: what a BIOS leaves */
    command(vm, 0x60, 0x34);
    command(vm, 0x20, -1);
    EXPECT(vm, 0x34);
    assert_int_equal(test_inb(vm, CMD) & 0x04, 0x04); /* SYS follows CTR bit 2 */
    command(vm, 0xab, -1);
    EXPECT(vm, 0x00);
    command(vm, 0xad, -1);
    command(vm, 0x20, -1);
    EXPECT(vm, 0x34 | 0x10);
    command(vm, 0xae, -1);
    command(vm, 0x20, -1);
    EXPECT(vm, 0x34 & ~0x10);
    /* status bit 3 tracks which port was written last */
    assert_int_equal(test_inb(vm, CMD) & 0x08, 0x08);
    test_outb(vm, DATA, 0xee);
    assert_int_equal(test_inb(vm, CMD) & 0x08, 0);
    EXPECT(vm, 0xee);
    command(vm, 0xd0, -1);
    EXPECT(vm, 0x03);        /* output port: reset line high, A20 on */
    command(vm, 0xd2, 0x42); /* write keyboard output buffer */
    EXPECT(vm, 0x42);
    assert_false(test_stopped(vm, NULL));
    vm_del(vm);
}

/* Linux's AUX and MUX probes must fail at once: no AUX port on this controller. */
static void test_no_aux(void **state)
{
    struct vm *vm = vm_new();
    command(vm, 0xd3, 0x5a); /* AUX loopback: answer without AUXDATA -> "auxerr" */
    assert_int_equal(test_inb(vm, CMD) & (OBF | 0x20), OBF);
    EXPECT(vm, 0x5a);
    command(vm, 0xa9, -1); /* AUX interface test: clock line stuck -> no AUX */
    EXPECT(vm, 0x02);
    command(vm, 0xd4, 0xff); /* a byte for the (absent) mouse times out */
    assert_int_equal(test_inb(vm, CMD) & 0x61, 0x61);
    EXPECT(vm, 0xfe);
    vm_del(vm);
}

/* The keyboard commands atkbd uses, with and without translation. */
static void test_keyboard(void **state)
{
    struct vm *vm = vm_new();
    test_outb(vm, DATA, 0xff);
    EXPECT(vm, 0xfa, 0xaa);
    test_outb(vm, DATA, 0xf2);
    EXPECT(vm, 0xfa, 0xab, 0x41); /* translated ID */
    test_outb(vm, DATA, 0xed);
    test_outb(vm, DATA, 0x07);
    EXPECT(vm, 0xfa, 0xfa);
    test_outb(vm, DATA, 0xf3);
    test_outb(vm, DATA, 0x20);
    EXPECT(vm, 0xfa, 0xfa);
    test_outb(vm, DATA, 0xf0);
    test_outb(vm, DATA, 0x00);
    EXPECT(vm, 0xfa, 0xfa, 0x41); /* set 2, translated */
    test_outb(vm, DATA, 0xf5);
    test_outb(vm, DATA, 0xf4);
    EXPECT(vm, 0xfa, 0xfa);
    test_outb(vm, DATA, 0x01); /* not a command */
    EXPECT(vm, 0xfe);
    test_outb(vm, DATA, 0xfe); /* resend: the last byte again */
    EXPECT(vm, 0xfe);
    /* translation off (i8042.direct): raw keyboard bytes */
    command(vm, 0x60, 0x25);
    test_outb(vm, DATA, 0xf2);
    EXPECT(vm, 0xfa, 0xab, 0x83);
    test_outb(vm, DATA, 0xf0);
    test_outb(vm, DATA, 0x03);
    test_outb(vm, DATA, 0xf0);
    test_outb(vm, DATA, 0x00);
    EXPECT(vm, 0xfa, 0xfa, 0xfa, 0xfa, 0x03);
    test_outb(vm, DATA, 0xf0);
    test_outb(vm, DATA, 0x09); /* no such set */
    EXPECT(vm, 0xfa, 0xfe);
    vm_del(vm);
}

/* A guest that never reads cannot grow the queue past 16 bytes (Linux's flush limit). */
static void test_bounded_queue(void **state)
{
    struct vm *vm = vm_new();
    for (int i = 0; i < 40; i++)
        test_outb(vm, DATA, 0xee);
    uint8_t got[64];
    assert_int_equal(drain(vm, got, sizeof(got)), 16);
    assert_int_equal(test_inb(vm, DATA), 0xee); /* empty: the last byte again */
    vm_del(vm);
}

static void test_reset_pulse(void **state)
{
    struct vm *vm = vm_new();
    command(vm, 0xff, -1);   /* pulse nothing */
    command(vm, 0xd1, 0x03); /* output port with the reset line high */
    assert_false(test_stopped(vm, NULL));
    command(vm, 0xfe, -1);
    int status;
    assert_true(test_stopped(vm, &status));
    assert_int_equal(status, TRUCE_EXIT_REBOOT);
    vm_del(vm);

    vm = vm_new();
    command(vm, 0xd1, 0x02); /* reset line low through the output port */
    assert_true(test_stopped(vm, &status));
    assert_int_equal(status, TRUCE_EXIT_REBOOT);
    vm_del(vm);
}

static void test_ctrl_alt_del(void **state)
{
    struct vm *vm = vm_new();
    assert_int_equal(i8042_send_ctrl_alt_del(vm), 0);
    EXPECT(vm, 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d); /* set 1 via translation */
    command(vm, 0x60, 0x25);                                    /* translation off: set 2 */
    assert_int_equal(i8042_send_ctrl_alt_del(vm), 0);
    EXPECT(vm, 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14);
    assert_int_equal(i8042_send_ctrl_alt_del(vm), 0);
    assert_int_equal(i8042_send_ctrl_alt_del(vm), -ENOSPC); /* 11 + 11 > 16 */
    uint8_t got[32];
    assert_int_equal(drain(vm, got, sizeof(got)), 11);
    test_outb(vm, DATA, 0xf5); /* scanning disabled */
    EXPECT(vm, 0xfa);
    assert_int_equal(i8042_send_ctrl_alt_del(vm), -EAGAIN);
    test_outb(vm, DATA, 0xf4);
    EXPECT(vm, 0xfa);
    command(vm, 0xad, -1); /* interface disabled */
    assert_int_equal(i8042_send_ctrl_alt_del(vm), -EAGAIN);
    vm_del(vm);

    struct vm bare;
    test_vm_init(&bare, 64 * MiB);
    assert_int_equal(i8042_send_ctrl_alt_del(&bare), -ENODEV);
    test_vm_free(&bare, NULL);
}

/* devices_reset puts the power-on state back. */
static void test_device_reset(void **state)
{
    struct vm *vm = vm_new();
    command(vm, 0x60, 0x00);
    test_outb(vm, DATA, 0xee);
    devices_reset(vm);
    assert_int_equal(test_inb(vm, CMD) & OBF, 0);
    command(vm, 0x20, -1);
    EXPECT(vm, 0x65);
    vm_del(vm);
}

/* Host keys (VNC keysyms): set 1 through the controller's translation, Shift wrapped around a
 * character that needs it, set 2 untranslated, unknown keysyms refused. */
static void test_keysyms(void **state)
{
    struct vm *vm = vm_new();
    assert_int_equal(i8042_keysym(vm, 'a', true), 0);
    assert_int_equal(i8042_keysym(vm, 'a', false), 0);
    EXPECT(vm, 0x1e, 0x9e);
    assert_int_equal(i8042_keysym(vm, 'A', true), 0);  /* Shift down, A, A up, Shift up */
    assert_int_equal(i8042_keysym(vm, 'A', false), 0); /* sent with the press already */
    EXPECT(vm, 0x2a, 0x1e, 0x9e, 0xaa);
    assert_int_equal(i8042_keysym(vm, 0xffe1, true), 0); /* the client holds Shift itself */
    assert_int_equal(i8042_keysym(vm, '$', true), 0);
    assert_int_equal(i8042_keysym(vm, '$', false), 0);
    assert_int_equal(i8042_keysym(vm, 0xffe1, false), 0);
    EXPECT(vm, 0x2a, 0x05, 0x85, 0xaa);
    assert_int_equal(i8042_keysym(vm, 0xff52, true), 0); /* Up: an E0 key */
    assert_int_equal(i8042_keysym(vm, 0xff52, false), 0);
    EXPECT(vm, 0xe0, 0x48, 0xe0, 0xc8);
    assert_int_equal(i8042_keysym(vm, 0xff0d, true), 0); /* Return, F7 (set 2 0x83) */
    assert_int_equal(i8042_keysym(vm, 0xffc4, true), 0);
    EXPECT(vm, 0x1c, 0x41);
    assert_int_equal(i8042_keysym(vm, 0x20ac, true), -ENOENT); /* EuroSign: not on the map */
    /* translation off: the keyboard's own set 2 */
    command(vm, 0x60, 0x07 & ~0); /* CTR: interrupts, system flag, no translation */
    assert_int_equal(i8042_keysym(vm, 'q', true), 0);
    assert_int_equal(i8042_keysym(vm, 'q', false), 0);
    assert_int_equal(i8042_keysym(vm, 0xffff, false), 0); /* Delete up */
    EXPECT(vm, 0x15, 0xf0, 0x15, 0xe0, 0xf0, 0x71);
    /* a disabled keyboard takes nothing */
    command(vm, 0xad, -1);
    assert_int_equal(i8042_keysym(vm, 'q', true), -EAGAIN);
    vm_del(vm);
}

/* With a display, the AUX port has a mouse: loopback as AUX data, reset, id, the wheel, packets. */
static void test_mouse(void **state)
{
    struct vm *vm = calloc(1, sizeof(*vm));
    assert_non_null(vm);
    test_vm_init(vm, 128 * MiB);
    vm->cfg.display.kind = DISPLAY_STD;
    test_create(vm, "i8042");
    command(vm, 0xa9, -1); /* AUX interface test: OK */
    EXPECT(vm, 0x00);
    command(vm, 0xd3, 0x5a); /* loopback comes back flagged as AUX data */
    assert_int_equal(test_inb(vm, CMD) & 0x21, 0x21);
    EXPECT(vm, 0x5a);
    assert_int_equal(i8042_mouse(vm, 1, 1, 0, 0), -EAGAIN); /* reporting off */
    command(vm, 0xd4, 0xff);
    EXPECT(vm, 0xfa, 0xaa, 0x00);
    static const uint8_t imps[] = {0xf3, 200, 0xf3, 100, 0xf3, 80};
    for (size_t i = 0; i < sizeof(imps); i++)
        command(vm, 0xd4, imps[i]);
    EXPECT(vm, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa);
    command(vm, 0xd4, 0xf2);
    EXPECT(vm, 0xfa, 0x03); /* IntelliMouse */
    command(vm, 0xd4, 0xf4);
    EXPECT(vm, 0xfa);
    assert_int_equal(i8042_mouse(vm, 5, -3, 1, 1), 0); /* right 5, down 3, wheel, left button */
    EXPECT(vm, 0x29, 0x05, 0xfd, 0x01);
    assert_int_equal(i8042_mouse(vm, 300, 0, 0, 0), 0); /* split at 255 counts */
    EXPECT(vm, 0x08, 0xff, 0x00, 0x00, 0x08, 45, 0x00, 0x00);
    command(vm, 0xd4, 0xee); /* wrap mode echoes */
    command(vm, 0xd4, 0x42);
    EXPECT(vm, 0xfa, 0x42);
    vm_del(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_controller),   cmocka_unit_test(test_no_aux),
        cmocka_unit_test(test_keyboard),     cmocka_unit_test(test_bounded_queue),
        cmocka_unit_test(test_reset_pulse),  cmocka_unit_test(test_ctrl_alt_del),
        cmocka_unit_test(test_device_reset), cmocka_unit_test(test_keysyms),
        cmocka_unit_test(test_mouse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
