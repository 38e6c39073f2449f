/* test_uart.c — the 16550A register model, and COM1 wired to the port bus and a console. */
#include <fcntl.h>
#include <poll.h>

#include "devtest.h"
#include "dev/uart8250.h"

/* What the model put on its outputs. */
struct probe {
    int level, edges;
    uint8_t tx[64];
    size_t ntx;
    int drained;
};

static void p_irq(void *o, int level)
{
    struct probe *p = o;
    p->edges += level && !p->level;
    p->level = level;
}

static void p_tx(void *o, uint8_t b)
{
    struct probe *p = o;
    if (p->ntx < sizeof(p->tx))
        p->tx[p->ntx++] = b;
}

static void p_drained(void *o)
{
    ((struct probe *)o)->drained++;
}

static const struct uart_ops probe_ops = {.irq = p_irq, .tx = p_tx, .rx_drained = p_drained};

static void setup(struct uart *u, struct probe *p)
{
    memset(p, 0, sizeof(*p));
    uart_init(u, &probe_ops, p);
}

static void test_reset_values(void **state)
{
    struct uart u;
    struct probe p;
    setup(&u, &p);
    assert_int_equal(uart_read(&u, UART_IER), 0);
    assert_int_equal(uart_read(&u, UART_IIR), 0x01);
    assert_int_equal(uart_read(&u, UART_LCR), 0);
    assert_int_equal(uart_read(&u, UART_MCR), 0);
    assert_int_equal(uart_read(&u, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
    assert_int_equal(uart_read(&u, UART_MSR), UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD);
    assert_int_equal(uart_read(&u, UART_SCR), 0);
    assert_int_equal(p.level, 0);
}

static void test_dlab(void **state)
{
    struct uart u;
    struct probe p;
    setup(&u, &p);
    uart_write(&u, UART_IER, 0x05);
    uart_write(&u, UART_LCR, UART_LCR_DLAB | 0x03);
    uart_write(&u, UART_DLL, 0x01);
    uart_write(&u, UART_DLM, 0x02);
    assert_int_equal(uart_read(&u, UART_DLL), 0x01);
    assert_int_equal(uart_read(&u, UART_DLM), 0x02);
    assert_int_equal(p.ntx, 0); /* DLL writes do not transmit */
    uart_write(&u, UART_LCR, 0x03);
    assert_int_equal(uart_read(&u, UART_IER), 0x05); /* IER untouched by DLM */
    uart_write(&u, UART_THR, 'A');
    assert_int_equal(p.ntx, 1);
    assert_int_equal(p.tx[0], 'A');
    uart_write(&u, UART_LCR, UART_LCR_DLAB);
    assert_int_equal(uart_read(&u, UART_DLL), 0x01); /* divisor kept */
}

/* Linux's autoconfig: IER bits 4-7 do not exist, loopback maps MCR to MSR, IIR says 16550A. */
static void test_linux_probe(void **state)
{
    struct uart u;
    struct probe p;
    setup(&u, &p);
    uart_write(&u, UART_IER, 0);
    assert_int_equal(uart_read(&u, UART_IER) & 0x0f, 0);
    uart_write(&u, UART_IER, 0xff);
    assert_int_equal(uart_read(&u, UART_IER), 0x0f);
    uart_write(&u, UART_IER, 0);
    uart_write(&u, UART_MCR, UART_MCR_LOOP | 0x0a);
    assert_int_equal(uart_read(&u, UART_MSR) & 0xf0, 0x90);
    uart_write(&u, UART_MCR, 0);
    uart_write(&u, UART_LCR, 0xbf); /* EFR probe: FCR at offset 2 with DLAB set */
    uart_write(&u, UART_FCR, 0);
    uart_write(&u, UART_LCR, 0);
    uart_write(&u, UART_FCR, UART_FCR_ENABLE);
    assert_int_equal(uart_read(&u, UART_IIR) >> 6, 3);
    uart_write(&u, UART_FCR, UART_FCR_ENABLE | 0x20); /* 64-byte FIFO bit: no TI16750 here */
    assert_int_equal(uart_read(&u, UART_IIR) >> 5, 6);
    uart_write(&u, UART_LCR, UART_LCR_DLAB);
    assert_int_not_equal(uart_read(&u, UART_IIR), 0); /* no EFR */
    uart_write(&u, UART_LCR, 0);
    uart_write(&u, UART_FCR, 0);
    assert_int_equal(uart_read(&u, UART_IIR) & 0xc0, 0);
}

static void test_thre_interrupt(void **state)
{
    struct uart u;
    struct probe p;
    setup(&u, &p);
    uart_write(&u, UART_MCR, UART_MCR_OUT2);
    uart_write(&u, UART_IER, UART_IER_THRI);
    assert_int_equal(p.level, 1);
    assert_int_equal(uart_read(&u, UART_IIR), UART_IIR_THRI);
    assert_int_equal(p.level, 0); /* reading IIR cleared it */
    assert_int_equal(uart_read(&u, UART_IIR), UART_IIR_NO_INT);
    /* Linux's THRE test: writing IER with THRI again re-raises it */
    uart_write(&u, UART_IER, 0);
    uart_write(&u, UART_IER, UART_IER_THRI);
    assert_int_equal(uart_read(&u, UART_IIR), UART_IIR_THRI);
    /* a write to THR empties at once: THRE pending again */
    uart_write(&u, UART_THR, 'x');
    assert_int_equal(p.level, 1);
    assert_int_equal(p.edges, 3);
    assert_int_equal(uart_read(&u, UART_LSR) & 0x60, 0x60);
    /* masked by IER */
    uart_write(&u, UART_IER, 0);
    assert_int_equal(p.level, 0);
    assert_int_equal(uart_read(&u, UART_IIR), UART_IIR_NO_INT);
}

/* The interrupt output reaches the bus only with OUT2 and never in loopback (PC wiring). */
static void test_out2_gate(void **state)
{
    struct uart u;
    struct probe p;
    setup(&u, &p);
    uart_write(&u, UART_IER, UART_IER_THRI);
    assert_int_equal(uart_iir(&u), UART_IIR_THRI);
    assert_int_equal(p.level, 0);
    uart_write(&u, UART_MCR, UART_MCR_OUT2);
    assert_int_equal(p.level, 1);
    uart_write(&u, UART_MCR, UART_MCR_OUT2 | UART_MCR_LOOP);
    assert_int_equal(p.level, 0);
    uart_write(&u, UART_MCR, UART_MCR_OUT2);
    assert_int_equal(p.level, 1);
}

static void test_rx_no_fifo(void **state)
{
    struct uart u;
    struct probe p;
    setup(&u, &p);
    uart_write(&u, UART_MCR, UART_MCR_OUT2);
    uart_write(&u, UART_IER, UART_IER_RDI);
    assert_int_equal(uart_rx_room(&u), 1);
    assert_int_equal(uart_receive(&u, (const uint8_t *)"ab", 2), 1);
    assert_int_equal(p.level, 1);
    assert_int_equal(uart_read(&u, UART_IIR), UART_IIR_RDI);
    assert_int_equal(uart_read(&u, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
    assert_int_equal(uart_read(&u, UART_RBR), 'a');
    assert_int_equal(p.drained, 1);
    assert_int_equal(p.level, 0);
    assert_int_equal(uart_read(&u, UART_LSR) & UART_LSR_DR, 0);
    assert_int_equal(uart_read(&u, UART_RBR), 'a'); /* empty: the last byte again */
    assert_int_equal(p.drained, 1);
}

/* Fill to one below, then to the trigger level: timeout interrupt, then data available. */
static void check_trigger(uint8_t fcr, unsigned level)
{
    struct uart u;
    struct probe p;
    setup(&u, &p);
    uart_write(&u, UART_FCR, fcr);
    uart_write(&u, UART_IER, UART_IER_RDI);
    uint8_t buf[UART_FIFO_SIZE + 4];
    for (unsigned i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)i;
    if (level > 1) {
        assert_int_equal(uart_receive(&u, buf, level - 1), level - 1);
        assert_int_equal(uart_iir(&u), UART_IIR_FIFO | UART_IIR_TOI);
    }
    assert_int_equal(uart_receive(&u, buf + level - 1, 1), 1);
    assert_int_equal(uart_iir(&u), UART_IIR_FIFO | UART_IIR_RDI);
    /* the FIFO holds 16 bytes, no more */
    assert_int_equal(uart_receive(&u, buf + level, sizeof(buf)), UART_FIFO_SIZE - level);
    assert_int_equal(uart_rx_room(&u), 0);
    for (unsigned i = 0; i < UART_FIFO_SIZE; i++)
        assert_int_equal(uart_read(&u, UART_RBR), i);
    assert_int_equal(uart_iir(&u), UART_IIR_FIFO | UART_IIR_NO_INT);
    assert_int_equal(u.overruns, 0);
}

static void test_fifo_triggers(void **state)
{
    check_trigger(0x01, 1);
    check_trigger(0x41, 4);
    check_trigger(0x81, 8);
    check_trigger(0xc1, 14);
}

static void test_fifo_clear(void **state)
{
    struct uart u;
    struct probe p;
    setup(&u, &p);
    uart_write(&u, UART_FCR, UART_FCR_ENABLE);
    assert_int_equal(uart_receive(&u, (const uint8_t *)"hello", 5), 5);
    uart_write(&u, UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RX);
    assert_int_equal(p.drained, 1);
    assert_int_equal(uart_read(&u, UART_LSR) & UART_LSR_DR, 0);
    assert_int_equal(uart_receive(&u, (const uint8_t *)"hi", 2), 2);
    uart_write(&u, UART_FCR, 0); /* leaving FIFO mode clears too */
    assert_int_equal(uart_read(&u, UART_LSR) & UART_LSR_DR, 0);
    assert_int_equal(uart_rx_room(&u), 1);
}

/* Loopback: TX lands in RX, overrun latched in LSR, priorities RLS > RX > THRE > MSR. */
static void test_loopback_priorities(void **state)
{
    struct uart u;
    struct probe p;
    setup(&u, &p);
    uart_write(&u, UART_FCR, UART_FCR_ENABLE);
    uart_write(&u, UART_MCR, UART_MCR_LOOP | UART_MCR_DTR);
    uart_write(&u, UART_IER, 0x0f);
    for (unsigned i = 0; i < UART_FIFO_SIZE + 1; i++)
        uart_write(&u, UART_THR, (uint8_t)('a' + i));
    assert_int_equal(p.ntx, 0);
    assert_int_equal(u.overruns, 1);
    assert_int_equal(uart_read(&u, UART_IIR), UART_IIR_FIFO | UART_IIR_RLSI);
    uint8_t lsr = uart_read(&u, UART_LSR);
    assert_int_equal(lsr & (UART_LSR_OE | UART_LSR_DR), UART_LSR_OE | UART_LSR_DR);
    assert_int_equal(uart_read(&u, UART_LSR) & UART_LSR_OE, 0); /* cleared by reading */
    assert_int_equal(uart_read(&u, UART_IIR), UART_IIR_FIFO | UART_IIR_RDI);
    for (unsigned i = 0; i < UART_FIFO_SIZE; i++)
        assert_int_equal(uart_read(&u, UART_RBR), 'a' + i);
    assert_int_equal(uart_read(&u, UART_IIR), UART_IIR_FIFO | UART_IIR_THRI);
    /* entering loopback moved the modem inputs: deltas pending */
    assert_int_equal(uart_read(&u, UART_IIR), UART_IIR_FIFO | UART_IIR_MSI);
    uint8_t msr = uart_read(&u, UART_MSR);
    assert_int_equal(msr & 0xf0, UART_MSR_DSR);
    assert_int_equal(msr & 0x0f, UART_MSR_DCTS | UART_MSR_DDCD); /* CTS, DCD dropped */
    assert_int_equal(uart_read(&u, UART_MSR) & 0x0f, 0);
    assert_int_equal(uart_read(&u, UART_IIR), UART_IIR_FIFO | UART_IIR_NO_INT);
}

static void test_msr_deltas(void **state)
{
    struct uart u;
    struct probe p;
    setup(&u, &p);
    uart_write(&u, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT1 | UART_MCR_OUT2 | UART_MCR_RTS);
    uart_read(&u, UART_MSR);
    assert_int_equal(uart_read(&u, UART_MSR), UART_MSR_RI | UART_MSR_DCD | UART_MSR_CTS);
    uart_write(&u, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2 | UART_MCR_RTS); /* RI 1 -> 0 */
    assert_int_equal(uart_read(&u, UART_MSR) & 0x0f, UART_MSR_TERI);
    uart_write(&u, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT1 | UART_MCR_OUT2 | UART_MCR_RTS);
    assert_int_equal(uart_read(&u, UART_MSR) & 0x0f, 0); /* leading RI edge: no TERI */
    uart_write(&u, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT1 | UART_MCR_OUT2 | UART_MCR_DTR);
    assert_int_equal(uart_read(&u, UART_MSR) & 0x0f, UART_MSR_DCTS | UART_MSR_DDSR);
    /* modem status interrupt */
    uart_write(&u, UART_IER, UART_IER_MSI);
    uart_write(&u, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2);
    assert_int_equal(uart_iir(&u), UART_IIR_MSI);
    uart_read(&u, UART_MSR);
    assert_int_equal(uart_iir(&u), UART_IIR_NO_INT);
}

static void test_scratch_and_reset(void **state)
{
    struct uart u;
    struct probe p;
    setup(&u, &p);
    uart_write(&u, UART_SCR, 0x5a);
    assert_int_equal(uart_read(&u, UART_SCR), 0x5a);
    uart_write(&u, UART_MCR, UART_MCR_OUT2);
    uart_write(&u, UART_IER, UART_IER_THRI);
    assert_int_equal(p.level, 1);
    uart_reset(&u);
    assert_int_equal(p.level, 0);
    assert_int_equal(uart_read(&u, UART_SCR), 0);
    assert_int_equal(uart_read(&u, UART_IER), 0);
}

/* ---- COM1 on the port bus with a console on pipes ------------------------------------------ */

struct com_env {
    struct vm vm;
    struct test_loop loop;
    int in[2], out[2];
};

static bool rx_ready(void *arg)
{
    struct vm *vm = arg;
    return test_inb(vm, PORT_COM1 + UART_LSR) & UART_LSR_DR;
}

static void test_com1_console(void **state)
{
    struct com_env e;
    test_vm_init(&e.vm, 64 * MiB);
    assert_int_equal(pipe(e.in), 0);
    assert_int_equal(pipe(e.out), 0);
    test_loop_start(&e.vm, &e.loop);
    char err[256];
    assert_int_equal(console_open_fds(&e.vm, e.in[0], e.out[1], err, sizeof(err)), 0);
    test_create(&e.vm, "uart8250");
    /* output: what the guest writes to THR comes out of the console */
    for (const char *s = "ok\n"; *s; s++) {
        while (!(test_inb(&e.vm, PORT_COM1 + UART_LSR) & UART_LSR_THRE))
            ;
        test_outb(&e.vm, PORT_COM1, (uint8_t)*s);
    }
    char got[4] = "";
    assert_int_equal(read_full(e.out[0], got, 3), 0);
    assert_memory_equal(got, "ok\n", 3);
    /* input: 20 bytes do not fit in the FIFO; all arrive as the guest drains it */
    test_outb(&e.vm, PORT_COM1 + UART_FCR, UART_FCR_ENABLE);
    const char *msg = "0123456789abcdefghij";
    assert_int_equal(write_full(e.in[1], msg, 20), 0);
    char rx[21] = "";
    for (int i = 0; i < 20; i++) {
        assert_true(test_wait(rx_ready, &e.vm));
        rx[i] = (char)test_inb(&e.vm, PORT_COM1 + UART_RBR);
    }
    assert_string_equal(rx, msg);
    /* a word access is two byte accesses: MSR (ignored), then SCR */
    uint8_t w[2] = {0x11, 0x22};
    assert_int_equal(io_bus_access(&e.vm.pio, PORT_COM1 + UART_LSR + 1, w, 2, true), 0);
    assert_int_equal(test_inb(&e.vm, PORT_COM1 + UART_SCR), 0x22);
    test_vm_free(&e.vm, &e.loop);
    for (int i = 0; i < 2; i++) {
        close(e.in[i]);
        close(e.out[i]);
    }
}

/* A paused UART takes no console input: it waits in the console until resume. */
static void test_com1_paused_input(void **state)
{
    struct com_env e;
    test_vm_init(&e.vm, 64 * MiB);
    assert_int_equal(pipe(e.in), 0);
    assert_int_equal(pipe(e.out), 0);
    test_loop_start(&e.vm, &e.loop);
    char err[256];
    assert_int_equal(console_open_fds(&e.vm, e.in[0], e.out[1], err, sizeof(err)), 0);
    test_create(&e.vm, "uart8250");
    struct device_instance *d = e.vm.devices;
    while (d->next)
        d = d->next;
    test_outb(&e.vm, PORT_COM1 + UART_FCR, UART_FCR_ENABLE);
    d->ops->pause(d->dev);
    assert_int_equal(write_full(e.in[1], "xy", 2), 0);
    test_loop_quiesce(&e.loop); /* the console saw the bytes and offered them */
    assert_int_equal(test_inb(&e.vm, PORT_COM1 + UART_LSR) & UART_LSR_DR, 0);
    d->ops->resume(d->dev);
    assert_true(test_wait(rx_ready, &e.vm));
    assert_int_equal(test_inb(&e.vm, PORT_COM1 + UART_RBR), 'x');
    assert_true(test_wait(rx_ready, &e.vm));
    assert_int_equal(test_inb(&e.vm, PORT_COM1 + UART_RBR), 'y');
    test_vm_free(&e.vm, &e.loop);
    for (int i = 0; i < 2; i++) {
        close(e.in[i]);
        close(e.out[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reset_values),        cmocka_unit_test(test_dlab),
        cmocka_unit_test(test_linux_probe),         cmocka_unit_test(test_thre_interrupt),
        cmocka_unit_test(test_out2_gate),           cmocka_unit_test(test_rx_no_fifo),
        cmocka_unit_test(test_fifo_triggers),       cmocka_unit_test(test_fifo_clear),
        cmocka_unit_test(test_loopback_priorities), cmocka_unit_test(test_msr_deltas),
        cmocka_unit_test(test_scratch_and_reset),   cmocka_unit_test(test_com1_console),
        cmocka_unit_test(test_com1_paused_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
