/* ps2_mouse.c — a PS/2 mouse on the i8042's AUX port (present with a display): the command set
 * Linux's psmouse and firmware use, the IntelliMouse wheel, and packets from host motion. */
#include <errno.h>

#include "dev/dev.h"
#include "dev/i8042_priv.h"
#include "util/state.h"
#include "util/util.h"
#include "vm/vm.h"

#define MOUSE_ACK         0xfa
#define MOUSE_RESEND      0xfe
#define MOUSE_ID          0x00 /* a standard PS/2 mouse */
#define MOUSE_ID_IMPS     0x03 /* IntelliMouse: a fourth byte carries the wheel */
#define MOUSE_MAX_PACKETS 8    /* per host event: larger motions are clipped */

void ps2_mouse_reset(struct ps2_mouse_state *m)
{
    *m = (struct ps2_mouse_state){.rate = 100, .resolution = 2};
}

void ps2_mouse_visit(struct state_visitor *v, struct ps2_mouse_state *m)
{
    STATE_U8(v, m->cmd);
    STATE_CHECK(v, m->cmd == 0 || m->cmd == 0xe8 || m->cmd == 0xf3);
    STATE_BOOL(v, m->reporting);
    STATE_BOOL(v, m->remote);
    STATE_BOOL(v, m->wrap);
    STATE_BOOL(v, m->scale21);
    STATE_U8(v, m->rate);
    STATE_U8_MAX(v, m->resolution, 3);
    STATE_U8(v, m->id);
    STATE_CHECK(v, m->id == MOUSE_ID || m->id == MOUSE_ID_IMPS);
    STATE_BYTES(v, m->rates);
    STATE_U8_MAX(v, m->buttons, 7);
}

static void reply(struct i8042 *k, uint8_t b)
{
    i8042_out_byte(k, b, BYTE_AUX);
}

/* A movement packet (3 bytes, 4 with the wheel) into OUT; returns its length. */
static unsigned packet(const struct ps2_mouse_state *m, int dx, int dy, int dz, uint8_t *out)
{
    out[0] = (uint8_t)(0x08 | (m->buttons & 1) | (m->buttons & 2) | (m->buttons & 4) |
                       (dx < 0 ? 0x10 : 0) | (dy < 0 ? 0x20 : 0));
    out[1] = (uint8_t)dx;
    out[2] = (uint8_t)dy;
    if (m->id != MOUSE_ID_IMPS)
        return 3;
    out[3] = (uint8_t)(dz & 0x0f);
    return 4;
}

/* The parameter of 0xe8 (resolution) or 0xf3 (sample rate). */
static void mouse_param(struct i8042 *k, uint8_t v)
{
    struct ps2_mouse_state *m = &k->s.mouse;
    if (m->cmd == 0xe8) {
        m->resolution = v & 3;
    } else {
        m->rate = v;
        m->rates[0] = m->rates[1];
        m->rates[1] = m->rates[2];
        m->rates[2] = v;
        if (m->rates[0] == 200 && m->rates[1] == 100 && m->rates[2] == 80)
            m->id = MOUSE_ID_IMPS;
    }
    m->cmd = 0;
    reply(k, MOUSE_ACK);
}

void ps2_mouse_write(struct i8042 *k, uint8_t v)
{
    struct ps2_mouse_state *m = &k->s.mouse;
    uint8_t p[4];
    if (m->wrap && v != 0xec && v != 0xff) {
        reply(k, v); /* wrap mode echoes */
        return;
    }
    if (m->cmd) {
        mouse_param(k, v);
        return;
    }
    switch (v) {
    case 0xe6:
    case 0xe7:
        m->scale21 = v == 0xe7;
        reply(k, MOUSE_ACK);
        break;
    case 0xe8:
    case 0xf3:
        m->cmd = v;
        reply(k, MOUSE_ACK);
        break;
    case 0xe9: /* status: mode, reporting, scaling, buttons (left bit 2, middle 1, right 0) */
        reply(k, MOUSE_ACK);
        reply(k, (uint8_t)((m->remote ? 0x40 : 0) | (m->reporting ? 0x20 : 0) |
                           (m->scale21 ? 0x10 : 0) | (m->buttons & 1 ? 4 : 0) |
                           (m->buttons & 4 ? 2 : 0) | (m->buttons & 2 ? 1 : 0)));
        reply(k, m->resolution);
        reply(k, m->rate);
        break;
    case 0xea:
    case 0xf0:
        m->remote = v == 0xf0;
        reply(k, MOUSE_ACK);
        break;
    case 0xeb: /* read data: no motion since the last packet */
        reply(k, MOUSE_ACK);
        for (unsigned i = 0, n = packet(m, 0, 0, 0, p); i < n; i++)
            reply(k, p[i]);
        break;
    case 0xec:
    case 0xee:
        m->wrap = v == 0xee;
        reply(k, MOUSE_ACK);
        break;
    case 0xf2:
        reply(k, MOUSE_ACK);
        reply(k, m->id);
        break;
    case 0xf4:
    case 0xf5:
        m->reporting = v == 0xf4;
        reply(k, MOUSE_ACK);
        break;
    case 0xf6: /* defaults: keeps the wheel id, as a real IntelliMouse does */
        m->reporting = m->remote = m->scale21 = false;
        m->rate = 100;
        m->resolution = 2;
        reply(k, MOUSE_ACK);
        break;
    case 0xff:
        ps2_mouse_reset(m);
        k->min.count = 0;
        reply(k, MOUSE_ACK);
        reply(k, 0xaa);
        reply(k, MOUSE_ID);
        break;
    default:
        reply(k, MOUSE_RESEND);
        break;
    }
}

static int clamp(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

int i8042_mouse(struct vm *vm, int dx, int dy, int dz, unsigned buttons)
{
    struct i8042 *k = i8042_find(vm);
    if (!k)
        return -ENODEV;
    pthread_mutex_lock(&k->lock);
    struct ps2_mouse_state *m = &k->s.mouse;
    int rc = 0;
    if (!k->aux)
        rc = -ENODEV;
    else if (!m->reporting || m->remote || m->wrap || (k->s.ram[0] & CTR_AUXDIS))
        rc = -EAGAIN;
    for (unsigned i = 0; !rc && i < MOUSE_MAX_PACKETS; i++) {
        int cx = clamp(dx, -255, 255), cy = clamp(dy, -255, 255), cz = clamp(dz, -8, 7);
        uint8_t p[4];
        m->buttons = buttons & 7;
        rc = host_fifo_put(&k->min, p, packet(m, cx, cy, cz, p));
        dx -= cx;
        dy -= cy;
        dz = 0;
        if (!dx && !dy)
            break;
    }
    i8042_pump(k);
    pthread_mutex_unlock(&k->lock);
    return rc;
}
