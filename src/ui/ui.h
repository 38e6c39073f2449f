/* ui.h — contracts of the host side of the display: PNG screenshots and the VNC server. */
#ifndef TRUCE_UI_H
#define TRUCE_UI_H

#include <stddef.h>
#include <stdint.h>

#include "dev/vga.h"

struct vm;

/* ---- PNG (ui/png.c) ---------------------------------------------------------------------------
 * Encode IMG (0x00RRGGBB pixels) as an 8-bit RGB PNG into a malloc'd buffer (*OUT, *LEN).
 * Returns 0, or -ENOMEM / -EIO / -ENOSYS (no libpng) with one line in ERR. Any thread once
 * png_lib_get succeeded (call ui_prepare first in a sandboxed process). */
int png_encode(const struct vga_image *img, uint8_t **out, size_t *len, char *err, size_t errlen);
/* PNG of VM's screen now. Returns 0, -ENODEV (no display) or as png_encode. */
int ui_screenshot_png(struct vm *vm, uint8_t **out, size_t *len, char *err, size_t errlen);

/* ---- the display's host side (ui/vnc.c) ------------------------------------------------------
 * A device class ("ui", created after every device) loads libpng for a VM with a display and,
 * with vnc=, libvncserver and the listening socket, all before the sandbox. Start the VNC server
 * thread: ENTER (may be NULL) runs first on it (the machine layer installs the thread's seccomp
 * list, SANDBOX_VNC, there; a failure there has stopped the VM). Nothing without vnc=. The
 * thread is stopped and joined by the devices' stop step. Returns 0 or -errno. */
int ui_start(struct vm *vm, int (*enter)(struct vm *vm));

#endif
