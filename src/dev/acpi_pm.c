/* acpi_pm.c — hardware-reduced ACPI sleep control/status registers (S5 powers off) on machines
 * without the PIIX4 chipset, and the reset control register. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"
#include "util/util.h"
#include "vm/vm.h"

#define SLP_EN        0x20 /* SLEEP_CONTROL_REG bit 5 */
#define SLP_TYP_SHIFT 2    /* SLEEP_CONTROL_REG bits 2-4 */
#define SLP_TYP_MASK  0x7
#define RESET_CPU     0x04 /* reset control register: do the reset (0x06 warm, 0x0e cold) */

struct acpi_pm {
    struct vm *vm;
    atomic_bool sleep_logged; /* unsupported sleep types are logged once */
};

/* SLEEP_CONTROL_REG (OFF 0) and SLEEP_STATUS_REG (OFF 1): both read 0 (no wake event). */
static void pm_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    memset(data, 0, size);
}

static void pm_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct acpi_pm *pm = opaque;
    if (off != 0 || !(data[0] & SLP_EN))
        return; /* status writes clear WAK_STS, which is never set */
    unsigned typ = (data[0] >> SLP_TYP_SHIFT) & SLP_TYP_MASK;
    if (typ == ACPI_S5_SLP_TYP)
        vm_request_stop(pm->vm, TRUCE_EXIT_POWEROFF, "guest powered off (ACPI S5)");
    else if (!atomic_exchange(&pm->sleep_logged, true))
        log_warn("acpi: guest asked for sleep type %u; only S5 (power off) is supported", typ);
}

static const struct io_ops pm_io_ops = {.read = pm_read, .write = pm_write};

/* Reset control register: reads 0, a write with RESET_CPU reboots. */
static void reset_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    data[0] = 0;
}

static void reset_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct vm *vm = opaque;
    if (data[0] & RESET_CPU)
        vm_request_stop(vm, TRUCE_EXIT_REBOOT, "guest reset through port 0x%x", PORT_RESET);
}

static const struct io_ops reset_io_ops = {.read = reset_read, .write = reset_write};

static void pm_destroy(void *dev)
{
    free(dev);
}

static const struct device_ops pm_dev_ops = {.name = "acpi-pm", .destroy = pm_destroy};

/* Register the two sleep registers, unless the VM has the PIIX4 (firmware machines: its PM1
 * control register powers off, the FADT is a full one and names no sleep registers, and SeaBIOS
 * puts the PM block on these ports). Returns 0 or <0 with ERR. */
static int pm_create(struct vm *vm, char *err, size_t errlen)
{
    if (piix_pm_base(vm) >= 0)
        return 0;
    struct acpi_pm *pm = calloc(1, sizeof(*pm));
    if (!pm) {
        snprintf(err, errlen, "acpi-pm: out of memory");
        return -ENOMEM;
    }
    pm->vm = vm;
    _Static_assert(PORT_ACPI_SLEEP_STS == PORT_ACPI_SLEEP_CTL + 1, "two adjacent ports");
    int rc = device_add_pio(vm, PORT_ACPI_SLEEP_CTL, 2, &pm_io_ops, "acpi-sleep", &pm_dev_ops, pm,
                            err, errlen);
    if (rc)
        free(pm);
    return rc;
}

/* PORT_RESET lies inside the PCI mechanism #1 address dword (0xcf8-0xcfb), whose owner (the PCI
 * host bridge) decodes byte writes to it the same way. Only when nothing covers the port — a VM
 * without the PCI bus — is it registered here, hence after every other class. */
static int reset_create(struct vm *vm, char *err, size_t errlen)
{
    int rc = io_bus_register(&vm->pio, PORT_RESET, 1, &reset_io_ops, vm, "reset");
    if (rc == -EEXIST)
        return 0;
    if (rc)
        snprintf(err, errlen, "acpi-pm: cannot register port 0x%x: %s", PORT_RESET, strerror(-rc));
    return rc;
}

static const struct device_class acpi_pm_class = {
    .name = "acpi-pm",
    .order = DEV_ORDER_BUS + 2, /* after the PIIX4 (piix.c) */
    .create = pm_create,
};
DEVICE_CLASS(acpi_pm_class);

static const struct device_class reset_port_class = {
    .name = "reset-port",
    .order = DEV_ORDER_LATE,
    .create = reset_create,
};
DEVICE_CLASS(reset_port_class);
