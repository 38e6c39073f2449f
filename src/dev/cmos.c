/* cmos.c — MC146818 RTC and CMOS RAM at 0x70/0x71: host time of day, memory size, NVRAM.
 * The clock runs as UTC at the host's rate from an offset the guest may set. It raises no
 * interrupts (no IRQ 8: periodic, alarm and update interrupts are not generated); register C
 * reports the update-ended flag to code that polls it, and UIP is set during the last 244 us of
 * each second as on the real chip. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dev/dev.h"
#include "util/state.h"
#include "util/util.h"
#include "vm/vm.h"

#define RTC_SEC     0x00
#define RTC_MIN     0x02
#define RTC_HOUR    0x04
#define RTC_WDAY    0x06
#define RTC_MDAY    0x07
#define RTC_MON     0x08
#define RTC_YEAR    0x09
#define RTC_REG_A   0x0a
#define RTC_REG_B   0x0b
#define RTC_REG_C   0x0c
#define RTC_REG_D   0x0d
#define RTC_CENTURY 0x32 /* the FADT's CENTURY field points here */

#define REG_A_UIP     0x80
#define REG_A_DV_MASK 0x70
#define REG_A_DV_RUN  0x20 /* 32.768 kHz time base, divider running */
#define REG_B_SET     0x80
#define REG_B_UIE     0x10
#define REG_B_DM_BIN  0x04
#define REG_B_24H     0x02
#define REG_C_IRQF    0x80
#define REG_C_UF      0x10
#define REG_D_VRT     0x80 /* valid RAM and time */

#define UIP_WINDOW_NS 244000 /* UIP is high this long before each update */

/* Guest-visible state (what a snapshot holds). The clock is kept as an offset from the host's
 * UTC clock, so a restored VM's RTC goes on from the host's time plus that offset, as a PC's RTC
 * keeps running while the machine is off. */
#define CMOS_STATE_VERSION 1
struct cmos_state {
    uint8_t index;
    uint8_t ram[128];
    int64_t offset;  /* guest seconds - host seconds */
    bool frozen;     /* SET: the time registers hold what the guest writes, the clock is held */
    int64_t last_uf; /* guest second at the last read of register C */
};

struct cmos {
    pthread_mutex_t lock;
    struct cmos_state s;
};

static void cmos_state_visit(struct state_visitor *v, struct cmos_state *s)
{
    if (!state_begin(v, "cmos", CMOS_STATE_VERSION))
        return;
    STATE_U8_MAX(v, s->index, 0x7f);
    STATE_BYTES(v, s->ram);
    STATE_CHECK(v, !(s->ram[RTC_REG_A] & REG_A_UIP));
    STATE_I64(v, s->offset);
    STATE_BOOL(v, s->frozen);
    STATE_CHECK(v, s->frozen == !!(s->ram[RTC_REG_B] & REG_B_SET));
    STATE_I64(v, s->last_uf);
    state_end(v);
}

static uint8_t to_bcd(unsigned v)
{
    return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static unsigned from_bcd(uint8_t v)
{
    return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t enc(const struct cmos *c, unsigned v)
{
    return (c->s.ram[RTC_REG_B] & REG_B_DM_BIN) ? (uint8_t)v : to_bcd(v);
}

static unsigned dec(const struct cmos *c, uint8_t v)
{
    return (c->s.ram[RTC_REG_B] & REG_B_DM_BIN) ? v : from_bcd(v);
}

static int64_t guest_seconds(const struct cmos *c, const struct timespec *now)
{
    return (int64_t)now->tv_sec + c->s.offset;
}

/* Write the guest time SECS into the time registers, in the current format. */
static void store_time(struct cmos *c, int64_t secs)
{
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return;
    c->s.ram[RTC_SEC] = enc(c, (unsigned)tm.tm_sec);
    c->s.ram[RTC_MIN] = enc(c, (unsigned)tm.tm_min);
    if (c->s.ram[RTC_REG_B] & REG_B_24H) {
        c->s.ram[RTC_HOUR] = enc(c, (unsigned)tm.tm_hour);
    } else {
        unsigned h = (unsigned)tm.tm_hour % 12;
        c->s.ram[RTC_HOUR] = enc(c, h ? h : 12) | (tm.tm_hour >= 12 ? 0x80 : 0);
    }
    c->s.ram[RTC_WDAY] = enc(c, (unsigned)tm.tm_wday + 1);
    c->s.ram[RTC_MDAY] = enc(c, (unsigned)tm.tm_mday);
    c->s.ram[RTC_MON] = enc(c, (unsigned)tm.tm_mon + 1);
    unsigned year = (unsigned)tm.tm_year + 1900;
    c->s.ram[RTC_YEAR] = enc(c, year % 100);
    c->s.ram[RTC_CENTURY] = enc(c, year / 100);
}

/* The guest time the time registers hold, or -1 when they do not form a date. */
static int64_t load_time(const struct cmos *c)
{
    struct tm tm = {0};
    tm.tm_sec = (int)dec(c, c->s.ram[RTC_SEC]);
    tm.tm_min = (int)dec(c, c->s.ram[RTC_MIN]);
    uint8_t h = c->s.ram[RTC_HOUR];
    if (c->s.ram[RTC_REG_B] & REG_B_24H)
        tm.tm_hour = (int)dec(c, h);
    else
        tm.tm_hour = (int)(dec(c, h & 0x7f) % 12) + ((h & 0x80) ? 12 : 0);
    tm.tm_mday = (int)dec(c, c->s.ram[RTC_MDAY]);
    tm.tm_mon = (int)dec(c, c->s.ram[RTC_MON]) - 1;
    unsigned cent = dec(c, c->s.ram[RTC_CENTURY]), year = dec(c, c->s.ram[RTC_YEAR]);
    if (cent < 19 || cent > 99)
        cent = year < 70 ? 20 : 19;
    tm.tm_year = (int)(cent * 100 + year) - 1900;
    if (tm.tm_sec > 59 || tm.tm_min > 59 || tm.tm_hour > 23 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_mon < 0 || tm.tm_mon > 11 || year > 99)
        return -1;
    return (int64_t)timegm(&tm);
}

/* Take the time registers as the new guest time. */
static void set_offset(struct cmos *c, const struct timespec *now)
{
    int64_t t = load_time(c);
    if (t >= 0)
        c->s.offset = t - (int64_t)now->tv_sec;
}

static bool is_time_reg(unsigned i)
{
    return i == RTC_SEC || i == RTC_MIN || i == RTC_HOUR || (i >= RTC_WDAY && i <= RTC_YEAR) ||
           i == RTC_CENTURY;
}

static uint8_t cmos_read(struct cmos *c, const struct timespec *now)
{
    unsigned i = c->s.index;
    if (is_time_reg(i) && !c->s.frozen)
        store_time(c, guest_seconds(c, now));
    switch (i) {
    case RTC_REG_A: {
        bool running = !c->s.frozen && (c->s.ram[RTC_REG_A] & REG_A_DV_MASK) == REG_A_DV_RUN;
        bool uip = running && now->tv_nsec >= 1000000000L - UIP_WINDOW_NS;
        return (c->s.ram[RTC_REG_A] & ~REG_A_UIP) | (uip ? REG_A_UIP : 0);
    }
    case RTC_REG_C: {
        /* Flags are cleared by reading; only "an update ended since the last read" exists. */
        int64_t s = guest_seconds(c, now);
        uint8_t v = 0;
        if (!c->s.frozen && s != c->s.last_uf) {
            v = REG_C_UF;
            if (c->s.ram[RTC_REG_B] & REG_B_UIE)
                v |= REG_C_IRQF;
        }
        c->s.last_uf = s;
        return v;
    }
    case RTC_REG_D:
        return REG_D_VRT;
    default:
        return c->s.ram[i];
    }
}

static void cmos_write(struct cmos *c, uint8_t v, const struct timespec *now)
{
    unsigned i = c->s.index;
    switch (i) {
    case RTC_REG_A:
        c->s.ram[i] = v & ~REG_A_UIP;
        return;
    case RTC_REG_B: {
        bool set = v & REG_B_SET;
        c->s.ram[i] = v; /* a new data mode applies to everything from here on */
        if (set && !c->s.frozen)
            store_time(c, guest_seconds(c, now)); /* hold the clock */
        else if (!set && c->s.frozen)
            set_offset(c, now); /* run again from what the guest wrote */
        c->s.frozen = set;
        return;
    }
    case RTC_REG_C:
    case RTC_REG_D:
        return; /* read-only */
    default:
        if (is_time_reg(i) && !c->s.frozen) {
            store_time(c, guest_seconds(c, now));
            c->s.ram[i] = v;
            set_offset(c, now);
            return;
        }
        c->s.ram[i] = v;
    }
}

/* Fill the memory-size bytes firmware reads: base, extended (<= 64 MiB), above 16 MiB and above
 * 4 GiB (64 KiB units), plus the standard checksum over 0x10-0x2d. */
static void cmos_set_memory(struct cmos *c, const struct guest_mem *m)
{
    uint64_t low = 0, high = 0;
    for (unsigned i = 0; i < m->nr; i++) {
        if (m->r[i].gpa < LAYOUT_4G)
            low = MAX(low, m->r[i].gpa + m->r[i].size);
        else
            high += m->r[i].size;
    }
    uint64_t ext = low > MiB ? MIN((low - MiB) / KiB, 0xffffULL) : 0;
    uint64_t above16 = low > 16 * MiB ? MIN((low - 16 * MiB) / (64 * KiB), 0xffffULL) : 0;
    uint64_t above4g = MIN(high / (64 * KiB), 0xffffffULL);
    c->s.ram[0x14] = 0x02; /* equipment: FPU present, VGA/EGA, no floppy */
    c->s.ram[0x15] = 640 & 0xff;
    c->s.ram[0x16] = 640 >> 8;
    c->s.ram[0x17] = c->s.ram[0x30] = (uint8_t)ext;
    c->s.ram[0x18] = c->s.ram[0x31] = (uint8_t)(ext >> 8);
    c->s.ram[0x34] = (uint8_t)above16;
    c->s.ram[0x35] = (uint8_t)(above16 >> 8);
    c->s.ram[0x5b] = (uint8_t)above4g;
    c->s.ram[0x5c] = (uint8_t)(above4g >> 8);
    c->s.ram[0x5d] = (uint8_t)(above4g >> 16);
    unsigned sum = 0;
    for (unsigned i = 0x10; i <= 0x2d; i++)
        sum += c->s.ram[i];
    c->s.ram[0x2e] = (uint8_t)(sum >> 8);
    c->s.ram[0x2f] = (uint8_t)sum;
}

static void cmos_pio_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct cmos *c = opaque;
    if (off == 0)
        return; /* the index register is write-only: all-ones */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    pthread_mutex_lock(&c->lock);
    data[0] = cmos_read(c, &now);
    pthread_mutex_unlock(&c->lock);
}

static void cmos_pio_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct cmos *c = opaque;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    pthread_mutex_lock(&c->lock);
    if (off == 0)
        c->s.index = data[0] & 0x7f; /* bit 7 is the NMI mask: ignored */
    else
        cmos_write(c, data[0], &now);
    pthread_mutex_unlock(&c->lock);
}

static const struct io_ops cmos_io_ops = {.read = cmos_pio_read, .write = cmos_pio_write};

static void cmos_destroy(void *dev)
{
    struct cmos *c = dev;
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static int cmos_save(void *dev, struct state_visitor *v)
{
    struct cmos *c = dev;
    pthread_mutex_lock(&c->lock);
    struct cmos_state s = c->s;
    pthread_mutex_unlock(&c->lock);
    cmos_state_visit(v, &s);
    return state_error(v);
}

static int cmos_restore(void *dev, struct state_visitor *v)
{
    struct cmos *c = dev;
    struct cmos_state s = {0};
    cmos_state_visit(v, &s);
    if (state_error(v))
        return state_error(v);
    pthread_mutex_lock(&c->lock);
    c->s = s;
    pthread_mutex_unlock(&c->lock);
    return 0;
}

/* NVRAM survives a reset, as on a battery-backed chip; so does the clock. */
static const struct device_ops cmos_dev_ops = {
    .name = "cmos",
    .save = cmos_save,
    .restore = cmos_restore,
    .destroy = cmos_destroy,
};

/* Create the RTC at PORT_CMOS with VM's memory size. Returns 0 or <0 with ERR. */
static int cmos_create(struct vm *vm, char *err, size_t errlen)
{
    struct cmos *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "cmos: out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&c->lock, NULL);
    c->s.ram[RTC_REG_A] = REG_A_DV_RUN | 0x06; /* 1024 Hz periodic rate selected */
    c->s.ram[RTC_REG_B] = REG_B_24H;           /* BCD, 24 hours */
    cmos_set_memory(c, &vm->mem);
    int rc = io_bus_register(&vm->pio, PORT_CMOS, 2, &cmos_io_ops, c, "cmos");
    if (rc) {
        snprintf(err, errlen, "cmos: cannot register ports 0x%x-0x%x: %s", PORT_CMOS, PORT_CMOS + 1,
                 strerror(-rc));
        goto fail;
    }
    rc = device_add(vm, &cmos_dev_ops, c);
    if (rc) {
        io_bus_unregister(&vm->pio, PORT_CMOS);
        snprintf(err, errlen, "cmos: out of memory");
        goto fail;
    }
    return 0;
fail:
    pthread_mutex_destroy(&c->lock);
    free(c);
    return rc;
}

static const struct device_class cmos_class = {
    .name = "cmos",
    .order = DEV_ORDER_PLATFORM,
    .create = cmos_create,
};
DEVICE_CLASS(cmos_class);
