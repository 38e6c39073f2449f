/* triple32.c — protected-mode test guest that triple-faults: an empty IDT, then ud2 (#UD -> #DF ->
 * shutdown). */
#include "lib.h"

void main32(const struct hvm_start_info *si)
{
    static const struct {
        uint16_t limit;
        uint32_t base;
    } __attribute__((packed)) empty = {0, 0};
    puts_("truce-guest: loading an empty IDT\n");
    __asm__ volatile("lidt %0; ud2" : : "m"(empty));
    puts_("truce-guest: FAIL still alive\n");
    debug_exit(0x51);
}
