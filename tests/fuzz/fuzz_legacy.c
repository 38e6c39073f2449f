/* fuzz_legacy.c — libFuzzer target: the legacy PC devices' register models as a guest drives them
 * (fuzz_platform.h: every non-PCI device, port accesses and RAM writes for fw_cfg DMA), with the
 * std VGA display's ports (VGA registers, VBE dispi) and the i8042's mouse. A fresh VM per input.
 */
#include "fuzz_platform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vm vm;
    fp_display = true;
    fp_vm_new(&vm);
    fp_run(&vm, data, size);
    devices_reset(&vm);
    fp_run(&vm, data, size); /* the same program after a VMM reset */
    fp_vm_free(&vm);
    return 0;
}
