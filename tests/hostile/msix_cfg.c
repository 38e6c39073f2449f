/* msix_cfg.c — the MSI-X capability in config space at every offset and width (message control
 * toggled byte-wise, the read-only table/PBA offsets written), capability pointers aimed at
 * themselves; then a fresh driver works with MSI-X on and off. */
#include "hostile.h"

void hostile_case(void)
{
    const struct target *t = target();
    struct vio d;
    CHECK(!vio_find(t->id, &d), "device not found");
    unsigned s = (unsigned)d.slot;
    for (unsigned c = cfg_read(s, 0x34, 1); c; c = cfg_read(s, c + 1, 1)) {
        for (unsigned off = c; off < c + 20 && off < 0x100; off++)
            for (unsigned w = 1; w <= 4; w *= 2) {
                if (off & (w - 1))
                    continue;
                uint32_t old = cfg_read(s, off, w);
                cfg_write(s, off, w, ~old);
                cfg_write(s, off, w, old);
            }
        if (cfg_read(s, c, 1) == 0x11) {
            for (unsigned v = 0; v < 4; v++) {
                cfg_write(s, c + 3, 1, v << 6); /* enable/mask through the high byte only */
                t->fresh();
            }
        }
    }
    cfg_write(s, 0x34, 1, 0x34); /* read-only pointer at itself */
    say_hex("capability pointer", cfg_read(s, 0x34, 1));
    t->fresh();
}
