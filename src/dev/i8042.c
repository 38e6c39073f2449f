/* i8042.c — PS/2 controller with a keyboard: enough for Linux's probe, reset, Ctrl+Alt+Del and
 * keys from the host; with a display, a mouse on the AUX port (dev/ps2_mouse.c). Without one there
 * is no AUX port and the controller says so at once. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"
#include "dev/i8042_priv.h"
#include "util/state.h"
#include "util/util.h"
#include "vm/vm.h"

static void i8042_state_visit(struct state_visitor *v, struct i8042_state *s)
{
    if (!state_begin(v, "i8042", I8042_STATE_VERSION))
        return;
    STATE_BYTES(v, s->ram);
    STATE_U8(v, s->outport);
    STATE_U8(v, s->ctl_cmd);
    STATE_BOOL(v, s->last_cmd);
    STATE_BYTES(v, s->q);
    STATE_BYTES(v, s->qflags);
    for (unsigned i = 0; i < QUEUE_SIZE; i++)
        STATE_CHECK(v, !(s->qflags[i] & ~(BYTE_AUX | BYTE_TIMEOUT)));
    STATE_U8_MAX(v, s->qhead, QUEUE_SIZE - 1);
    STATE_U8_MAX(v, s->qcount, QUEUE_SIZE);
    STATE_U8(v, s->last_out);
    STATE_BOOL(v, s->xlate_break);
    STATE_U8(v, s->kbd_cmd);
    STATE_BOOL(v, s->kbd_scan);
    STATE_U8(v, s->kbd_set);
    STATE_CHECK(v, s->kbd_set >= 1 && s->kbd_set <= 3);
    STATE_U8(v, s->kbd_leds);
    STATE_U8(v, s->kbd_rate);
    STATE_U8(v, s->kbd_last);
    if (v->version >= 2)
        ps2_mouse_visit(v, &s->mouse);
    state_end(v);
}

/* ---- output buffer and IRQ 1 ----------------------------------------------------------------- */

static void set_irq(struct i8042 *k, int *cur, uint32_t gsi, int level)
{
    if (level == *cur)
        return;
    *cur = level;
    irq_line(k->vm, gsi, level); /* fails only without a VM fd (unit tests) */
}

/* IRQ 1 follows OBF for keyboard-channel bytes while the CTR enables it, IRQ 12 (with a mouse)
 * for AUX bytes. */
static void update_irq(struct i8042 *k)
{
    bool full = k->s.qcount, aux = full && (k->s.qflags[k->s.qhead] & BYTE_AUX);
    set_irq(k, &k->irq_level, GSI_I8042_KBD, full && !aux && (k->s.ram[0] & CTR_KBDINT));
    if (k->aux)
        set_irq(k, &k->irq12_level, GSI_I8042_AUX, aux && (k->s.ram[0] & CTR_AUXINT));
}

void i8042_out_byte(struct i8042 *k, uint8_t b, uint8_t flags)
{
    if (k->s.qcount >= QUEUE_SIZE)
        return;
    unsigned i = (k->s.qhead + k->s.qcount) % QUEUE_SIZE;
    k->s.q[i] = b;
    k->s.qflags[i] = flags;
    k->s.qcount++;
    update_irq(k);
}

void i8042_kbd_send(struct i8042 *k, uint8_t b)
{
    k->s.kbd_last = b;
    if (!(k->s.ram[0] & CTR_XLATE)) {
        i8042_out_byte(k, b, 0);
        return;
    }
    if (b == 0xf0) {
        k->s.xlate_break = true;
        return;
    }
    uint8_t t = ps2_xlate(b);
    if (k->s.xlate_break && b < 0xe0)
        t |= 0x80;
    k->s.xlate_break = false;
    i8042_out_byte(k, t, 0);
}

int host_fifo_put(struct host_fifo *f, const uint8_t *b, unsigned n)
{
    if (n > HOST_FIFO - f->count)
        return -ENOSPC;
    for (unsigned i = 0; i < n; i++)
        f->b[(f->head + f->count++) % HOST_FIFO] = b[i];
    return 0;
}

static int host_fifo_get(struct host_fifo *f)
{
    if (!f->count)
        return -1;
    uint8_t b = f->b[f->head];
    f->head = (f->head + 1) % HOST_FIFO;
    f->count--;
    return b;
}

void i8042_pump(struct i8042 *k)
{
    while (!k->s.qcount && (k->kin.count || k->min.count)) {
        int b = host_fifo_get(&k->kin);
        if (b >= 0) {
            i8042_kbd_send(k, (uint8_t)b); /* a translated F0 queues nothing: go on */
            continue;
        }
        i8042_out_byte(k, (uint8_t)host_fifo_get(&k->min), BYTE_AUX);
    }
}

static uint8_t read_data(struct i8042 *k)
{
    if (!k->s.qcount)
        return k->s.last_out;
    k->s.last_out = k->s.q[k->s.qhead];
    k->s.qhead = (k->s.qhead + 1) % QUEUE_SIZE;
    k->s.qcount--;
    set_irq(k, &k->irq_level, GSI_I8042_KBD, 0); /* OBF dropped: the next byte makes a new edge */
    if (k->aux)
        set_irq(k, &k->irq12_level, GSI_I8042_AUX, 0);
    i8042_pump(k);
    update_irq(k);
    return k->s.last_out;
}

static uint8_t read_status(struct i8042 *k)
{
    uint8_t s = STS_UNLOCK | (k->s.ram[0] & CTR_SYS ? STS_SYS : 0) | (k->s.last_cmd ? STS_CMD : 0);
    if (k->s.qcount) {
        s |= STS_OBF;
        s |= (k->s.qflags[k->s.qhead] & BYTE_AUX) ? STS_AUXDATA : 0;
        s |= (k->s.qflags[k->s.qhead] & BYTE_TIMEOUT) ? STS_TIMEOUT : 0;
    }
    return s;
}

/* ---- keyboard -------------------------------------------------------------------------------- */

static void kbd_defaults(struct i8042 *k)
{
    k->s.kbd_set = 2;
    k->s.kbd_leds = 0;
    k->s.kbd_rate = 0x2b;
    k->s.kbd_cmd = 0;
}

/* The parameter byte of a pending keyboard command. */
static void kbd_param(struct i8042 *k, uint8_t v)
{
    uint8_t cmd = k->s.kbd_cmd;
    k->s.kbd_cmd = 0;
    if (cmd == 0xed) {
        k->s.kbd_leds = v & 7;
    } else if (cmd == 0xf3) {
        k->s.kbd_rate = v & 0x7f;
    } else if (v > 3) { /* 0xf0 with a set that does not exist */
        i8042_kbd_send(k, KBD_RESEND);
        return;
    } else if (v) {
        k->s.kbd_set = v;
    } else {
        i8042_kbd_send(k, KBD_ACK);
        i8042_kbd_send(k, k->s.kbd_set); /* translated into 0x43/0x41/0x3f, as Linux expects */
        return;
    }
    i8042_kbd_send(k, KBD_ACK);
}

/* A byte written to the keyboard (data port, no controller command pending). */
static void kbd_write(struct i8042 *k, uint8_t v)
{
    if (k->s.kbd_cmd && v < 0xed) {
        kbd_param(k, v);
        return;
    }
    k->s.kbd_cmd = 0;
    switch (v) {
    case 0xed: /* set LEDs */
    case 0xf0: /* get/set scan code set */
    case 0xf3: /* set typematic rate */
        k->s.kbd_cmd = v;
        i8042_kbd_send(k, KBD_ACK);
        break;
    case 0xee: /* echo */
        i8042_kbd_send(k, 0xee);
        break;
    case 0xf2: /* identify: MF2 keyboard */
        i8042_kbd_send(k, KBD_ACK);
        i8042_kbd_send(k, 0xab);
        i8042_kbd_send(k, 0x83);
        break;
    case 0xf4:
        k->s.kbd_scan = true;
        i8042_kbd_send(k, KBD_ACK);
        break;
    case 0xf5: /* disable scanning and set defaults */
    case 0xf6: /* set defaults (scanning on) */
        kbd_defaults(k);
        k->s.kbd_scan = v == 0xf6;
        i8042_kbd_send(k, KBD_ACK);
        break;
    case 0xf7 ... 0xfd: /* set 3 key types: accepted, no effect */
        i8042_kbd_send(k, KBD_ACK);
        break;
    case 0xfe: /* resend */
        i8042_kbd_send(k, k->s.kbd_last);
        break;
    case 0xff: /* reset with self-test */
        kbd_defaults(k);
        k->s.kbd_scan = true;
        i8042_kbd_send(k, KBD_ACK);
        i8042_kbd_send(k, KBD_BAT_OK);
        break;
    default:
        i8042_kbd_send(k, KBD_RESEND);
        break;
    }
}

/* ---- controller ------------------------------------------------------------------------------ */

static void system_reset(struct i8042 *k, uint8_t cmd)
{
    vm_request_stop(k->vm, TRUCE_EXIT_REBOOT, "guest reset through the i8042 (0x%02x)", cmd);
}

/* A command byte written to 0x64. */
static void ctl_command(struct i8042 *k, uint8_t cmd)
{
    k->s.ctl_cmd = 0;
    switch (cmd) {
    case 0x20 ... 0x3f: /* read internal RAM; 0x20 is the CTR */
        i8042_out_byte(k, k->s.ram[cmd & 0x1f], 0);
        break;
    case 0x60 ... 0x7f: /* write internal RAM: data byte follows */
    case 0xd1:          /* write output port */
    case 0xd2:          /* write keyboard output buffer */
    case 0xd3:          /* write AUX output buffer (AUX loopback) */
    case 0xd4:          /* write to the AUX device */
        k->s.ctl_cmd = cmd;
        break;
    case 0xa7:
        k->s.ram[0] |= CTR_AUXDIS;
        break;
    case 0xa8:
        k->s.ram[0] &= ~CTR_AUXDIS;
        break;
    case 0xa9: /* AUX interface test: OK with a mouse, else its clock line floats high */
        i8042_out_byte(k, k->aux ? 0x00 : 0x02, 0);
        break;
    case 0xaa: /* controller self-test */
        k->s.ram[0] |= CTR_SYS;
        i8042_out_byte(k, 0x55, 0);
        break;
    case 0xab: /* keyboard interface test: OK */
        i8042_out_byte(k, 0x00, 0);
        break;
    case 0xad:
        k->s.ram[0] |= CTR_KBDDIS;
        break;
    case 0xae:
        k->s.ram[0] &= ~CTR_KBDDIS;
        break;
    case 0xc0: /* input port: keyboard not inhibited */
        i8042_out_byte(k, 0x80, 0);
        break;
    case 0xd0: /* output port */
        i8042_out_byte(k, k->s.outport | (k->s.qcount ? OUTPORT_OBF : 0), 0);
        break;
    case 0xdd:
        k->s.outport &= ~OUTPORT_A20;
        break;
    case 0xdf:
        k->s.outport |= OUTPORT_A20;
        break;
    case 0xe0: /* test inputs */
        i8042_out_byte(k, 0x00, 0);
        break;
    case 0xf0 ... 0xff: /* pulse output port bits 0-3 low where CMD has a 0: bit 0 is reset */
        if (!(cmd & 1))
            system_reset(k, cmd);
        break;
    default:
        break; /* unknown commands are ignored, as by real controllers */
    }
    update_irq(k);
}

/* A byte written to 0x60: the data of a controller command, or a byte for the keyboard. */
static void ctl_data(struct i8042 *k, uint8_t v)
{
    uint8_t cmd = k->s.ctl_cmd;
    k->s.ctl_cmd = 0;
    switch (cmd) {
    case 0x60 ... 0x7f:
        k->s.ram[cmd & 0x1f] = v;
        break;
    case 0xd1:
        k->s.outport = v & ~OUTPORT_OBF;
        if (!(v & OUTPORT_RESET))
            system_reset(k, cmd);
        break;
    case 0xd2:
        i8042_out_byte(k, v, 0);
        break;
    case 0xd3:
        /* A controller with an AUX port returns V flagged as AUX data; without one it comes
         * back on the keyboard channel, which Linux takes as "no AUX loopback" at once. */
        i8042_out_byte(k, v, k->aux ? BYTE_AUX : 0);
        break;
    case 0xd4:
        if (!k->aux) { /* no AUX device answers: timeout */
            i8042_out_byte(k, KBD_RESEND, BYTE_AUX | BYTE_TIMEOUT);
            break;
        }
        k->s.ram[0] &= ~CTR_AUXDIS; /* sending to the mouse enables its interface */
        ps2_mouse_write(k, v);
        break;
    default:
        k->s.ram[0] &= ~CTR_KBDDIS; /* sending to the keyboard enables its interface */
        kbd_write(k, v);
        break;
    }
    update_irq(k);
}

static void i8042_poweron(struct i8042 *k)
{
    memset(k->s.ram, 0, sizeof(k->s.ram));
    k->s.ram[0] = CTR_POWERON;
    k->s.outport = OUTPORT_RESET | OUTPORT_A20;
    k->s.ctl_cmd = 0;
    k->s.last_cmd = false;
    k->s.qhead = k->s.qcount = 0;
    k->s.last_out = 0;
    k->s.xlate_break = false;
    kbd_defaults(k);
    k->s.kbd_scan = true;
    k->s.kbd_last = KBD_ACK;
    ps2_mouse_reset(&k->s.mouse);
    k->kin.count = k->min.count = 0;
    update_irq(k);
}

/* ---- ports and the API ----------------------------------------------------------------------- */

static void i8042_pio_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct i8042 *k = opaque;
    pthread_mutex_lock(&k->lock);
    data[0] = off ? read_status(k) : read_data(k);
    pthread_mutex_unlock(&k->lock);
}

static void i8042_pio_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct i8042 *k = opaque;
    pthread_mutex_lock(&k->lock);
    k->s.last_cmd = off != 0;
    if (off)
        ctl_command(k, data[0]);
    else
        ctl_data(k, data[0]);
    pthread_mutex_unlock(&k->lock);
}

static const struct io_ops i8042_data_ops = {.read = i8042_pio_read, .write = i8042_pio_write};

/* The command/status port: the same handlers with OFF 1. */
static void i8042_cmd_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    i8042_pio_read(opaque, 1, data, size);
}

static void i8042_cmd_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    i8042_pio_write(opaque, 1, data, size);
}

static const struct io_ops i8042_cmd_ops = {.read = i8042_cmd_read, .write = i8042_cmd_write};

static void i8042_reset(void *dev)
{
    struct i8042 *k = dev;
    pthread_mutex_lock(&k->lock);
    i8042_poweron(k);
    pthread_mutex_unlock(&k->lock);
}

static void i8042_destroy(void *dev)
{
    struct i8042 *k = dev;
    pthread_mutex_destroy(&k->lock);
    page_free(k->kin.b, 2 * HOST_FIFO);
    free(k);
}

static int i8042_save(void *dev, struct state_visitor *v)
{
    struct i8042 *k = dev;
    pthread_mutex_lock(&k->lock);
    struct i8042_state s = k->s;
    pthread_mutex_unlock(&k->lock);
    i8042_state_visit(v, &s);
    return state_error(v);
}

static int i8042_restore(void *dev, struct state_visitor *v)
{
    struct i8042 *k = dev;
    struct i8042_state s = {0};
    ps2_mouse_reset(&s.mouse); /* what a version 1 state (no mouse) leaves */
    i8042_state_visit(v, &s);
    if (state_error(v))
        return state_error(v);
    pthread_mutex_lock(&k->lock);
    k->s = s;
    update_irq(k);
    pthread_mutex_unlock(&k->lock);
    return 0;
}

static const struct device_ops i8042_dev_ops;

struct i8042 *i8042_find(struct vm *vm)
{
    return device_find(vm, &i8042_dev_ops);
}

static const struct device_ops i8042_dev_ops = {
    .name = "i8042",
    .reset = i8042_reset,
    .save = i8042_save,
    .restore = i8042_restore,
    .destroy = i8042_destroy,
};

int i8042_send_ctrl_alt_del(struct vm *vm)
{
    /* make LCtrl, LAlt, Delete; break in reverse order — keyboard-side codes per scan set */
    static const uint8_t set1[] = {0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d};
    static const uint8_t set2[] = {0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0,
                                   0x71, 0xf0, 0x11, 0xf0, 0x14};
    static const uint8_t set3[] = {0x11, 0x19, 0x64, 0xf0, 0x64, 0xf0, 0x19, 0xf0, 0x11};
    struct i8042 *k = device_find(vm, &i8042_dev_ops);
    if (!k)
        return -ENODEV;
    pthread_mutex_lock(&k->lock);
    const uint8_t *seq = k->s.kbd_set == 1 ? set1 : k->s.kbd_set == 3 ? set3 : set2;
    size_t n = k->s.kbd_set == 1 ? sizeof(set1) : k->s.kbd_set == 3 ? sizeof(set3) : sizeof(set2);
    int rc = 0;
    if (!k->s.kbd_scan || (k->s.ram[0] & CTR_KBDDIS))
        rc = -EAGAIN;
    else if ((size_t)(QUEUE_SIZE - k->s.qcount) < n) /* translation only shortens it */
        rc = -ENOSPC;
    for (size_t i = 0; !rc && i < n; i++)
        i8042_kbd_send(k, seq[i]);
    pthread_mutex_unlock(&k->lock);
    return rc;
}

/* Create the controller at 0x60/0x64. Returns 0 or <0 with ERR. */
static int i8042_create(struct vm *vm, char *err, size_t errlen)
{
    struct i8042 *k = calloc(1, sizeof(*k));
    uint8_t *fifos = page_zalloc(2 * HOST_FIFO);
    if (!k || !fifos) {
        free(k);
        page_free(fifos, 2 * HOST_FIFO);
        snprintf(err, errlen, "i8042: out of memory");
        return -ENOMEM;
    }
    k->kin.b = fifos;
    k->min.b = fifos + HOST_FIFO;
    pthread_mutex_init(&k->lock, NULL);
    k->vm = vm;
    k->aux = vm->cfg.display.kind != DISPLAY_NONE; /* a mouse only where a screen shows it */
    i8042_poweron(k);
    int rc = io_bus_register(&vm->pio, PORT_I8042_DATA, 1, &i8042_data_ops, k, "i8042-data");
    if (rc)
        goto fail;
    rc = io_bus_register(&vm->pio, PORT_I8042_CMD, 1, &i8042_cmd_ops, k, "i8042-cmd");
    if (rc) {
        io_bus_unregister(&vm->pio, PORT_I8042_DATA);
        goto fail;
    }
    rc = device_add(vm, &i8042_dev_ops, k);
    if (rc) {
        io_bus_unregister(&vm->pio, PORT_I8042_CMD);
        io_bus_unregister(&vm->pio, PORT_I8042_DATA);
        goto fail;
    }
    return 0;
fail:
    snprintf(err, errlen, "i8042: cannot register ports 0x%x/0x%x: %s", PORT_I8042_DATA,
             PORT_I8042_CMD, strerror(-rc));
    pthread_mutex_destroy(&k->lock);
    page_free(fifos, 2 * HOST_FIFO);
    free(k);
    return rc;
}

static const struct device_class i8042_class = {
    .name = "i8042",
    .order = DEV_ORDER_PLATFORM,
    .create = i8042_create,
};
DEVICE_CLASS(i8042_class);
