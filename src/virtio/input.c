/* input.c — virtio-input (virtio 1.2 §5.8): a keyboard and an absolute tablet fed by the display.
 */
#include <endian.h>
#include <errno.h>
#include <linux/input.h>
#include <linux/virtio_input.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"
#include "platform/config.h"
#include "util/state.h"
#include "virtio/virtio.h"
#include "vm/vm.h"

#define INPUT_QUEUE_SIZE    64
#define INPUT_PENDING       256 /* events waiting for the driver's buffers (power of 2) */
#define INPUT_STATE_VERSION 1
#define INPUT_EVENTQ        0
#define INPUT_STATUSQ       1
#define INPUT_MAX_IOV       4
#define INPUT_MAX_GROUP     8 /* events of one report (a key with Shift around it, a move) */

static_assert(sizeof(struct virtio_input_config) == 136, "virtio-input config layout");
static_assert(sizeof(struct virtio_input_event) == 8, "virtio-input event layout");

/* Guest-visible state beyond the common virtio state: the config selector and the events queued
 * for the driver (as they will reach it, little-endian). */
struct input_dstate {
    uint8_t select, subsel;
    uint16_t head, count; /* ring of events: ev[(head + i) % INPUT_PENDING], i < count */
    struct virtio_input_event ev[INPUT_PENDING];
};

struct virtio_input {
    struct virtio_dev vdev;
    enum virtio_input_kind kind;
    struct input_dstate s, scratch; /* live; restore's checked copy */
    /* host side (device lock) */
    unsigned buttons; /* tablet: last buttons sent */
    bool shift_held;  /* keyboard: the host holds a Shift key */
    uint64_t delivered, dropped, status_events;
};

static const char *const kind_name[] = {
    [VIRTIO_INPUT_KEYBOARD] = "virtio-keyboard",
    [VIRTIO_INPUT_TABLET] = "virtio-tablet",
};

static void set_bit8(uint8_t *map, unsigned bit)
{
    map[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

/* The bitmap of event codes of TYPE this device sends; returns its length in bytes (0: none). */
static uint8_t ev_bits(const struct virtio_input *in, unsigned type, uint8_t *map)
{
    unsigned len = 0;
    if (in->kind == VIRTIO_INPUT_KEYBOARD) {
        if (type == EV_KEY) {
            for (unsigned c = KEY_ESC; c <= KEY_COMPOSE; c++)
                set_bit8(map, c);
            len = KEY_COMPOSE / 8 + 1;
        } else if (type == EV_REP) {
            len = 1; /* the driver's autorepeat (an empty map of size 1 says "supported") */
        } else if (type == EV_LED) {
            set_bit8(map, LED_NUML);
            set_bit8(map, LED_CAPSL);
            set_bit8(map, LED_SCROLLL);
            len = 1;
        }
        return (uint8_t)len;
    }
    if (type == EV_KEY) {
        set_bit8(map, BTN_LEFT);
        set_bit8(map, BTN_RIGHT);
        set_bit8(map, BTN_MIDDLE);
        len = BTN_MIDDLE / 8 + 1;
    } else if (type == EV_ABS) {
        set_bit8(map, ABS_X);
        set_bit8(map, ABS_Y);
        len = 1;
    } else if (type == EV_REL) {
        set_bit8(map, REL_WHEEL);
        len = REL_WHEEL / 8 + 1;
    }
    return (uint8_t)len;
}

/* The configuration structure for the driver's current select/subsel. */
static void config_fill(const struct virtio_input *in, struct virtio_input_config *c)
{
    memset(c, 0, sizeof(*c));
    c->select = in->s.select;
    c->subsel = in->s.subsel;
    switch (in->s.select) {
    case VIRTIO_INPUT_CFG_ID_NAME:
        if (!in->s.subsel) {
            snprintf(c->u.string, sizeof(c->u.string), "truce %s", kind_name[in->kind]);
            c->size = (uint8_t)strlen(c->u.string);
        }
        break;
    case VIRTIO_INPUT_CFG_ID_DEVIDS:
        if (!in->s.subsel) {
            c->u.ids.bustype = htole16(BUS_VIRTUAL);
            c->u.ids.vendor = htole16(0x1af4);
            c->u.ids.product = htole16((uint16_t)(0x0100 + in->kind));
            c->u.ids.version = htole16(1);
            c->size = sizeof(c->u.ids);
        }
        break;
    case VIRTIO_INPUT_CFG_EV_BITS:
        c->size = ev_bits(in, in->s.subsel, c->u.bitmap);
        break;
    case VIRTIO_INPUT_CFG_ABS_INFO:
        if (in->kind == VIRTIO_INPUT_TABLET && in->s.subsel <= ABS_Y) {
            c->u.abs.min = 0;
            c->u.abs.max = htole32(VIRTIO_INPUT_ABS_MAX);
            c->size = sizeof(c->u.abs);
        }
        break;
    default: /* UNSET, ID_SERIAL, PROP_BITS and unknown selections: size 0 */
        break;
    }
}

static void input_config_read(void *opaque, uint32_t off, uint8_t *data, unsigned size)
{
    struct virtio_input_config c;
    config_fill(opaque, &c);
    memcpy(data, (const uint8_t *)&c + off, size); /* the transport checked off + size */
}

static void input_config_write(void *opaque, uint32_t off, const uint8_t *data, unsigned size)
{
    struct virtio_input *in = opaque;
    for (unsigned i = 0; i < size; i++) { /* only select and subsel are writable */
        if (off + i == offsetof(struct virtio_input_config, select))
            in->s.select = data[i];
        else if (off + i == offsetof(struct virtio_input_config, subsel))
            in->s.subsel = data[i];
    }
}

/* Move queued events into the driver's event buffers, one event per buffer (lock held, I/O
 * thread). Bounded by the queue's budget; the rest waits for the next kick. */
static void input_deliver(struct virtio_input *in, struct virtq *q)
{
    struct iovec iov[INPUT_MAX_IOV];
    struct virtq_chain c = {.iov = iov, .max_iov = INPUT_MAX_IOV};
    unsigned budget = VIRTQ_BUDGET(q);
    int rc = 0;
    do {
        while (in->s.count && budget && (rc = virtq_pop(q, &c)) > 0) {
            budget--;
            const struct virtio_input_event *e = &in->s.ev[in->s.head];
            uint32_t n = (uint32_t)virtq_chain_write(&c, 0, e, sizeof(*e));
            virtq_push(q, c.head, n);
            if (n < sizeof(*e))
                in->dropped++; /* a buffer too short: the event is lost, not the queue */
            else
                in->delivered++;
            in->s.head = (in->s.head + 1) % INPUT_PENDING;
            in->s.count--;
        }
        if (in->s.count && !budget) {
            virtio_queue_defer(q);
            break;
        }
        /* out of buffers with events left: the driver kicks when it adds some */
    } while (rc == 0 && in->s.count && virtq_enable_notify(q));
    virtio_interrupt(&in->vdev, q);
}

/* The driver's status events (LEDs): taken and returned, bounded per kick. */
static void input_status(struct virtio_input *in, struct virtq *q)
{
    struct iovec iov[INPUT_MAX_IOV];
    struct virtq_chain c = {.iov = iov, .max_iov = INPUT_MAX_IOV};
    unsigned budget = VIRTQ_BUDGET(q);
    int rc;
    do {
        virtq_disable_notify(q);
        while (budget && (rc = virtq_pop(q, &c)) > 0) {
            budget--;
            in->status_events++;
            virtq_push(q, c.head, 0);
        }
        if (!budget) {
            virtio_queue_defer(q);
            break;
        }
    } while (rc == 0 && virtq_enable_notify(q));
    virtio_interrupt(&in->vdev, q);
}

static void input_queue_notify(void *opaque, struct virtq *q)
{
    if (q->index == INPUT_EVENTQ)
        input_deliver(opaque, q);
    else
        input_status(opaque, q);
}

static void input_reset(void *opaque)
{
    struct virtio_input *in = opaque;
    memset(&in->s, 0, sizeof(in->s));
    in->buttons = 0;
}

static void input_state_visit(void *opaque, struct state_visitor *v)
{
    struct virtio_input *in = opaque;
    struct input_dstate *s = v->loading ? &in->scratch : &in->s;
    if (v->loading)
        memset(s, 0, sizeof(*s));
    if (!state_begin(v, "input", INPUT_STATE_VERSION))
        return;
    STATE_U8(v, s->select);
    STATE_U8(v, s->subsel);
    STATE_U16(v, s->head);
    STATE_CHECK(v, s->head < INPUT_PENDING);
    STATE_U16(v, s->count);
    STATE_CHECK(v, s->count <= INPUT_PENDING);
    for (unsigned i = 0; i < s->count && !state_error(v); i++) {
        struct virtio_input_event *e = &s->ev[(s->head + i) % INPUT_PENDING];
        STATE_U16(v, e->type);
        STATE_U16(v, e->code);
        STATE_U32(v, e->value);
    }
    state_end(v);
}

static void input_state_commit(void *opaque)
{
    struct virtio_input *in = opaque;
    in->s = in->scratch;
    in->buttons = 0;
}

static void input_destroy(void *opaque)
{
    free(opaque);
}

static const struct virtio_dev_ops input_ops = {
    .config_read = input_config_read,
    .config_write = input_config_write,
    .queue_notify = input_queue_notify,
    .reset = input_reset,
    .state_visit = input_state_visit,
    .state_commit = input_state_commit,
    .destroy = input_destroy,
};

/* ---- the host side ----------------------------------------------------------------------- */

/* The VM's device of KIND whose driver is up, or NULL. Lock NOT held; on success it is taken. */
static struct virtio_input *input_live(struct vm *vm, enum virtio_input_kind kind)
{
    for (struct virtio_dev *d = virtio_find(vm, VIRTIO_ID_INPUT, NULL); d;
         d = virtio_find(vm, VIRTIO_ID_INPUT, d)) {
        struct virtio_input *in = d->opaque;
        if (in->kind != kind)
            continue;
        virtio_lock(d);
        if ((d->status & VIRTIO_CONFIG_S_DRIVER_OK) && !(d->status & VIRTIO_CONFIG_S_NEEDS_RESET) &&
            d->vq[INPUT_EVENTQ].enabled && !d->vq[INPUT_EVENTQ].broken)
            return in;
        virtio_unlock(d);
        return NULL;
    }
    return NULL;
}

/* Queue the N events of one report (SYN_REPORT appended), all or none; the I/O thread delivers
 * them (a kick of the event queue). Lock held. Returns 0 or -ENOSPC (counted). */
static int input_queue(struct virtio_input *in, const struct virtio_input_event *ev, unsigned n)
{
    if (in->s.count + n + 1 > INPUT_PENDING) {
        in->dropped += n + 1;
        return -ENOSPC;
    }
    for (unsigned i = 0; i <= n; i++) {
        struct virtio_input_event e = i < n ? ev[i] : (struct virtio_input_event){0};
        in->s.ev[(in->s.head + in->s.count) % INPUT_PENDING] = e;
        in->s.count++;
    }
    virtio_queue_defer(&in->vdev.vq[INPUT_EVENTQ]);
    return 0;
}

static struct virtio_input_event ev(uint16_t type, uint16_t code, int32_t value)
{
    return (struct virtio_input_event){htole16(type), htole16(code), htole32((uint32_t)value)};
}

int virtio_input_keysym(struct vm *vm, uint32_t keysym, bool down)
{
    bool shift;
    int code = keysym_to_evdev(keysym, &shift);
    if (code < 0)
        return -ENOENT;
    struct virtio_input *in = input_live(vm, VIRTIO_INPUT_KEYBOARD);
    if (!in)
        return -ENODEV;
    struct virtio_input_event e[INPUT_MAX_GROUP];
    unsigned n = 0;
    int rc = 0;
    if (keysym == 0xffe1 || keysym == 0xffe2) /* Shift_L, Shift_R */
        in->shift_held = down;
    bool wrap = shift && !in->shift_held;
    if (wrap && down) { /* press and release at once, so Shift never outlives the key */
        e[n++] = ev(EV_KEY, KEY_LEFTSHIFT, 1);
        e[n++] = ev(EV_KEY, (uint16_t)code, 1);
        e[n++] = ev(EV_KEY, (uint16_t)code, 0);
        e[n++] = ev(EV_KEY, KEY_LEFTSHIFT, 0);
    } else if (!wrap) {
        e[n++] = ev(EV_KEY, (uint16_t)code, down);
    }
    if (n)
        rc = input_queue(in, e, n);
    virtio_unlock(&in->vdev);
    return rc;
}

int virtio_input_pointer(struct vm *vm, unsigned x, unsigned y, unsigned w, unsigned h, int dz,
                         unsigned buttons)
{
    static const uint16_t btn[] = {BTN_LEFT, BTN_RIGHT, BTN_MIDDLE};
    struct virtio_input *in = input_live(vm, VIRTIO_INPUT_TABLET);
    if (!in)
        return -ENODEV;
    struct virtio_input_event e[INPUT_MAX_GROUP];
    unsigned n = 0;
    uint64_t ax = w > 1 ? (uint64_t)MIN(x, w - 1) * VIRTIO_INPUT_ABS_MAX / (w - 1) : 0;
    uint64_t ay = h > 1 ? (uint64_t)MIN(y, h - 1) * VIRTIO_INPUT_ABS_MAX / (h - 1) : 0;
    e[n++] = ev(EV_ABS, ABS_X, (int32_t)ax);
    e[n++] = ev(EV_ABS, ABS_Y, (int32_t)ay);
    for (unsigned i = 0; i < ARRAY_SIZE(btn); i++)
        if (((buttons ^ in->buttons) >> i) & 1)
            e[n++] = ev(EV_KEY, btn[i], (buttons >> i) & 1);
    if (dz)
        e[n++] = ev(EV_REL, REL_WHEEL, -dz); /* REL_WHEEL: positive is away from the user */
    in->buttons = buttons & 7;
    int rc = input_queue(in, e, n);
    virtio_unlock(&in->vdev);
    return rc;
}

void virtio_input_counters(struct vm *vm, enum virtio_input_kind kind, struct input_counters *out)
{
    *out = (struct input_counters){0};
    for (struct virtio_dev *d = virtio_find(vm, VIRTIO_ID_INPUT, NULL); d;
         d = virtio_find(vm, VIRTIO_ID_INPUT, d)) {
        struct virtio_input *in = d->opaque;
        if (in->kind != kind)
            continue;
        virtio_lock(d);
        out->delivered = in->delivered;
        out->dropped = in->dropped;
        out->pending = in->s.count;
        out->status_events = in->status_events;
        virtio_unlock(d);
    }
}

/* ---- creation: with --display ...,input=virtio, one keyboard and one tablet ------------------ */

static int input_add(struct vm *vm, enum virtio_input_kind kind, char *err, size_t errlen)
{
    struct virtio_input *in = calloc(1, sizeof(*in));
    if (!in) {
        snprintf(err, errlen, "%s: out of memory", kind_name[kind]);
        return -ENOMEM;
    }
    in->kind = kind;
    int rc = virtio_dev_init(&in->vdev, vm, kind_name[kind], VIRTIO_ID_INPUT, 0x098000, 0, 2,
                             INPUT_QUEUE_SIZE, sizeof(struct virtio_input_config), &input_ops, in);
    if (rc < 0) {
        snprintf(err, errlen, "%s: bad device parameters", kind_name[kind]);
        free(in);
        return rc;
    }
    rc = virtio_dev_add(vm, &in->vdev, err, errlen);
    if (rc < 0) {
        virtio_dev_fini(&in->vdev);
        free(in);
    }
    return rc;
}

static int input_class_create(struct vm *vm, char *err, size_t errlen)
{
    const struct display_config *d = &vm->cfg.display;
    if (d->kind == DISPLAY_NONE || d->input != DISPLAY_INPUT_VIRTIO)
        return 0;
    int rc = input_add(vm, VIRTIO_INPUT_KEYBOARD, err, errlen);
    return rc < 0 ? rc : input_add(vm, VIRTIO_INPUT_TABLET, err, errlen);
}

static const struct device_class virtio_input_class = {
    .name = "virtio-input",
    .order = DEV_ORDER_PCI,
    .create = input_class_create,
};
DEVICE_CLASS(virtio_input_class);
