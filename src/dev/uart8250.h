/* uart8250.h — the 16550A register model: pure state machine, outputs through callbacks. */
#ifndef TRUCE_UART8250_H
#define TRUCE_UART8250_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Register offsets (DLAB selects DLL/DLM at 0 and 1). */
#define UART_RBR   0 /* read, DLAB=0: receive buffer */
#define UART_THR   0 /* write, DLAB=0: transmit holding */
#define UART_DLL   0 /* DLAB=1 */
#define UART_IER   1 /* DLAB=0 */
#define UART_DLM   1 /* DLAB=1 */
#define UART_IIR   2 /* read */
#define UART_FCR   2 /* write */
#define UART_LCR   3
#define UART_MCR   4
#define UART_LSR   5
#define UART_MSR   6
#define UART_SCR   7
#define UART_NREGS 8

#define UART_IER_RDI  0x01 /* received data available (and character timeout) */
#define UART_IER_THRI 0x02 /* transmit holding register empty */
#define UART_IER_RLSI 0x04 /* receiver line status */
#define UART_IER_MSI  0x08 /* modem status */

#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI    0x00
#define UART_IIR_THRI   0x02
#define UART_IIR_RDI    0x04
#define UART_IIR_RLSI   0x06
#define UART_IIR_TOI    0x0c /* character timeout */
#define UART_IIR_FIFO   0xc0 /* FIFOs enabled */

#define UART_FCR_ENABLE   0x01
#define UART_FCR_CLEAR_RX 0x02
#define UART_FCR_CLEAR_TX 0x04

#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR  0x01
#define UART_MCR_RTS  0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08 /* on a PC: gates the interrupt output onto the ISA bus */
#define UART_MCR_LOOP 0x10

#define UART_LSR_DR   0x01
#define UART_LSR_OE   0x02
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

#define UART_MSR_DCTS 0x01
#define UART_MSR_DDSR 0x02
#define UART_MSR_TERI 0x04
#define UART_MSR_DDCD 0x08
#define UART_MSR_CTS  0x10
#define UART_MSR_DSR  0x20
#define UART_MSR_RI   0x40
#define UART_MSR_DCD  0x80

#define UART_FIFO_SIZE 16

/* Outputs of the model; each may be NULL. They are called from inside uart_read/uart_write/
 * uart_receive, i.e. with whatever lock the caller holds. */
struct uart_ops {
    void (*irq)(void *opaque, int level);   /* interrupt output changed */
    void (*tx)(void *opaque, uint8_t byte); /* a byte left the transmitter (not in loopback) */
    void (*rx_drained)(void *opaque);       /* the guest emptied the receive FIFO */
};

/* Guest-visible state (what a snapshot holds). Transmission is instantaneous, so THR and the
 * transmit shift register are always empty. The interrupt line follows from it. */
#define UART_STATE_VERSION 1
struct uart_state {
    uint8_t ier, lcr, mcr, scr, dll, dlm;
    uint8_t lsr_err;   /* sticky line errors (OE) until LSR is read */
    uint8_t msr_delta; /* DCTS/DDSR/TERI/DDCD until MSR is read */
    uint8_t msr_lines; /* current CTS/DSR/RI/DCD (MSR bits 4-7) */
    bool fifo_on;
    uint8_t trigger; /* RX FIFO trigger level: 1, 4, 8 or 14 */
    bool thre_pending;
    uint8_t rx[UART_FIFO_SIZE];
    uint8_t rx_head, rx_count;
    uint8_t last_rx; /* what RBR reads when the FIFO is empty */
};

/* The model: state plus its outputs (runtime). */
struct uart {
    struct uart_state s;
    int irq_level; /* last level reported through ops->irq */
    uint64_t overruns;

    const struct uart_ops *ops;
    void *opaque;
};

struct state_visitor;
/* Describe S for saving or loading (util/state.h); loading checks every range. */
void uart_state_visit(struct state_visitor *v, struct uart_state *s);
/* Replace U's state with S (already checked by uart_state_visit) and drive the interrupt output
 * it implies. */
void uart_set_state(struct uart *u, const struct uart_state *s);

/* Initialise U to its power-on state with OPS/OPAQUE as outputs (no callback is made). */
void uart_init(struct uart *u, const struct uart_ops *ops, void *opaque);
/* Master reset: registers to power-on values, FIFOs cleared; the interrupt output drops. */
void uart_reset(struct uart *u);
/* Guest read of register OFF (0-7, masked). Returns the byte; may clear state and fire outputs. */
uint8_t uart_read(struct uart *u, unsigned off);
/* Guest write of VAL to register OFF (0-7, masked). */
void uart_write(struct uart *u, unsigned off, uint8_t val);
/* Bytes from the host side: up to the free room of the receive FIFO (1 byte without FIFOs).
 * Returns how many were taken. */
size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len);
/* Free room in the receive FIFO. */
size_t uart_rx_room(const struct uart *u);
/* IIR as the guest would read it now, without the side effects of reading it. */
uint8_t uart_iir(const struct uart *u);

#endif
