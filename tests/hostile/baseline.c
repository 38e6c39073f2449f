/* baseline.c — no attack: the good request of the devices named on the command line must work
 * (proves the suite's driver and the runner's fixtures before any attack is judged). */
#include "hostile.h"

void hostile_case(void)
{
    if (arg("blk"))
        fresh_blk();
    if (arg("rng"))
        fresh_rng();
    if (arg("net"))
        fresh_net();
    if (arg("cons"))
        fresh_cons();
    if (arg("vsock"))
        fresh_vsock();
    if (arg("park"))
        park();
}
