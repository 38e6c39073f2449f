/* uart8250.c — 16550A UART at COM1: the register model and its glue to the port bus and console. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"
#include "dev/uart8250.h"
#include "util/state.h"
#include "util/util.h"
#include "vm/vm.h"

/* ---- register model ------------------------------------------------------------------------ */

/* Modem inputs seen in normal mode: a terminal that is present and ready (CTS, DSR, DCD). */
#define UART_LINES_CONNECTED (UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD)

static size_t rx_capacity(const struct uart *u)
{
    return u->s.fifo_on ? UART_FIFO_SIZE : 1;
}

/* Modem inputs implied by MCR: in loopback, DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD. */
static uint8_t modem_lines(const struct uart *u)
{
    if (!(u->s.mcr & UART_MCR_LOOP))
        return UART_LINES_CONNECTED;
    uint8_t m = 0;
    m |= (u->s.mcr & UART_MCR_DTR) ? UART_MSR_DSR : 0;
    m |= (u->s.mcr & UART_MCR_RTS) ? UART_MSR_CTS : 0;
    m |= (u->s.mcr & UART_MCR_OUT1) ? UART_MSR_RI : 0;
    m |= (u->s.mcr & UART_MCR_OUT2) ? UART_MSR_DCD : 0;
    return m;
}

/* Latch the delta bits for a change of modem inputs to NEW. */
static void set_lines(struct uart *u, uint8_t lines)
{
    uint8_t changed = u->s.msr_lines ^ lines;
    if (changed & UART_MSR_CTS)
        u->s.msr_delta |= UART_MSR_DCTS;
    if (changed & UART_MSR_DSR)
        u->s.msr_delta |= UART_MSR_DDSR;
    if ((u->s.msr_lines & UART_MSR_RI) && !(lines & UART_MSR_RI))
        u->s.msr_delta |= UART_MSR_TERI; /* trailing edge only */
    if (changed & UART_MSR_DCD)
        u->s.msr_delta |= UART_MSR_DDCD;
    u->s.msr_lines = lines;
}

uint8_t uart_iir(const struct uart *u)
{
    uint8_t id = UART_IIR_NO_INT;
    if ((u->s.ier & UART_IER_RLSI) && u->s.lsr_err)
        id = UART_IIR_RLSI;
    else if ((u->s.ier & UART_IER_RDI) && u->s.rx_count)
        id = (u->s.fifo_on && u->s.rx_count < u->s.trigger) ? UART_IIR_TOI : UART_IIR_RDI;
    else if ((u->s.ier & UART_IER_THRI) && u->s.thre_pending)
        id = UART_IIR_THRI;
    else if ((u->s.ier & UART_IER_MSI) && u->s.msr_delta)
        id = UART_IIR_MSI;
    return id | (u->s.fifo_on ? UART_IIR_FIFO : 0);
}

/* Recompute the interrupt output (PC wiring: only driven while OUT2 is set and not in loopback)
 * and report a change. */
static void update_irq(struct uart *u)
{
    int level = !(uart_iir(u) & UART_IIR_NO_INT) && (u->s.mcr & UART_MCR_OUT2) &&
                !(u->s.mcr & UART_MCR_LOOP);
    if (level != u->irq_level) {
        u->irq_level = level;
        if (u->ops && u->ops->irq)
            u->ops->irq(u->opaque, level);
    }
}

static void rx_clear(struct uart *u)
{
    bool had = u->s.rx_count != 0;
    u->s.rx_head = u->s.rx_count = 0;
    if (had && u->ops && u->ops->rx_drained)
        u->ops->rx_drained(u->opaque);
}

/* Put one byte into the receive FIFO; a full FIFO loses it and latches an overrun. */
static void rx_push(struct uart *u, uint8_t b)
{
    if (u->s.rx_count >= rx_capacity(u)) {
        u->s.lsr_err |= UART_LSR_OE;
        u->overruns++;
        return;
    }
    u->s.rx[(u->s.rx_head + u->s.rx_count) % UART_FIFO_SIZE] = b;
    u->s.rx_count++;
}

static uint8_t rx_pop(struct uart *u)
{
    if (!u->s.rx_count)
        return u->s.last_rx;
    uint8_t b = u->s.rx[u->s.rx_head];
    u->s.rx_head = (u->s.rx_head + 1) % UART_FIFO_SIZE;
    u->s.rx_count--;
    u->s.last_rx = b;
    if (!u->s.rx_count && u->ops && u->ops->rx_drained)
        u->ops->rx_drained(u->opaque);
    return b;
}

void uart_init(struct uart *u, const struct uart_ops *ops, void *opaque)
{
    memset(u, 0, sizeof(*u));
    u->ops = ops;
    u->opaque = opaque;
    u->s.dll = 12; /* 9600 baud */
    u->s.trigger = 1;
    u->s.msr_lines = UART_LINES_CONNECTED;
}

void uart_reset(struct uart *u)
{
    const struct uart_ops *ops = u->ops;
    void *opaque = u->opaque;
    int level = u->irq_level;
    uint64_t overruns = u->overruns;
    uart_init(u, ops, opaque);
    u->overruns = overruns;
    u->irq_level = level;
    update_irq(u);
    if (ops && ops->rx_drained)
        ops->rx_drained(opaque); /* the receive FIFO is empty: the host may send again */
}

void uart_state_visit(struct state_visitor *v, struct uart_state *s)
{
    if (!state_begin(v, "uart", UART_STATE_VERSION))
        return;
    STATE_U8(v, s->ier);
    STATE_CHECK(v, !(s->ier & 0xf0));
    STATE_U8(v, s->lcr);
    STATE_U8(v, s->mcr);
    STATE_CHECK(v, !(s->mcr & 0xe0));
    STATE_U8(v, s->scr);
    STATE_U8(v, s->dll);
    STATE_U8(v, s->dlm);
    STATE_U8(v, s->lsr_err);
    STATE_CHECK(v, !(s->lsr_err & ~UART_LSR_OE));
    STATE_U8(v, s->msr_delta);
    STATE_CHECK(v, !(s->msr_delta & 0xf0));
    STATE_U8(v, s->msr_lines);
    STATE_CHECK(v, !(s->msr_lines & 0x0f));
    STATE_BOOL(v, s->fifo_on);
    STATE_U8(v, s->trigger);
    STATE_CHECK(v, s->trigger == 1 || s->trigger == 4 || s->trigger == 8 || s->trigger == 14);
    STATE_BOOL(v, s->thre_pending);
    STATE_BYTES(v, s->rx);
    STATE_U8_MAX(v, s->rx_head, UART_FIFO_SIZE - 1);
    STATE_U8(v, s->rx_count);
    STATE_CHECK(v, s->rx_count <= (s->fifo_on ? UART_FIFO_SIZE : 1));
    STATE_U8(v, s->last_rx);
    state_end(v);
}

void uart_set_state(struct uart *u, const struct uart_state *s)
{
    u->s = *s;
    update_irq(u);
}

static void write_fcr(struct uart *u, uint8_t val)
{
    static const uint8_t trig[4] = {1, 4, 8, 14};
    bool on = val & UART_FCR_ENABLE;
    if (on != u->s.fifo_on) {
        u->s.fifo_on = on; /* switching FIFO mode clears both FIFOs */
        rx_clear(u);
    }
    if (!on)
        return; /* the other bits are only programmed together with FIFO enable */
    if (val & UART_FCR_CLEAR_RX)
        rx_clear(u);
    /* UART_FCR_CLEAR_TX: the transmit FIFO is always empty. DMA mode and bit 5 do not exist on
     * a 16550A. */
    u->s.trigger = trig[val >> 6];
}

static void write_thr(struct uart *u, uint8_t val)
{
    if (u->s.mcr & UART_MCR_LOOP)
        rx_push(u, val);
    else if (u->ops && u->ops->tx)
        u->ops->tx(u->opaque, val);
    u->s.thre_pending = true; /* sent at once: THR is empty again */
}

void uart_write(struct uart *u, unsigned off, uint8_t val)
{
    bool dlab = u->s.lcr & UART_LCR_DLAB;
    switch (off & 7) {
    case UART_THR:
        if (dlab)
            u->s.dll = val;
        else
            write_thr(u, val);
        break;
    case UART_IER:
        if (dlab) {
            u->s.dlm = val;
            break;
        }
        u->s.ier = val & 0x0f; /* bits 4-7 do not exist on a 16550A */
        /* Enabling THRI while THR is empty (always) raises the THRE interrupt again. */
        u->s.thre_pending = val & UART_IER_THRI;
        break;
    case UART_FCR:
        write_fcr(u, val);
        break;
    case UART_LCR:
        u->s.lcr = val;
        break;
    case UART_MCR:
        u->s.mcr = val & 0x1f;
        set_lines(u, modem_lines(u));
        break;
    case UART_LSR: /* factory test register: writes ignored */
    case UART_MSR:
        break;
    case UART_SCR:
        u->s.scr = val;
        break;
    }
    update_irq(u);
}

uint8_t uart_read(struct uart *u, unsigned off)
{
    bool dlab = u->s.lcr & UART_LCR_DLAB;
    uint8_t v = 0;
    switch (off & 7) {
    case UART_RBR:
        v = dlab ? u->s.dll : rx_pop(u);
        break;
    case UART_IER:
        v = dlab ? u->s.dlm : u->s.ier;
        break;
    case UART_IIR:
        v = uart_iir(u);
        if ((v & 0x0f) == UART_IIR_THRI)
            u->s.thre_pending = false; /* reading IIR clears THRE when it is the source */
        break;
    case UART_LCR:
        v = u->s.lcr;
        break;
    case UART_MCR:
        v = u->s.mcr;
        break;
    case UART_LSR:
        v = UART_LSR_THRE | UART_LSR_TEMT | u->s.lsr_err | (u->s.rx_count ? UART_LSR_DR : 0);
        u->s.lsr_err = 0;
        break;
    case UART_MSR:
        v = u->s.msr_lines | u->s.msr_delta;
        u->s.msr_delta = 0;
        break;
    case UART_SCR:
        v = u->s.scr;
        break;
    }
    update_irq(u);
    return v;
}

size_t uart_rx_room(const struct uart *u)
{
    return rx_capacity(u) - u->s.rx_count;
}

size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len)
{
    size_t n = MIN(len, uart_rx_room(u));
    for (size_t i = 0; i < n; i++)
        rx_push(u, buf[i]);
    if (n)
        update_irq(u);
    return n;
}

/* ---- COM1 device: port bus, interrupt line, host console ----------------------------------- */

struct uart8250 {
    pthread_mutex_t lock; /* u: vCPU threads (ports) vs the I/O thread (console input) */
    struct uart u;
    struct vm *vm;
    struct console *con; /* TX goes here, RX comes from here; NULL: not attached */
    bool irq_failed;     /* irq_line error already logged */
    bool paused;         /* console input waits until resume */
};

static void com_irq(void *opaque, int level)
{
    struct uart8250 *d = opaque;
    int rc = irq_line(d->vm, GSI_COM1, level);
    if (rc && !d->irq_failed) {
        d->irq_failed = true;
        log_warn("uart: cannot set GSI %d: %s", GSI_COM1, strerror(-rc));
    }
}

static void com_tx(void *opaque, uint8_t byte)
{
    struct uart8250 *d = opaque;
    if (d->con)
        console_write(d->con, &byte, 1);
}

static void com_rx_drained(void *opaque)
{
    struct uart8250 *d = opaque;
    if (d->con)
        console_rx_ready(d->con);
}

static const struct uart_ops com_uart_ops = {
    .irq = com_irq,
    .tx = com_tx,
    .rx_drained = com_rx_drained,
};

/* Port handlers: a wider access is a sequence of byte accesses, as on an 8-bit ISA device. */
static void com_pio_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct uart8250 *d = opaque;
    pthread_mutex_lock(&d->lock);
    for (unsigned i = 0; i < size; i++)
        data[i] = uart_read(&d->u, (unsigned)off + i);
    pthread_mutex_unlock(&d->lock);
}

static void com_pio_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct uart8250 *d = opaque;
    pthread_mutex_lock(&d->lock);
    for (unsigned i = 0; i < size; i++)
        uart_write(&d->u, (unsigned)off + i, data[i]);
    pthread_mutex_unlock(&d->lock);
}

static const struct io_ops com_io_ops = {.read = com_pio_read, .write = com_pio_write};

/* Console input (I/O thread): take what fits into the receive FIFO. */
static size_t com_console_rx(void *opaque, const uint8_t *buf, size_t len)
{
    struct uart8250 *d = opaque;
    pthread_mutex_lock(&d->lock);
    size_t n = d->paused ? 0 : uart_receive(&d->u, buf, len);
    pthread_mutex_unlock(&d->lock);
    return n; /* 0 while paused: the console holds the input until com_resume */
}

static void com_pause(void *dev)
{
    struct uart8250 *d = dev;
    pthread_mutex_lock(&d->lock);
    d->paused = true;
    pthread_mutex_unlock(&d->lock);
}

static void com_resume(void *dev)
{
    struct uart8250 *d = dev;
    pthread_mutex_lock(&d->lock);
    d->paused = false;
    pthread_mutex_unlock(&d->lock);
    if (d->con)
        console_rx_ready(d->con);
}

static int com_save(void *dev, struct state_visitor *v)
{
    struct uart8250 *d = dev;
    pthread_mutex_lock(&d->lock);
    struct uart_state s = d->u.s;
    pthread_mutex_unlock(&d->lock);
    uart_state_visit(v, &s);
    return state_error(v);
}

static int com_restore(void *dev, struct state_visitor *v)
{
    struct uart8250 *d = dev;
    struct uart_state s = {0};
    uart_state_visit(v, &s);
    if (state_error(v))
        return state_error(v);
    pthread_mutex_lock(&d->lock);
    uart_set_state(&d->u, &s);
    pthread_mutex_unlock(&d->lock);
    return 0;
}

static void com_reset(void *dev)
{
    struct uart8250 *d = dev;
    pthread_mutex_lock(&d->lock);
    uart_reset(&d->u);
    pthread_mutex_unlock(&d->lock);
}

static void com_destroy(void *dev)
{
    struct uart8250 *d = dev;
    if (d->con)
        console_set_rx(d->con, NULL, NULL);
    if (d->u.overruns)
        log_info("uart: %llu receive overruns", (unsigned long long)d->u.overruns);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

static const struct device_ops com_dev_ops = {
    .name = "uart8250",
    .reset = com_reset,
    .pause = com_pause,
    .resume = com_resume,
    .save = com_save,
    .restore = com_restore,
    .destroy = com_destroy,
};

/* Create COM1. With --console virtio the UART still exists (guests probe it) but its output is
 * discarded and it takes no input. Returns 0 or <0 with ERR. */
static int com_create(struct vm *vm, char *err, size_t errlen)
{
    int rc = console_open(vm, err, errlen); /* no-op when vm_create opened it already */
    if (rc)
        return rc;
    struct uart8250 *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "uart: out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&d->lock, NULL);
    d->vm = vm;
    uart_init(&d->u, &com_uart_ops, d);
    rc = io_bus_register(&vm->pio, PORT_COM1, UART_NREGS, &com_io_ops, d, "com1");
    if (rc) {
        snprintf(err, errlen, "uart: cannot register ports 0x%x-0x%x: %s", PORT_COM1,
                 PORT_COM1 + UART_NREGS - 1, strerror(-rc));
        goto fail;
    }
    rc = device_add(vm, &com_dev_ops, d);
    if (rc) {
        io_bus_unregister(&vm->pio, PORT_COM1);
        snprintf(err, errlen, "uart: %s", strerror(-rc));
        goto fail;
    }
    if (vm->console && vm->cfg.console != CONSOLE_VIRTIO) {
        d->con = vm->console;
        console_set_rx(d->con, com_console_rx, d);
    }
    return 0;
fail:
    pthread_mutex_destroy(&d->lock);
    free(d);
    return rc;
}

static const struct device_class uart8250_class = {
    .name = "uart8250",
    .order = DEV_ORDER_PLATFORM,
    .create = com_create,
};
DEVICE_CLASS(uart8250_class);
