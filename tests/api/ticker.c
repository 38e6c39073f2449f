/* ticker.c — API test guest: prints "tick N" forever; Ctrl-Alt-Del from the i8042 ends it. */
#include "lib.h"

#define SPIN 20000 /* loop rounds between ticks: a fraction of a second even when emulated */

/* Poll the i8042 for one scancode (set 1, as the controller translates). Returns -1 if none. */
static int poll_key(void)
{
    if (!(inb(0x64) & 1)) /* status: output buffer full */
        return -1;
    return inb(0x60);
}

void main64(const struct hvm_start_info *si)
{
    int ctrl = 0, alt = 0, ext = 0;
    puts_("ticker: start\n");
    for (uint32_t n = 0;; n++) {
        for (volatile uint32_t i = 0; i < SPIN; i++)
            ;
        puts_("tick ");
        putdec(n);
        putc_('\n');
        for (int k; (k = poll_key()) >= 0;) {
            if (k == 0xe0) {
                ext = 1;
                continue;
            }
            if (k == 0x1d || k == 0x9d)
                ctrl = k == 0x1d;
            else if (k == 0x38 || k == 0xb8)
                alt = k == 0x38;
            else if (k == 0x53 && ext && ctrl && alt) {
                puts_("ticker: ctrl-alt-del\n");
                debug_exit(0x30); /* exit status 97 */
            }
            ext = 0;
        }
    }
}
