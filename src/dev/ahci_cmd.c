/* ahci_cmd.c — AHCI command processing: command headers and tables, PRDTs, FIS posting, the ATA
 * command set of the disk (IDENTIFY, DMA/PIO/NCQ reads and writes, FLUSH, SET FEATURES...). */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "dev/ahci.h"
#include "util/util.h"
#include "vm/vm.h"

#define ATA_MODEL_DISK "TRUCE HARDDISK"
#define ATA_MODEL_CD   "TRUCE DVD-ROM"
#define ATA_FIRMWARE   "1.0"

static struct ahci_port_state *pstate(struct ahci_port *p)
{
    return &p->hba->s.port[p->num];
}

static const struct guest_mem *gmem(struct ahci_port *p)
{
    return &p->hba->vm->mem;
}

/* ---- FIS and completion --------------------------------------------------------------------- */

/* Write FIS (LEN bytes) at OFF of P's receive area when FIS receive is on. */
static void fis_post(struct ahci_port *p, unsigned off, const uint8_t *fis, size_t len)
{
    struct ahci_port_state *ps = pstate(p);
    if (!(ps->cmd & PX_CMD_FRE))
        return;
    uint64_t fb = (uint64_t)ps->fbu << 32 | ps->fb;
    if (guest_mem_write(gmem(p), fb + off, fis, len) < 0) {
        ps->is |= PX_IS_HBFS; /* the receive area is not RAM */
        p->nbad++;
    }
}

void ahci_port_signature(struct ahci_port *p)
{
    struct ahci_port_state *ps = pstate(p);
    uint8_t fis[20] = {FIS_TYPE_D2H, 0, ATA_ST_OK, 0x01, 0x01, 0, 0, 0};
    if (p->cdrom) {
        fis[5] = 0x14;
        fis[6] = 0xeb;
    }
    fis[12] = 0x01;
    ps->sig = p->cdrom ? PX_SIG_ATAPI : PX_SIG_ATA;
    ps->ssts = PX_SSTS_UP;
    ps->tfd = 0x01u << 8 | ATA_ST_OK;
    ps->srst = false;
    fis_post(p, RFIS_RFIS, fis, sizeof(fis));
}

void ahci_slot_finish(struct ahci_port *p, unsigned n, uint8_t st, uint8_t er, uint32_t bytes,
                      bool pio)
{
    struct ahci_port_state *ps = pstate(p);
    struct ahci_slot *s = &p->slot[n];
    uint32_t prdbc = bytes;
    if (s->hdr && guest_mem_write(gmem(p), s->hdr + 4, &prdbc, 4) < 0)
        p->nbad++;
    ps->tfd = (uint32_t)er << 8 | st;
    if (s->ncq) {
        uint8_t sdb[8] = {FIS_TYPE_SDB, 0x40, (uint8_t)(st & 0x77), er};
        put_le32(sdb + 4, 1u << n);
        ps->sact &= ~(1u << n);
        fis_post(p, RFIS_SDB, sdb, sizeof(sdb));
        ps->is |= PX_IS_SDBS;
    } else {
        if (pio && !(st & ATA_ST_ERR)) {
            uint8_t psfis[20] = {FIS_TYPE_PIO, 0x60, st, er};
            memcpy(psfis + 4, s->d2h + 4, 10);
            psfis[15] = st; /* E_Status: the ending status */
            put_le16(psfis + 16, (uint16_t)MIN(bytes, 0xffffu));
            fis_post(p, RFIS_PSFIS, psfis, sizeof(psfis));
            ps->is |= PX_IS_PSS;
        }
        s->d2h[0] = FIS_TYPE_D2H;
        s->d2h[1] = 0x40; /* I: interrupt */
        s->d2h[2] = st;
        s->d2h[3] = er;
        fis_post(p, RFIS_RFIS, s->d2h, sizeof(s->d2h));
        ps->is |= PX_IS_DHRS;
    }
    if (st & ATA_ST_ERR)
        ps->is |= PX_IS_TFES;
    ps->ci &= ~(1u << n);
    s->busy = false;
    ahci_event(p->hba);
}

/* Fail slot N with ERR and error bits ER. */
static void slot_fail(struct ahci_port *p, unsigned n, uint8_t er)
{
    ahci_slot_finish(p, n, ATA_ST_OK | ATA_ST_ERR, er, 0, false);
}

static void slot_ok(struct ahci_port *p, unsigned n)
{
    ahci_slot_finish(p, n, ATA_ST_OK, 0, 0, false);
}

/* ---- PRDT ----------------------------------------------------------------------------------- */

int ahci_prdt_map(struct ahci *h, struct ahci_slot *s, uint64_t ctba, unsigned nprd, uint64_t need,
                  uint64_t *got)
{
    uint64_t total = 0;
    s->niov = 0;
    *got = 0;
    if (nprd > AHCI_MAX_PRD)
        return -E2BIG;
    for (unsigned i = 0; i < nprd && total < need; i++) {
        struct ahci_prd e;
        if (guest_mem_read(&h->vm->mem, ctba + AHCI_CT_PRDT + 16ULL * i, &e, sizeof(e)) < 0)
            return -EFAULT;
        uint64_t addr = (uint64_t)e.dbau << 32 | (e.dba & ~1u);
        uint64_t len = MIN((uint64_t)(e.dbc & 0x3fffff) + 1, need - total);
        void *hva = gpa_to_hva(&h->vm->mem, addr, len);
        if (!hva)
            return -EFAULT;
        s->iov[s->niov++] = (struct iovec){hva, len};
        total += len;
    }
    *got = total;
    return 0;
}

uint32_t ahci_iov_fill(struct ahci_slot *s, const void *buf, uint32_t len)
{
    uint32_t done = 0;
    for (unsigned i = 0; i < s->niov && done < len; i++) {
        uint32_t k = (uint32_t)MIN((uint64_t)s->iov[i].iov_len, (uint64_t)(len - done));
        memcpy(s->iov[i].iov_base, (const uint8_t *)buf + done, k);
        done += k;
    }
    return done;
}

/* ---- IDENTIFY ------------------------------------------------------------------------------- */

/* An ATA string: LEN/2 words, two characters per word, first one in the high byte. */
static void id_string(uint16_t *w, const char *str, unsigned len)
{
    char buf[64];
    memset(buf, ' ', sizeof(buf));
    memcpy(buf, str, MIN(strlen(str), (size_t)len));
    for (unsigned i = 0; i < len / 2; i++)
        w[i] = (uint16_t)((uint8_t)buf[2 * i] << 8 | (uint8_t)buf[2 * i + 1]);
}

static void id_checksum(uint16_t id[256])
{
    uint8_t sum = 0xa5;
    id[255] = 0xa5;
    for (unsigned i = 0; i < 255; i++)
        sum += (uint8_t)(id[i] & 0xff) + (uint8_t)(id[i] >> 8);
    id[255] = (uint16_t)((uint8_t)(0 - sum) << 8 | 0xa5);
}

static void identify_disk(const struct ahci_port *p, uint16_t id[256])
{
    uint64_t n = p->sectors;
    uint64_t cyl = MIN(n / (16 * 63), (uint64_t)16383);
    uint32_t lba28 = (uint32_t)MIN(n, (uint64_t)0x0fffffff);
    id[0] = 0x0040; /* fixed, not removable */
    id[1] = (uint16_t)cyl, id[3] = 16, id[6] = 63;
    id[47] = 0x8000 | 16; /* READ/WRITE MULTIPLE: up to 16 sectors */
    id[49] = 0x0f00;      /* IORDY, LBA, DMA */
    id[50] = 0x4000;
    id[53] = 0x0007; /* words 54-58, 64-70 and 88 valid */
    id[54] = (uint16_t)cyl, id[55] = 16, id[56] = 63;
    id[57] = (uint16_t)(cyl * 16 * 63), id[58] = (uint16_t)((cyl * 16 * 63) >> 16);
    id[59] = 0x0100 | 16;
    id[60] = (uint16_t)lba28, id[61] = (uint16_t)(lba28 >> 16);
    id[63] = 0x0007, id[64] = 0x0003;
    id[65] = id[66] = id[67] = id[68] = 120;
    id[75] = AHCI_SLOTS - 1; /* NCQ queue depth - 1 */
    id[76] = 0x0102;         /* SATA Gen1, NCQ */
    id[80] = 0x01f0;         /* ATA/ATAPI-4 to -8 */
    id[82] = 0x4028;         /* NOP, write cache, power management */
    id[83] = 0x7400;         /* FLUSH CACHE EXT, FLUSH CACHE, 48-bit LBA */
    id[84] = 0x4000;
    id[85] = 0x4028; /* write cache enabled */
    id[86] = 0x3400;
    id[87] = 0x4000;
    id[88] = 0x203f; /* UDMA 0-5, mode 5 selected */
    for (unsigned i = 0; i < 4; i++)
        id[100 + i] = (uint16_t)(n >> (16 * i));
    id[106] = 0x4000; /* one logical sector per physical sector */
    id[217] = 1;      /* non-rotating medium */
}

static void identify_cd(uint16_t id[256])
{
    id[0] = 0x85c0; /* ATAPI, CD-ROM, removable, 12-byte packets */
    id[49] = 0x0300;
    id[53] = 0x0007;
    id[62] = 0x0007, id[63] = 0x0007, id[64] = 0x0003;
    id[65] = id[66] = id[67] = id[68] = 180;
    id[71] = 30, id[72] = 30;
    id[80] = 0x001e;
    id[82] = 0x0010; /* PACKET feature set */
    id[83] = 0x4000, id[84] = 0x4000, id[85] = 0x0010, id[87] = 0x4000;
    id[88] = 0x203f;
}

void ahci_identify(const struct ahci_port *p, uint16_t id[256])
{
    char serial[CFG_SERIAL_LEN + 16];
    memset(id, 0, 512);
    if (p->cdrom)
        identify_cd(id);
    else
        identify_disk(p, id);
    if (p->serial[0])
        snprintf(serial, sizeof(serial), "%s", p->serial);
    else
        snprintf(serial, sizeof(serial), "TRUCE-AHCI-%u", p->num);
    id_string(id + 10, serial, 20);
    id_string(id + 23, ATA_FIRMWARE, 8);
    id_string(id + 27, p->cdrom ? ATA_MODEL_CD : ATA_MODEL_DISK, 40);
    id_checksum(id);
}

/* ---- ATA commands --------------------------------------------------------------------------- */

/* Put LBA into the D2H FIS image of S (48-bit layout). */
static void d2h_lba(struct ahci_slot *s, uint64_t lba)
{
    s->d2h[4] = (uint8_t)lba, s->d2h[5] = (uint8_t)(lba >> 8), s->d2h[6] = (uint8_t)(lba >> 16);
    s->d2h[8] = (uint8_t)(lba >> 24), s->d2h[9] = (uint8_t)(lba >> 32);
    s->d2h[10] = (uint8_t)(lba >> 40);
}

static void cmd_identify(struct ahci_port *p, unsigned n, uint64_t ctba, unsigned nprd)
{
    uint16_t id[256];
    uint64_t got;
    struct ahci_slot *s = &p->slot[n];
    if (ahci_prdt_map(p->hba, s, ctba, nprd, sizeof(id), &got) < 0) {
        p->nbad++;
        slot_fail(p, n, ATA_ER_ABRT);
        return;
    }
    ahci_identify(p, id);
    ahci_slot_finish(p, n, ATA_ST_OK, 0, ahci_iov_fill(s, id, sizeof(id)), true);
}

/* The LBA and sector count of a read/write FIS (NCQ counts live in the features bytes). */
static void rw_decode(const uint8_t *f, bool ext, bool ncq, uint64_t *lba, uint32_t *count)
{
    if (ext || ncq) {
        *lba = (uint64_t)f[4] | (uint64_t)f[5] << 8 | (uint64_t)f[6] << 16 | (uint64_t)f[8] << 24 |
               (uint64_t)f[9] << 32 | (uint64_t)f[10] << 40;
        *count = ncq ? (uint32_t)(f[3] | f[11] << 8) : (uint32_t)(f[12] | f[13] << 8);
        if (!*count)
            *count = 65536;
    } else {
        *lba = (uint64_t)f[4] | (uint64_t)f[5] << 8 | (uint64_t)f[6] << 16 |
               (uint64_t)(f[7] & 0xf) << 24;
        *count = f[12] ? f[12] : 256;
    }
}

/* READ/WRITE (DMA, PIO, MULTIPLE, FPDMA QUEUED): check, map the PRDT, start the backend. */
static void cmd_rw(struct ahci_port *p, unsigned n, const uint8_t *f, uint64_t ctba, unsigned nprd,
                   bool write, bool ext, bool ncq, bool pio)
{
    struct ahci_slot *s = &p->slot[n];
    struct ahci_port_state *ps = pstate(p);
    uint64_t lba, got;
    uint32_t count;
    rw_decode(f, ext, ncq, &lba, &count);
    s->ncq = ncq;
    if (ncq) {
        ps->ci &= ~(1u << n); /* the drive took the queued command: the slot is free for the HBA */
        ps->sact |= 1u << n;
    }
    if (lba > p->sectors || count > p->sectors - lba) {
        slot_fail(p, n, ATA_ER_IDNF | ATA_ER_ABRT);
        return;
    }
    if (write && p->readonly) {
        p->nerrors++;
        slot_fail(p, n, ATA_ER_ABRT);
        return;
    }
    uint64_t need = (uint64_t)count * DISK_SECTOR;
    if (ahci_prdt_map(p->hba, s, ctba, nprd, need, &got) < 0 || got < need) {
        p->nbad++;
        slot_fail(p, n, ATA_ER_ABRT);
        return;
    }
    s->op = write ? AHCI_OP_WRITE : AHCI_OP_READ;
    s->lba = lba;
    s->nbytes = (uint32_t)need;
    s->pio = pio && !write;
    int rc = write ? disk_writev(&p->disk, lba * DISK_SECTOR, s->iov, s->niov, s)
                   : disk_readv(&p->disk, lba * DISK_SECTOR, s->iov, s->niov, s);
    if (rc < 0) {
        p->nerrors++;
        slot_fail(p, n, ATA_ER_ABRT);
    }
}

static void cmd_flush(struct ahci_port *p, unsigned n)
{
    struct ahci_slot *s = &p->slot[n];
    s->op = AHCI_OP_FLUSH;
    if (disk_flush(&p->disk, s) < 0)
        slot_fail(p, n, ATA_ER_ABRT);
}

static void cmd_native_max(struct ahci_port *p, unsigned n, bool ext)
{
    struct ahci_slot *s = &p->slot[n];
    uint64_t max = p->sectors ? p->sectors - 1 : 0;
    if (!ext) {
        max = MIN(max, (uint64_t)0x0fffffff);
        d2h_lba(s, max & 0xffffff);
        s->d2h[7] = (uint8_t)(0x40 | ((max >> 24) & 0xf));
    } else {
        d2h_lba(s, max);
        s->d2h[7] = 0x40;
    }
    slot_ok(p, n);
}

/* The drive's reset signature as a command result (DEVICE RESET, DIAGNOSTIC, IDENTIFY on ATAPI). */
static void cmd_signature(struct ahci_port *p, unsigned n, bool abort)
{
    struct ahci_slot *s = &p->slot[n];
    s->d2h[4] = 1, s->d2h[12] = 1;
    if (p->cdrom)
        s->d2h[5] = 0x14, s->d2h[6] = 0xeb;
    if (abort)
        slot_fail(p, n, ATA_ER_ABRT);
    else
        ahci_slot_finish(p, n, ATA_ST_OK, 0x01, 0, false);
}

/* Commands both kinds of drive answer the same way. Returns false when CMD is not one. */
static bool cmd_common(struct ahci_port *p, unsigned n, uint8_t cmd)
{
    switch (cmd) {
    case 0xef: /* SET FEATURES: transfer modes, write cache... accepted */
    case 0xe0: /* STANDBY IMMEDIATE */
    case 0xe1: /* IDLE IMMEDIATE */
    case 0xe2: /* STANDBY */
    case 0xe3: /* IDLE */
    case 0x91: /* INITIALIZE DEVICE PARAMETERS */
    case 0xc6: /* SET MULTIPLE MODE */
        slot_ok(p, n);
        return true;
    case 0xe5: /* CHECK POWER MODE: active */
        p->slot[n].d2h[12] = 0xff;
        slot_ok(p, n);
        return true;
    case 0x90: /* EXECUTE DEVICE DIAGNOSTIC */
        cmd_signature(p, n, false);
        return true;
    default:
        return false;
    }
}

static void ata_disk_cmd(struct ahci_port *p, unsigned n, const uint8_t *f, uint64_t ctba,
                         unsigned nprd)
{
    switch (f[2]) {
    case 0xec:
        cmd_identify(p, n, ctba, nprd);
        break;
    case 0x25:
        cmd_rw(p, n, f, ctba, nprd, false, true, false, false);
        break; /* READ DMA EXT */
    case 0xc8:
        cmd_rw(p, n, f, ctba, nprd, false, false, false, false);
        break; /* READ DMA */
    case 0x24: /* READ SECTORS EXT */
    case 0x29:
        cmd_rw(p, n, f, ctba, nprd, false, true, false, true);
        break; /* READ MULT EXT */
    case 0x20: /* READ SECTORS */
    case 0xc4:
        cmd_rw(p, n, f, ctba, nprd, false, false, false, true);
        break; /* READ MULTIPLE */
    case 0x35: /* WRITE DMA EXT */
    case 0x34: /* WRITE SECTORS EXT */
    case 0x39:
        cmd_rw(p, n, f, ctba, nprd, true, true, false, false);
        break; /* WRITE MULT EXT */
    case 0xca: /* WRITE DMA */
    case 0x30: /* WRITE SECTORS */
    case 0xc5:
        cmd_rw(p, n, f, ctba, nprd, true, false, false, false);
        break; /* WRITE MULTIPLE */
    case 0x60:
        cmd_rw(p, n, f, ctba, nprd, false, true, true, false);
        break; /* READ FPDMA */
    case 0x61:
        cmd_rw(p, n, f, ctba, nprd, true, true, true, false);
        break; /* WRITE FPDMA */
    case 0xe7: /* FLUSH CACHE */
    case 0xea:
        cmd_flush(p, n);
        break; /* FLUSH CACHE EXT */
    case 0xf8:
        cmd_native_max(p, n, false);
        break; /* READ NATIVE MAX */
    case 0x27:
        cmd_native_max(p, n, true);
        break; /* ... EXT */
    case 0x40: /* READ VERIFY SECTORS */
    case 0x42: /* ... EXT */
    case 0x10: /* RECALIBRATE */
    case 0x70:
        slot_ok(p, n);
        break; /* SEEK */
    default:
        if (!cmd_common(p, n, f[2]))
            slot_fail(p, n, ATA_ER_ABRT);
    }
}

static void ata_cd_cmd(struct ahci_port *p, unsigned n, const uint8_t *f, const uint8_t *cdb,
                       uint64_t ctba, unsigned nprd)
{
    switch (f[2]) {
    case 0xa0:
        ahci_atapi_packet(p, n, cdb, ctba, nprd, f[3] & 1);
        break; /* PACKET */
    case 0xa1:
        cmd_identify(p, n, ctba, nprd);
        break; /* IDENTIFY PACKET DEVICE */
    case 0x08:
        cmd_signature(p, n, false);
        break; /* DEVICE RESET */
    case 0xec:
        cmd_signature(p, n, true);
        break; /* IDENTIFY DEVICE: abort, show the signature */
    default:
        if (!cmd_common(p, n, f[2]))
            slot_fail(p, n, ATA_ER_ABRT);
    }
}

/* ---- command slots -------------------------------------------------------------------------- */

/* A control FIS (C bit clear): SRST set, then cleared, resets the drive. No completion FIS. */
static void control_fis(struct ahci_port *p, unsigned n, const uint8_t *f)
{
    struct ahci_port_state *ps = pstate(p);
    if (f[15] & 0x04)
        ps->srst = true;
    else if (ps->srst)
        ahci_port_signature(p);
    ps->ci &= ~(1u << n);
    p->slot[n].busy = false;
}

/* Fetch and start command slot N of P. */
static void slot_start(struct ahci_port *p, unsigned n)
{
    struct ahci_port_state *ps = pstate(p);
    struct ahci_slot *s = &p->slot[n];
    struct ahci_cmd_hdr hdr;
    uint8_t cfis[64] = {0}, cdb[16];
    uint64_t hdr_gpa = ((uint64_t)ps->clbu << 32 | ps->clb) + 32ULL * n;
    memset(s, 0, offsetof(struct ahci_slot, iov));
    s->busy = true;
    if (guest_mem_read(gmem(p), hdr_gpa, &hdr, sizeof(hdr)) < 0)
        goto fatal;
    s->hdr = hdr_gpa;
    unsigned cfl = hdr.opts & 0x1f, nprd = hdr.opts >> 16;
    uint64_t ctba = ((uint64_t)hdr.ctbau << 32 | hdr.ctba) & ~0x7fULL;
    if (cfl < 5 || cfl > 16) {
        p->nbad++;
        slot_fail(p, n, ATA_ER_ABRT);
        return;
    }
    if (guest_mem_read(gmem(p), ctba + AHCI_CT_CFIS, cfis, cfl * 4u) < 0 ||
        guest_mem_read(gmem(p), ctba + AHCI_CT_ACMD, cdb, sizeof(cdb)) < 0)
        goto fatal;
    if (cfis[0] != FIS_TYPE_H2D) {
        p->nbad++;
        slot_fail(p, n, ATA_ER_ABRT);
    } else if (!(cfis[1] & 0x80)) {
        control_fis(p, n, cfis);
    } else if (p->cdrom) {
        ata_cd_cmd(p, n, cfis, cdb, ctba, nprd);
    } else {
        ata_disk_cmd(p, n, cfis, ctba, nprd);
    }
    return;
fatal: /* the command list or table is not in RAM: a host bus fatal error, the port stops */
    p->nbad++;
    s->hdr = 0;
    ps->is |= PX_IS_HBFS;
    slot_fail(p, n, ATA_ER_ABRT);
}

void ahci_port_issue(struct ahci_port *p, uint32_t new)
{
    for (unsigned n = 0; n < AHCI_SLOTS; n++) {
        if (!((new >> n) & 1))
            continue;
        if (p->slot[n].busy) { /* a queued command still runs in this slot: refused */
            pstate(p)->ci &= ~(1u << n);
            p->nbad++;
            continue;
        }
        slot_start(p, n);
    }
    if (p->has_disk && disk_submit(&p->disk) < 0)
        log_warn("ahci port %u: io_uring submit failed", p->num);
}

void ahci_disk_done(void *opaque, void *tag, int res)
{
    struct ahci_port *p = opaque;
    struct ahci_slot *s = tag;
    unsigned n = (unsigned)(s - p->slot);
    if (!s->busy)
        return; /* dropped by a port reset */
    bool ok = s->op == AHCI_OP_FLUSH ? res == 0 : res >= 0 && (uint32_t)res == s->nbytes;
    if (!ok) {
        if (!p->nerrors++)
            log_warn("ahci port %u: I/O error on %s (op %u, block %llu): %s", p->num, p->path,
                     s->op, (unsigned long long)s->lba,
                     res < 0 ? strerror(-res) : "short transfer");
        if (s->op == AHCI_OP_CD_READ)
            ahci_atapi_fail(p, n, 0x03, 0x11, 0x00); /* MEDIUM ERROR, unrecovered read error */
        else
            slot_fail(p, n, ATA_ER_ABRT | (s->op == AHCI_OP_READ ? ATA_ER_UNC : 0));
        return;
    }
    if (s->op == AHCI_OP_WRITE)
        p->nwrites++, p->bytes_written += s->nbytes;
    else if (s->op == AHCI_OP_FLUSH)
        p->nflushes++;
    else
        p->nreads++, p->bytes_read += s->nbytes;
    ahci_slot_finish(p, n, ATA_ST_OK, 0, s->op == AHCI_OP_FLUSH ? 0 : s->nbytes, s->pio);
}
