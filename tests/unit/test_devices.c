/* test_devices.c — the device registry (class order, instance lifecycle) and the small platform
 * devices: debug-exit, pvpanic, ACPI sleep/reset registers, port 0x80. */
#include <stdlib.h>

#include "devtest.h"

static const char *const platform[] = {"uart8250", "i8042",   "cmos",
                                       "post",     "pvpanic", "debug-exit"};

static void test_class_order(void **state)
{
    size_t n = device_classes(NULL, 0);
    assert_true(n >= ARRAY_SIZE(platform) + 1);
    const struct device_class **v = calloc(n, sizeof(*v));
    assert_non_null(v);
    assert_int_equal(device_classes(v, n), n);
    for (size_t i = 1; i < n; i++) {
        assert_true(v[i - 1]->order <= v[i]->order);
        if (v[i - 1]->order == v[i]->order)
            assert_true(strcmp(v[i - 1]->name, v[i]->name) < 0); /* unique, by name */
    }
    for (size_t i = 0; i < ARRAY_SIZE(platform); i++) {
        const struct device_class *c = device_class_find(platform[i]);
        assert_non_null(c);
        assert_int_equal(c->order, DEV_ORDER_PLATFORM);
    }
    /* the hardware-reduced sleep registers come after the PIIX4, which replaces them */
    assert_true(device_class_find("acpi-pm")->order > device_class_find("piix")->order);
    /* the reset register fallback comes after the PCI bus that normally owns the port */
    assert_int_equal(device_class_find("reset-port")->order, DEV_ORDER_LATE);
    assert_null(device_class_find("no-such-device"));
    free(v);
}

static int dummy_create(struct vm *vm, char *err, size_t errlen)
{
    return 0;
}

static void test_class_sort(void **state)
{
    const struct device_class a = {"virtio-blk", DEV_ORDER_PCI, dummy_create};
    const struct device_class b = {"acpi", DEV_ORDER_LATE, dummy_create};
    const struct device_class c = {"uart", DEV_ORDER_PLATFORM, dummy_create};
    const struct device_class d = {"pci-host", DEV_ORDER_BUS, dummy_create};
    const struct device_class e = {"cmos", DEV_ORDER_PLATFORM, dummy_create};
    const struct device_class f = {"virtio-net", DEV_ORDER_PCI, dummy_create};
    const struct device_class *v[] = {&a, &b, &c, &d, &e, &f};
    device_classes_sort(v, ARRAY_SIZE(v));
    const struct device_class *want[] = {&e, &c, &d, &a, &f, &b};
    for (size_t i = 0; i < ARRAY_SIZE(v); i++)
        assert_ptr_equal(v[i], want[i]);
}

/* ---- instance lifecycle ------------------------------------------------------------------- */

static char trace[64];
static size_t ntrace;

static void rec(char op, void *dev)
{
    if (ntrace + 2 < sizeof(trace)) {
        trace[ntrace++] = op;
        trace[ntrace++] = *(char *)dev;
        trace[ntrace] = '\0';
    }
}

static void t_reset(void *dev)
{
    rec('r', dev);
}

static void t_stop(void *dev)
{
    rec('s', dev);
}

static void t_destroy(void *dev)
{
    rec('d', dev);
}

static const struct device_ops ops1 = {
    .name = "one", .reset = t_reset, .stop = t_stop, .destroy = t_destroy};
static const struct device_ops ops2 = {.name = "two", .reset = t_reset, .destroy = t_destroy};

static void test_lifecycle(void **state)
{
    struct vm vm;
    test_vm_init(&vm, 64 * MiB);
    static char a = 'a', b = 'b', c = 'c';
    assert_int_equal(device_add(&vm, &ops1, &a), 0);
    assert_int_equal(device_add(&vm, &ops2, &b), 0);
    assert_int_equal(device_add(&vm, &ops1, &c), 0);
    assert_ptr_equal(device_find(&vm, &ops1), &a);
    assert_ptr_equal(device_find(&vm, &ops2), &b);
    ntrace = 0;
    devices_reset(&vm);
    assert_string_equal(trace, "rarbrc"); /* creation order */
    ntrace = 0;
    devices_stop(&vm);
    assert_string_equal(trace, "scsa"); /* reverse, skipping NULL */
    ntrace = 0;
    devices_destroy(&vm);
    assert_string_equal(trace, "dcdbda");
    assert_null(vm.devices);
    assert_null(device_find(&vm, &ops1));
    devices_destroy(&vm); /* nothing left: no-op */
    test_vm_free(&vm, NULL);
}

/* ---- platform devices ---------------------------------------------------------------------- */

static void test_platform_together(void **state)
{
    struct vm vm;
    test_vm_init(&vm, 256 * MiB);
    for (size_t i = 0; i < ARRAY_SIZE(platform); i++)
        test_create(&vm, platform[i]);
    test_create(&vm, "acpi-pm");
    test_create(&vm, "reset-port");
    test_outb(&vm, PORT_POST, 0x42);
    assert_int_equal(test_inb(&vm, PORT_POST), 0x42);
    assert_int_equal(test_inb(&vm, PORT_PVPANIC), 0x03);
    assert_int_equal(test_inb(&vm, PORT_ACPI_SLEEP_STS), 0);
    assert_int_equal(test_inb(&vm, PORT_DEBUG_EXIT), 0xff);
    assert_int_equal(test_inb(&vm, PORT_COM1 + 5), 0x60);
    assert_false(test_stopped(&vm, NULL));
    test_vm_free(&vm, NULL);
}

/* A fresh VM with device NAME; write SIZE bytes of VAL at PORT; return the stop status or -1. */
static int stop_status(const char *name, uint16_t port, uint32_t val, unsigned size)
{
    struct vm vm;
    test_vm_init(&vm, 64 * MiB);
    test_create(&vm, name);
    uint8_t data[4] = {(uint8_t)val, (uint8_t)(val >> 8), (uint8_t)(val >> 16),
                       (uint8_t)(val >> 24)};
    assert_int_equal(io_bus_access(&vm.pio, port, data, size, true), 0);
    int status = -1;
    if (!test_stopped(&vm, &status))
        status = -1;
    test_vm_free(&vm, NULL);
    return status;
}

static void test_debug_exit(void **state)
{
    assert_int_equal(stop_status("debug-exit", PORT_DEBUG_EXIT, 0, 1), 1);
    assert_int_equal(stop_status("debug-exit", PORT_DEBUG_EXIT, 0x10, 1), 0x21);
    assert_int_equal(stop_status("debug-exit", PORT_DEBUG_EXIT, 0x31, 1) & 0xff, 0x63);
    assert_int_equal(stop_status("debug-exit", PORT_DEBUG_EXIT, 0x1234, 2), 0x2469);
    assert_int_equal(stop_status("debug-exit", PORT_DEBUG_EXIT, 0x00010002, 4), 0x20005);
    /* any value gives an odd status whose low byte is what QEMU's would be */
    assert_int_equal(stop_status("debug-exit", PORT_DEBUG_EXIT, 0xffffffff, 4) & 0xff, 0xff);
}

static void test_pvpanic(void **state)
{
    assert_int_equal(stop_status("pvpanic", PORT_PVPANIC, 1, 1), TRUCE_EXIT_PANIC);
    assert_int_equal(stop_status("pvpanic", PORT_PVPANIC, 3, 1), TRUCE_EXIT_PANIC);
    assert_int_equal(stop_status("pvpanic", PORT_PVPANIC, 2, 1), -1); /* crash kernel: log */
    assert_int_equal(stop_status("pvpanic", PORT_PVPANIC, 0, 1), -1);
}

static void test_acpi_sleep(void **state)
{
    const unsigned s5 = 0x20 | ACPI_S5_SLP_TYP << 2;
    assert_int_equal(stop_status("acpi-pm", PORT_ACPI_SLEEP_CTL, s5, 1), TRUCE_EXIT_POWEROFF);
    assert_int_equal(stop_status("acpi-pm", PORT_ACPI_SLEEP_CTL, s5 & ~0x20u, 1), -1);
    assert_int_equal(stop_status("acpi-pm", PORT_ACPI_SLEEP_CTL, 0x20 | 3 << 2, 1), -1); /* S3 */
    assert_int_equal(stop_status("acpi-pm", PORT_ACPI_SLEEP_STS, 0xff, 1), -1);
}

static void test_reset_port(void **state)
{
    assert_int_equal(stop_status("reset-port", PORT_RESET, 0x06, 1), TRUCE_EXIT_REBOOT);
    assert_int_equal(stop_status("reset-port", PORT_RESET, 0x0e, 1), TRUCE_EXIT_REBOOT);
    assert_int_equal(stop_status("reset-port", PORT_RESET, 0x02, 1), -1); /* hard-reset select */
    /* when the PCI config address dword already covers the port, the class steps aside */
    struct vm vm;
    test_vm_init(&vm, 64 * MiB);
    static const struct io_ops none = {0};
    assert_int_equal(io_bus_register(&vm.pio, PORT_PCI_CONFIG, 4, &none, NULL, "cf8"), 0);
    test_create(&vm, "reset-port");
    test_vm_free(&vm, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_class_order), cmocka_unit_test(test_class_sort),
        cmocka_unit_test(test_lifecycle),   cmocka_unit_test(test_platform_together),
        cmocka_unit_test(test_debug_exit),  cmocka_unit_test(test_pvpanic),
        cmocka_unit_test(test_acpi_sleep),  cmocka_unit_test(test_reset_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
