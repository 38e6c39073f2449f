/* dev.h — contracts of the legacy PC devices and the host console (the device contract itself
 * is bus/device.h, included here). */
#ifndef TRUCE_DEV_H
#define TRUCE_DEV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#include "bus/device.h"

struct vm;

/* ---- i8042 (dev/i8042.c) ---------------------------------------------------------------------
 * Queue the make and break scancodes of Ctrl+Alt+Del (set 1 when the controller translates, else
 * the keyboard's set) as a keyboard would send them. Any thread. Returns 0, -ENODEV (no i8042),
 * -EAGAIN (keyboard disabled by the guest) or -ENOSPC (output buffer full). */
int i8042_send_ctrl_alt_del(struct vm *vm);
/* Host keyboard input (VNC): the key that types KEYSYM (X11 keysym, US layout; see README
 * "Display and VNC") pressed (DOWN) or released, as scancodes of the keyboard's set; a character
 * that needs Shift while no Shift is held is wrapped in a Shift press and release. Any thread.
 * Returns 0, -ENOENT (no key types KEYSYM), -ENODEV, -EAGAIN (keyboard disabled) or -ENOSPC. */
int i8042_keysym(struct vm *vm, uint32_t keysym, bool down);
/* Host pointer input: relative motion DX (right), DY (up), wheel DZ, BUTTONS (bit 0 left, 1
 * right, 2 middle) as PS/2 mouse packets (split at 255 counts). Any thread. Returns 0, -ENODEV (no
 * mouse), -EAGAIN (reporting off or AUX disabled) or -ENOSPC. */
int i8042_mouse(struct vm *vm, int dx, int dy, int dz, unsigned buttons);
/* The Linux input key code (KEY_*, what virtio-input sends) of the key that types KEYSYM on the
 * same US keyboard (dev/ps2_keymap.c), or -ENOENT; *SHIFT is set when the character needs Shift. */
int keysym_to_evdev(uint32_t keysym, bool *shift);

/* ---- the PIIX4 power management function (dev/piix.c) -----------------------------------------
 * Present on firmware machines (--firmware with PCI): its PM I/O block sits where the firmware
 * programs PMBA (SeaBIOS 0x600, OVMF 0xB000) and holds, at these offsets, what a full
 * (not hardware-reduced) FADT names. The SCI is ISA IRQ 9, level, active high, asserted while
 * PM1_STS & PM1_EN has a bit set; PM1_CNT.SCI_EN always reads 1 (no SMM: SMI_CMD is 0). */
#define PIIX4_PM1_EVT_OFF     0x00 /* PM1_STS (16 bits) then PM1_EN (16 bits) */
#define PIIX4_PM1_EVT_LEN     4
#define PIIX4_PM1_CNT_OFF     0x04
#define PIIX4_PM1_CNT_LEN     2
#define PIIX4_PM_TMR_OFF      0x08 /* 24-bit ACPI PM timer, 3.579545 MHz */
#define PIIX4_PM_TMR_LEN      4
#define PIIX4_SCI_IRQ         9
#define PIIX4_S5_SLP_TYP      0     /* PM1_CNT.SLP_TYP of soft-off (the DSDT's \_S5) */
#define PIIX4_PM_DEFAULT_BASE 0x600 /* named in the FADT until the firmware enables PMBA */
/* The port of the PM I/O block: the base the firmware programmed and enabled (PMBA, PMREGMISC),
 * else PIIX4_PM_DEFAULT_BASE; -ENODEV when VM has no PIIX4 (direct boots: hardware-reduced ACPI).
 * Any thread. */
int piix_pm_base(struct vm *vm);
/* Press the ACPI fixed power button: PWRBTN_STS is set and, when the guest enabled PWRBTN_EN, the
 * SCI raised. Any thread. Returns 0, -EAGAIN (the guest does not listen: status set, no
 * interrupt) or -ENODEV (no PIIX4). */
int piix_power_button(struct vm *vm);
/* The SCI line's level (0 or 1), or -ENODEV. */
int piix_sci_level(struct vm *vm);

/* ---- host console (dev/console.c) ------------------------------------------------------------
 * The host end of the guest console: output to stdout or a file, input from stdin in raw mode.
 * Ctrl-A x quits (TRUCE_EXIT_SIGNAL), Ctrl-A Ctrl-A sends one Ctrl-A. One device (the UART or
 * virtio-console) consumes input through rx; when it returns less than offered, the console
 * stops reading until the device calls console_rx_ready(). */
typedef size_t (*console_rx_fn)(void *opaque, const uint8_t *buf, size_t len);

/* Output never blocks the writer: the console's own file descriptions are non-blocking, bytes a
 * slow reader does not take wait in out_ring (flushed by the I/O thread on EPOLLOUT), and bytes
 * that do not fit are dropped and counted in out_dropped. */
#define CONSOLE_OUT_RING 16384

struct console {
    struct vm *vm;
    int in_fd;  /* -1: no input */
    int out_fd; /* -1: output discarded */
    bool raw;   /* terminal put in raw mode: restore on close */
    struct termios saved;
    bool escape; /* previous byte was Ctrl-A */
    uint8_t pending[256];
    size_t npending, pending_off;
    console_rx_fn rx;
    void *rx_opaque;
    bool rx_paused;
    /* input (I/O thread, except rx/rx_opaque under rx_lock) */
    pthread_mutex_t rx_lock; /* rx, rx_opaque; held while rx runs */
    bool in_watched;         /* in_fd is on the event loop */
    bool in_eof;             /* end of input seen: never watched again */
    bool in_sock;            /* in_fd is a socket: recv(MSG_DONTWAIT) */
    atomic_bool rx_kick;     /* a delivery is queued on the event loop */
    uint64_t in_dropped;     /* input bytes with no consumer */
    /* output (any thread, under out_lock) */
    pthread_mutex_t out_lock;
    size_t out_head, out_len;
    uint64_t out_dropped;
    bool out_waiting; /* EPOLLOUT watch requested or active */
    bool out_dead;    /* output failed for good (reader gone, hangup): discard */
    bool out_sock;    /* out_fd is a socket: send(MSG_DONTWAIT | MSG_NOSIGNAL) */
    bool closed;      /* console_close ran */
    /* last, on pages of their own (page_zalloc): backed only once a slow reader leaves bytes */
    uint8_t out_ring[CONSOLE_OUT_RING];
};

/* Open the console the config asks for (vm->cfg.console) and set vm->console; the console is
 * also a device instance, so vm_destroy frees it (and sets vm->console to NULL). A second call
 * returns 0 and changes nothing. Returns 0 or <0 with one line in ERR. */
int console_open(struct vm *vm, char *err, size_t errlen);
/* Open a console on duplicates of IN_FD (input, -1: none) and OUT_FD (output, -1: discard); the
 * caller keeps its descriptors. No terminal mode change. Same contract as console_open. */
int console_open_fds(struct vm *vm, int in_fd, int out_fd, char *err, size_t errlen);
/* Write guest output. Any thread; never blocks on a stuck reader (see CONSOLE_OUT_RING). */
void console_write(struct console *c, const uint8_t *buf, size_t len);
/* Make RX (NULL: nobody; input is then read, escapes handled, bytes dropped) the consumer of
 * input. RX runs on the I/O thread with the console's rx_lock held: a caller must not hold a lock
 * that RX takes. */
void console_set_rx(struct console *c, console_rx_fn rx, void *opaque);
/* The consumer has room again: deliver pending input and resume reading. Any thread, any lock. */
void console_rx_ready(struct console *c);
/* Stop reading, flush pending output (bounded wait) and restore the terminal. Idempotent. */
void console_close(struct console *c);
/* Restore the terminal state console_open changed (raw mode; O_NONBLOCK on a shared descriptor).
 * Async-signal-safe and idempotent; registered with atexit and on fatal signals whose handler was
 * the default. */
void console_restore_tty(void);

#endif
