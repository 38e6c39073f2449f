/* ahci_cmds.c — the AHCI controller under a hostile driver (run.sh puts the case's disk on AHCI):
 * every register of the ABAR at every width with random values, PRDT counts of 65535, PRDs outside
 * RAM, wrapping 2^64 and in MMIO, command lists and tables and FIS areas outside RAM, all 32 slots
 * issued at once again and again (NCQ and DMA reads of the whole disk), engines stopped with
 * commands in flight, COMRESETs and HBA resets mid-flood. Then a fresh driver resets the HBA and
 * must read sector 5 intact. */
#include "hostile.h"

#define PX(p, r) (0x100 + 0x80 * (p) + (r))

static uint64_t abar;
static uint8_t *clb, *fb, *tables, *data;

struct hdr {
    uint32_t opts, prdbc, ctba, ctbau, rsvd[4];
};

static void port_on(void)
{
    wr32(abar + PX(0, 0x18), 0);
    wr32(abar + PX(0, 0x00), (uint32_t)(uintptr_t)clb);
    wr32(abar + PX(0, 0x04), 0);
    wr32(abar + PX(0, 0x08), (uint32_t)(uintptr_t)fb);
    wr32(abar + PX(0, 0x0c), 0);
    wr32(abar + PX(0, 0x10), 0xffffffff);
    wr32(abar + PX(0, 0x18), 0x17); /* ST FRE SUD POD */
}

/* Slot S: command CMD at LBA for COUNT sectors, NPRD entries (the table holds 8) of LEN bytes. */
static void slot(unsigned s, uint8_t cmd, uint32_t lba, uint16_t count, uint32_t nprd, uint32_t len)
{
    struct hdr *h = (struct hdr *)(clb + 32 * s);
    uint8_t *t = tables + 0x200 * s;
    memset_(h, 0, 32);
    memset_(t, 0, 0x80 + 16 * 8); /* the FIS and every PRD: an earlier round's bad high dword too */
    h->opts = 5 | nprd << 16;
    h->ctba = (uint32_t)(uintptr_t)t;
    t[0] = 0x27, t[1] = 0x80, t[2] = cmd, t[3] = (uint8_t)count, t[7] = 0x40;
    t[4] = (uint8_t)lba, t[5] = (uint8_t)(lba >> 8), t[6] = (uint8_t)(lba >> 16);
    t[12] = (uint8_t)count, t[13] = (uint8_t)(count >> 8), t[11] = (uint8_t)(count >> 8);
    if (cmd == 0x60)
        t[12] = (uint8_t)(s << 3), t[13] = 0;
    for (unsigned i = 0; i < 8; i++) {
        uint32_t *e = (uint32_t *)(t + 0x80 + 16 * i);
        e[0] = (uint32_t)(uintptr_t)data, e[3] = len - 1;
    }
}

/* Wait (bounded) for the issued commands: PxCI clear, and the SActive bits of the slots in NCQ
 * (the flood sets SActive for every slot; the others' bits stay, as on a real HBA). */
static void settle(uint32_t ncq)
{
    for (unsigned i = 0; i < 20000 && (rd32(abar + PX(0, 0x38)) | (rd32(abar + PX(0, 0x34)) & ncq));
         i++)
        barrier();
}

static void sweep(uint32_t *seed)
{
    for (uint64_t off = 0; off < 0x1000; off += 4)
        for (unsigned w = 1; w <= 8; w *= 2) {
            if (off == 0x04 || (off >= 0x100 && (off & 0x7f) == 0x2c))
                continue; /* GHC.HR and SControl are exercised below, not at random */
            wrw(abar + off, w, rnd(seed) | (uint64_t)rnd(seed) << 32);
            (void)rdw(abar + off, w);
        }
}

static void flood(uint32_t *seed, unsigned rounds)
{
    for (unsigned r = 0; r < rounds; r++) {
        uint32_t ncq = 0;
        for (unsigned s = 0; s < 32; s++) {
            uint32_t k = rnd(seed) % 6;
            if (k == 0) {
                slot(s, 0x60, rnd(seed) % 2048, 8, 1, 4096); /* NCQ read */
                ncq |= 1u << s;
            } else if (k == 1)
                slot(s, 0x25, 0, 0, 65535, 4096); /* 65535 PRDs */
            else if (k == 2)
                slot(s, 0x25, rnd(seed) % 2048, 2048, 8, 0x400000); /* far too much */
            else
                slot(s, 0x25, rnd(seed) % 2048, 8, 1, 4096);
            if (k == 4) { /* PRD outside RAM / wrapping / in MMIO */
                uint32_t *e = (uint32_t *)(tables + 0x200 * s + 0x80);
                static const uint64_t bad[] = {0x7fff0000, 0xfffffffffffff000ULL, 0xfec00000};
                uint64_t a = bad[rnd(seed) % 3];
                e[0] = (uint32_t)a, e[1] = (uint32_t)(a >> 32);
            }
            if (k == 5) /* command table outside RAM */
                ((struct hdr *)(clb + 32 * s))->ctba = 0xfffff000;
        }
        wr32(abar + PX(0, 0x34), 0xffffffff); /* SActive for all */
        wr32(abar + PX(0, 0x38), 0xffffffff);
        if (r % 7 == 3)
            wr32(abar + PX(0, 0x18), 0x16); /* stop the engine with commands in flight */
        if (r % 11 == 5) {
            wr32(abar + PX(0, 0x2c), 1); /* COMRESET mid-flood */
            wr32(abar + PX(0, 0x2c), 0);
        }
        settle(ncq);
        wr32(abar + PX(0, 0x10), 0xffffffff);
        port_on();
        say_hex("round", r);
    }
}

/* A fresh driver: HBA reset, port set up, READ DMA EXT of sector 5 must see its pattern. */
static void fresh_read(void)
{
    wr32(abar + 0x04, 1);
    for (unsigned i = 0; i < 1000000 && (rd32(abar + 0x04) & 1); i++)
        barrier();
    wr32(abar + 0x04, 0x80000000u);
    port_on();
    memset_(data, 0, 512);
    slot(0, 0x25, 5, 1, 1, 512);
    wr32(abar + PX(0, 0x38), 1);
    settle(0);
    CHECK(!(rd32(abar + PX(0, 0x10)) & (1u << 30)), "the fresh read failed (TFES)");
    CHECK(((struct hdr *)clb)->prdbc == 512, "the fresh read moved no data");
    CHECK(memeq(data, DISK_PATTERN "5\n", sizeof(DISK_PATTERN)), "sector 5 is not intact");
    say("ahci fresh read ok");
}

void hostile_case(void)
{
    int s = pci_find(0x8086, 0x2922);
    CHECK(s >= 0, "no AHCI controller");
    cfg_write((unsigned)s, 4, 2, 0x6); /* memory, bus master */
    abar = cfg_read((unsigned)s, 0x24, 4) & ~0xfu;
    say_hex("abar", abar);
    clb = alloc(1024, 1024);
    fb = alloc(256, 256);
    tables = alloc(0x200 * 32, 128);
    data = alloc(0x10000, 4096);
    uint32_t seed = 0x5eed;
    port_on();
    flood(&seed, 12);
    sweep(&seed);
    say("swept");
    /* the lists and the FIS area outside RAM */
    wr32(abar + PX(0, 0x18), 0);
    wr32(abar + PX(0, 0x00), 0xfffffc00);
    wr32(abar + PX(0, 0x04), 0xffffffff);
    wr32(abar + PX(0, 0x08), 0xffffff00);
    wr32(abar + PX(0, 0x18), 0x11);
    wr32(abar + PX(0, 0x38), 0xffffffff);
    settle(0);
    wr32(abar + 0x04, 1); /* HBA reset with the engine running */
    port_on();
    flood(&seed, 6);
    fresh_read();
}
