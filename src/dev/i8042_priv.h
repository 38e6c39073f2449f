/* i8042_priv.h — the i8042 controller's state, shared by its keyboard, mouse and keymap files. */
#ifndef TRUCE_I8042_PRIV_H
#define TRUCE_I8042_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* status register (read 0x64) */
#define STS_OBF     0x01 /* output buffer full */
#define STS_SYS     0x04 /* system flag (copy of CTR bit 2) */
#define STS_CMD     0x08 /* last write went to 0x64 */
#define STS_UNLOCK  0x10 /* keyboard not inhibited by the key lock */
#define STS_AUXDATA 0x20 /* the byte in the output buffer comes from the AUX port */
#define STS_TIMEOUT 0x40

/* controller configuration byte (CTR, internal RAM byte 0) */
#define CTR_KBDINT  0x01
#define CTR_AUXINT  0x02
#define CTR_SYS     0x04
#define CTR_KBDDIS  0x10
#define CTR_AUXDIS  0x20
#define CTR_XLATE   0x40
#define CTR_POWERON (CTR_KBDINT | CTR_SYS | CTR_AUXDIS | CTR_XLATE) /* as a BIOS leaves it */

#define OUTPORT_RESET 0x01 /* system reset line, active low */
#define OUTPORT_A20   0x02
#define OUTPORT_OBF   0x10

/* per-byte flags in the output queue */
#define BYTE_AUX     0x01
#define BYTE_TIMEOUT 0x02

#define KBD_ACK    0xfa
#define KBD_RESEND 0xfe
#define KBD_BAT_OK 0xaa
#define QUEUE_SIZE 16 /* Linux's i8042_flush gives up after 16 bytes */

/* The mouse on the AUX port (dev/ps2_mouse.c), present with a display. */
struct ps2_mouse_state {
    uint8_t cmd;       /* command waiting for its parameter (0xe8, 0xf3), 0: none */
    bool reporting;    /* data reporting enabled (0xf4) */
    bool remote, wrap; /* remote mode (0xf0), wrap mode (0xee) */
    bool scale21;      /* 2:1 scaling (0xe7) */
    uint8_t rate, resolution;
    uint8_t id;       /* 0, or 3 once the 200, 100, 80 rate sequence asked for the wheel */
    uint8_t rates[3]; /* the last three sample rates set */
    uint8_t buttons;  /* last reported */
};

/* Guest-visible state (what a snapshot holds); IRQs 1 and 12 follow from it. Version 2 added the
 * mouse (a version 1 state has none: its fields stay at power-on values). */
#define I8042_STATE_VERSION 2
struct i8042_state {
    /* controller */
    uint8_t ram[32]; /* ram[0] is the CTR */
    uint8_t outport;
    uint8_t ctl_cmd; /* command waiting for its data byte, 0: none */
    bool last_cmd;   /* STS_CMD */
    uint8_t q[QUEUE_SIZE], qflags[QUEUE_SIZE];
    uint8_t qhead, qcount;
    uint8_t last_out;
    bool xlate_break; /* translation: F0 seen, the next byte is a break code */
    /* keyboard */
    uint8_t kbd_cmd; /* command waiting for its parameter (0xed, 0xf0, 0xf3), 0: none */
    bool kbd_scan;   /* scanning enabled */
    uint8_t kbd_set; /* scan code set 1-3 */
    uint8_t kbd_leds, kbd_rate, kbd_last;
    struct ps2_mouse_state mouse;
};

/* Bytes from the host's keyboard and mouse wait here (runtime, not saved) and enter the output
 * buffer one at a time while it is empty, as a keyboard and a mouse send them. */
#define HOST_FIFO 4096 /* a pasted line of a few hundred characters fits */
struct host_fifo {
    uint8_t *b; /* HOST_FIFO bytes: both FIFOs share one page_zalloc'ed block, backed only
                 * once the host types or moves the mouse */
    unsigned head, count;
};

struct i8042 {
    pthread_mutex_t lock;
    struct vm *vm;
    struct i8042_state s;
    int irq_level;             /* last level driven on GSI 1 */
    int irq12_level;           /* and on GSI 12 */
    bool aux;                  /* a mouse is on the AUX port (with --display) */
    struct host_fifo kin, min; /* host keyboard bytes (set 2 or 1, untranslated), mouse bytes */
    bool shift_held;           /* the host holds a Shift key */
};

/* ---- internal to dev/i8042.c, dev/ps2_mouse.c and dev/ps2_keymap.c (lock held) ----------------
 */
/* Queue a byte for the guest with FLAGS (BYTE_AUX...); a full queue drops it. */
void i8042_out_byte(struct i8042 *k, uint8_t b, uint8_t flags);
/* A byte from the keyboard, translated by the controller when the CTR asks for it. */
void i8042_kbd_send(struct i8042 *k, uint8_t b);
/* Move host bytes into the output buffer while it is empty. */
void i8042_pump(struct i8042 *k);
/* The VM's controller, or NULL. */
struct i8042 *i8042_find(struct vm *vm);
/* Append N bytes to F, all or none. Returns 0 or -ENOSPC. */
int host_fifo_put(struct host_fifo *f, const uint8_t *b, unsigned n);

/* mouse (dev/ps2_mouse.c) */
void ps2_mouse_reset(struct ps2_mouse_state *m);
/* A byte the guest sent to the AUX device (controller command 0xd4). */
void ps2_mouse_write(struct i8042 *k, uint8_t v);
struct state_visitor;
void ps2_mouse_visit(struct state_visitor *v, struct ps2_mouse_state *m);

/* keymap (dev/ps2_keymap.c) */
struct ps2_key {
    uint32_t keysym;
    uint16_t set1, set2; /* make codes; 0xe0xx: with the E0 prefix */
};
/* The key that types KEYSYM (X11), or NULL; *SHIFT is set when it needs Shift (e.g. 'A', '!'). */
const struct ps2_key *ps2_key_find(uint32_t keysym, bool *shift);
/* The byte an i8042 in translation mode delivers for set-2 byte B. */
uint8_t ps2_xlate(uint8_t b);

#endif
