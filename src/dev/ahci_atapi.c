/* ahci_atapi.c — the ATAPI CD-ROM drive on AHCI: SCSI/MMC packet commands (INQUIRY, TEST UNIT
 * READY, REQUEST SENSE, READ CAPACITY, READ(10)/(12), READ TOC, GET CONFIGURATION, MODE SENSE,
 * GET EVENT STATUS NOTIFICATION, START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL...), sense data,
 * and media change from the host. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dev/ahci.h"
#include "util/util.h"
#include "vm/vm.h"

#define CD_MAX_RESP    256
#define CD_DVD_BLOCKS  400000 /* larger media report the DVD-ROM profile (about 800 MB) */
#define SK_NOT_READY   0x02
#define SK_MEDIUM      0x03
#define SK_ILLEGAL     0x05
#define SK_UNIT_ATTN   0x06
#define ASC_BAD_OPCODE 0x20
#define ASC_LBA_RANGE  0x21
#define ASC_BAD_FIELD  0x24
#define ASC_CHANGED    0x28
#define ASC_NO_MEDIUM  0x3a
#define ASC_REMOVAL    0x53

static struct ahci_port_state *pstate(struct ahci_port *p)
{
    return &p->hba->s.port[p->num];
}

static void put_be16(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 8), b[1] = (uint8_t)v;
}

static void put_be32(uint8_t *b, uint32_t v)
{
    put_be16(b, v >> 16), put_be16(b + 2, v);
}

static uint32_t be16(const uint8_t *b)
{
    return (uint32_t)b[0] << 8 | b[1];
}

static uint32_t be32(const uint8_t *b)
{
    return be16(b) << 16 | be16(b + 2);
}

void ahci_atapi_sense(struct ahci_port *p, uint8_t key, uint8_t asc, uint8_t ascq)
{
    struct ahci_port_state *ps = pstate(p);
    ps->sense_key = key, ps->asc = asc, ps->ascq = ascq;
}

void ahci_atapi_fail(struct ahci_port *p, unsigned n, uint8_t key, uint8_t asc, uint8_t ascq)
{
    ahci_atapi_sense(p, key, asc, ascq);
    p->slot[n].d2h[12] = 0x03; /* interrupt reason: I/O, C/D */
    ahci_slot_finish(p, n, ATA_ST_DRDY | ATA_ST_ERR, (uint8_t)(key << 4), 0, false);
}

/* Answer slot N with LEN bytes of BUF, at most ALLOC (the CDB's allocation length). */
static void reply(struct ahci_port *p, unsigned n, uint64_t ctba, unsigned nprd, bool pio,
                  const uint8_t *buf, uint32_t len, uint32_t alloc)
{
    struct ahci_slot *s = &p->slot[n];
    uint64_t got;
    len = len < alloc ? len : alloc;
    if (ahci_prdt_map(p->hba, s, ctba, nprd, len, &got) < 0) {
        p->nbad++;
        ahci_atapi_fail(p, n, SK_ILLEGAL, ASC_BAD_FIELD, 0);
        return;
    }
    ahci_atapi_sense(p, 0, 0, 0);
    s->d2h[12] = 0x03;
    ahci_slot_finish(p, n, ATA_ST_OK, 0, ahci_iov_fill(s, buf, len), pio && len);
}

/* ---- the commands --------------------------------------------------------------------------- */

static uint32_t cd_inquiry(uint8_t *b)
{
    b[0] = 0x05; /* CD/DVD device */
    b[1] = 0x80; /* removable */
    b[2] = 0x05; /* SPC-3 */
    b[3] = 0x32; /* response data format 2 */
    b[4] = 31;
    memcpy(b + 8, "TRUCE   ", 8);
    memcpy(b + 16, "DVD-ROM         ", 16);
    memcpy(b + 32, "1.0 ", 4);
    return 36;
}

static uint32_t cd_request_sense(struct ahci_port *p, uint8_t *b)
{
    struct ahci_port_state *ps = pstate(p);
    b[0] = 0x70; /* current error, fixed format */
    b[2] = ps->sense_key;
    b[7] = 10;
    b[12] = ps->asc;
    b[13] = ps->ascq;
    if (!ps->sense_key && !ps->media)
        b[2] = SK_NOT_READY, b[12] = ASC_NO_MEDIUM;
    ahci_atapi_sense(p, 0, 0, 0);
    return 18;
}

/* An MSF address field (4 bytes) or an LBA for block LBA. */
static void toc_addr(uint8_t *b, uint32_t lba, bool msf)
{
    if (!msf) {
        put_be32(b, lba);
        return;
    }
    lba += 150;
    b[0] = 0, b[1] = (uint8_t)(lba / (75 * 60)), b[2] = (uint8_t)(lba / 75 % 60);
    b[3] = (uint8_t)(lba % 75);
}

/* READ TOC formats 0 (tracks: one data track and the lead-out) and 1 (session). 0: refused. */
static uint32_t cd_read_toc(struct ahci_port *p, const uint8_t *cdb, uint8_t *b)
{
    bool msf = cdb[1] & 0x02;
    unsigned format = cdb[2] & 0x0f, start = cdb[6];
    uint32_t len = 4;
    if (!format && !cdb[2] && (cdb[9] >> 6))
        format = cdb[9] >> 6; /* the old (SFF-8020) place of the format */
    b[2] = b[3] = 1;          /* first and last track (session) */
    if (format == 0) {
        if (start > 1 && start != 0xaa)
            return 0;
        if (start <= 1) {
            b[len + 1] = 0x14, b[len + 2] = 1; /* data track 1 at block 0 */
            toc_addr(b + len + 4, 0, msf);
            len += 8;
        }
        b[len + 1] = 0x14, b[len + 2] = 0xaa; /* the lead-out */
        toc_addr(b + len + 4, (uint32_t)p->sectors, msf);
        len += 8;
    } else if (format == 1) {
        b[len + 1] = 0x14, b[len + 2] = 1;
        toc_addr(b + len + 4, 0, msf);
        len += 8;
    } else {
        return 0;
    }
    put_be16(b, len - 2);
    return len;
}

/* GET CONFIGURATION: Profile List, Core, Removable Medium, Random Readable features. */
static uint32_t cd_get_config(struct ahci_port *p, const uint8_t *cdb, uint8_t *b)
{
    struct ahci_port_state *ps = pstate(p);
    unsigned rt = cdb[1] & 3, from = be16(cdb + 2);
    uint16_t profile = !ps->media ? 0 : p->sectors > CD_DVD_BLOCKS ? 0x0010 : 0x0008;
    uint32_t len = 8;
    put_be16(b + 6, profile);
    static const uint16_t codes[] = {0x0000, 0x0001, 0x0003, 0x0010};
    for (unsigned i = 0; i < 4; i++) {
        uint16_t c = codes[i];
        if ((rt == 2 && c != from) || c < from)
            continue;
        uint8_t *f = b + len;
        put_be16(f, c);
        f[2] = 0x03;       /* persistent, current */
        if (c == 0x0000) { /* profiles: DVD-ROM, CD-ROM */
            f[2] = 0x03, f[3] = 8;
            put_be16(f + 4, 0x0010), f[6] = profile == 0x0010;
            put_be16(f + 8, 0x0008), f[10] = profile == 0x0008;
        } else if (c == 0x0001) { /* core: ATAPI */
            f[2] = 0x0b, f[3] = 8;
            put_be32(f + 4, 2);
        } else if (c == 0x0003) { /* removable medium: tray, eject, lock */
            f[3] = 4;
            f[4] = 0x29 | (ps->locked ? 0x04 : 0);
        } else { /* random readable: 2048-byte blocks */
            f[2] = ps->media ? 0x01 : 0x00, f[3] = 8;
            put_be32(f + 4, CD_BLOCK), put_be16(f + 8, 1);
        }
        len += 4 + f[3];
    }
    put_be32(b, len - 4);
    return len;
}

/* GET EVENT STATUS NOTIFICATION (polled only): the media class. */
static uint32_t cd_event_status(struct ahci_port *p, const uint8_t *cdb, uint8_t *b)
{
    struct ahci_port_state *ps = pstate(p);
    b[3] = 0x10; /* supported: media */
    if (!(cdb[4] & 0x10)) {
        b[1] = 2, b[2] = 0x80; /* no event available */
        return 4;
    }
    b[1] = 6, b[2] = 0x04;
    b[4] = ps->media_event;
    b[5] = ps->media ? 0x02 : 0x00;
    ps->media_event = 0;
    return 8;
}

/* MODE SENSE(10): pages 0x01 (error recovery) and 0x2a (capabilities), or all of them. */
static uint32_t cd_mode_sense(struct ahci_port *p, const uint8_t *cdb, uint8_t *b)
{
    unsigned page = cdb[2] & 0x3f, pc = cdb[2] >> 6;
    uint32_t len = 8;
    if (pc == 3)
        return 0; /* saved values: not supported */
    b[2] = 0x70;  /* medium type (as drives report it) */
    if (page == 0x01 || page == 0x3f) {
        b[len] = 0x01, b[len + 1] = 0x0a;
        len += 12;
    }
    if (page == 0x2a || page == 0x3f) {
        uint8_t *m = b + len;
        m[0] = 0x2a, m[1] = 0x12;
        if (pc != 1) {                                    /* changeable values are all zero */
            m[2] = 0x3b;                                  /* reads CD-R/RW, DVD-ROM... */
            m[4] = 0x71;                                  /* audio play, composite, multi-session */
            m[5] = 0x1f;                                  /* CD-DA commands, mode 2 */
            m[6] = 0x29 | (pstate(p)->locked ? 0x02 : 0); /* tray, eject, lock */
            put_be16(m + 8, 706);                         /* 4x */
            put_be16(m + 10, 2);                          /* volume levels */
            put_be16(m + 12, 512);                        /* buffer KiB */
            put_be16(m + 14, 706);
        }
        len += 20;
    }
    if (len == 8)
        return 0;
    put_be16(b, len - 2);
    return len;
}

static uint32_t cd_disc_info(uint8_t *b)
{
    put_be16(b, 32);
    b[2] = 0x0e; /* last session complete, disc finalized */
    b[3] = b[4] = b[5] = b[6] = 1;
    b[7] = 0x20; /* unrestricted use */
    return 34;
}

/* READ(10)/(12): blocks of 2048 bytes from the image through the backend. */
static void cd_read(struct ahci_port *p, unsigned n, const uint8_t *cdb, uint64_t ctba,
                    unsigned nprd)
{
    struct ahci_slot *s = &p->slot[n];
    uint64_t lba = be32(cdb + 2), got;
    uint32_t count = cdb[0] == 0x28 ? be16(cdb + 7) : be32(cdb + 6);
    if (lba > p->sectors || count > p->sectors - lba) {
        ahci_atapi_fail(p, n, SK_ILLEGAL, ASC_LBA_RANGE, 0);
        return;
    }
    uint64_t need = (uint64_t)count * CD_BLOCK;
    if (!count || need > UINT32_MAX / 2) {
        if (count)
            ahci_atapi_fail(p, n, SK_ILLEGAL, ASC_BAD_FIELD, 0);
        else
            reply(p, n, ctba, nprd, false, NULL, 0, 0);
        return;
    }
    if (ahci_prdt_map(p->hba, s, ctba, nprd, need, &got) < 0 || got < need) {
        p->nbad++;
        ahci_atapi_fail(p, n, SK_ILLEGAL, ASC_BAD_FIELD, 0);
        return;
    }
    s->op = AHCI_OP_CD_READ;
    s->lba = lba;
    s->nbytes = (uint32_t)need;
    s->d2h[12] = 0x03;
    if (disk_readv(&p->disk, lba * CD_BLOCK, s->iov, s->niov, s) < 0) {
        p->nerrors++;
        ahci_atapi_fail(p, n, SK_MEDIUM, 0x11, 0);
    }
}

/* START STOP UNIT with LoEj: the guest ejects the media (refused while locked). */
static void cd_start_stop(struct ahci_port *p, unsigned n, const uint8_t *cdb, uint64_t ctba,
                          unsigned nprd)
{
    struct ahci_port_state *ps = pstate(p);
    if ((cdb[4] & 0x03) == 0x02) {
        if (ps->locked) {
            ahci_atapi_fail(p, n, SK_ILLEGAL, ASC_REMOVAL, 0x02);
            return;
        }
        if (ps->media)
            ps->media_event = 3;
        ps->media = false;
    }
    reply(p, n, ctba, nprd, false, NULL, 0, 0);
}

/* Commands that answer even with a unit attention pending or no media. */
static bool cd_no_attention(uint8_t op)
{
    return op == 0x12 || op == 0x03 || op == 0x4a || op == 0x46;
}

static bool cd_needs_media(uint8_t op)
{
    return op == 0x00 || op == 0x25 || op == 0x28 || op == 0xa8 || op == 0x43 || op == 0x51;
}

void ahci_atapi_packet(struct ahci_port *p, unsigned n, const uint8_t *cdb, uint64_t ctba,
                       unsigned nprd, bool dma)
{
    struct ahci_port_state *ps = pstate(p);
    uint8_t b[CD_MAX_RESP] = {0};
    uint32_t len = 0, alloc = be16(cdb + 7);
    uint8_t op = cdb[0];
    if (ps->ua && !cd_no_attention(op)) {
        ps->ua = false;
        ahci_atapi_fail(p, n, SK_UNIT_ATTN, ASC_CHANGED, 0);
        return;
    }
    if (!ps->media && cd_needs_media(op)) {
        ahci_atapi_fail(p, n, SK_NOT_READY, ASC_NO_MEDIUM, 0);
        return;
    }
    switch (op) {
    case 0x00: /* TEST UNIT READY */
    case 0x2b: /* SEEK */
    case 0x35: /* SYNCHRONIZE CACHE */
    case 0x55: /* MODE SELECT(10): accepted, nothing changes */
    case 0xbb: /* SET CD SPEED */
        break;
    case 0x03:
        len = cd_request_sense(p, b), alloc = cdb[4];
        break;
    case 0x12:
        if (cdb[1] & 1) /* EVPD */
            goto bad_field;
        len = cd_inquiry(b), alloc = cdb[4];
        break;
    case 0x1b:
        cd_start_stop(p, n, cdb, ctba, nprd);
        return;
    case 0x1e:
        ps->locked = cdb[4] & 1;
        break; /* PREVENT ALLOW MEDIUM REMOVAL */
    case 0x25: /* READ CAPACITY(10) */
        put_be32(b, (uint32_t)MIN(p->sectors ? p->sectors - 1 : 0, (uint64_t)UINT32_MAX));
        put_be32(b + 4, CD_BLOCK);
        len = alloc = 8;
        break;
    case 0x28: /* READ(10) */
    case 0xa8:
        cd_read(p, n, cdb, ctba, nprd);
        return; /* READ(12) */
    case 0x43:
        if (!(len = cd_read_toc(p, cdb, b)))
            goto bad_field;
        break;
    case 0x46:
        len = cd_get_config(p, cdb, b);
        break;
    case 0x4a:
        if (!(cdb[1] & 1)) /* only polled */
            goto bad_field;
        len = cd_event_status(p, cdb, b);
        break;
    case 0x51:
        len = cd_disc_info(b);
        break;
    case 0x5a:
        if (!(len = cd_mode_sense(p, cdb, b)))
            goto bad_field;
        break;
    default:
        ahci_atapi_fail(p, n, SK_ILLEGAL, ASC_BAD_OPCODE, 0);
        return;
    }
    reply(p, n, ctba, nprd, !dma, b, len, alloc);
    return;
bad_field:
    ahci_atapi_fail(p, n, SK_ILLEGAL, ASC_BAD_FIELD, 0);
}

/* ---- media change from the host ------------------------------------------------------------ */

static struct ahci_port *cd_find(struct ahci *h, const char *id)
{
    for (unsigned i = 0; h && id && i < AHCI_PORTS; i++)
        if (h->port[i].cdrom && !strcmp(h->port[i].id, id))
            return &h->port[i];
    return NULL;
}

/* The media of P is now the image at PATH (lock held): size, config, events. */
static void media_inserted(struct ahci_port *p, const char *path)
{
    struct ahci_port_state *ps = pstate(p);
    struct vm *vm = p->hba->vm;
    snprintf(p->path, sizeof(p->path), "%s", path);
    for (unsigned i = 0; i < vm->cfg.ndisks; i++)
        if (!strcmp(vm->cfg.disks[i].id, p->id))
            snprintf(vm->cfg.disks[i].path, sizeof(vm->cfg.disks[i].path), "%s", path);
    p->sectors = p->disk.size / CD_BLOCK;
    ps->media = true;
    ps->media_event = 2;
    ps->ua = true;
}

/* The ISO 9660 check of a new image, FD open at the volume descriptor: the API thread's sandbox
 * has no read syscalls, so the I/O thread reads the 7 bytes. Heap-held: if the I/O thread never
 * runs it (the VM is stopping), the waiter gives up after 5 s and the probe is left to it. */
struct iso_probe {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int fd;
    uint8_t vd[7];
    ssize_t n;
    bool done;
};

static void iso_probe_read(void *opaque)
{
    struct iso_probe *q = opaque;
    ssize_t n = read(q->fd, q->vd, sizeof(q->vd));
    pthread_mutex_lock(&q->lock);
    q->n = n;
    q->done = true;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

/* Why the image open at FD (PATH) cannot be CD media, or NULL. */
static const char *iso_check_fd(struct vm *vm, int fd, const char *path, char *why, size_t len)
{
    if (!vm->loop)
        return config_iso_error(path, why, len);
    struct iso_probe *q = calloc(1, sizeof(*q));
    if (!q || lseek(fd, 32768, SEEK_SET) != 32768) {
        free(q);
        return "not an ISO 9660 image (shorter than 32 KiB)";
    }
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    q->fd = fd;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    bool done = evloop_call(vm->loop, iso_probe_read, q) == 0;
    pthread_mutex_lock(&q->lock);
    while (done && !q->done)
        if (pthread_cond_timedwait(&q->cond, &q->lock, &until) == ETIMEDOUT)
            done = false;
    pthread_mutex_unlock(&q->lock);
    if (!done)
        return "the image could not be checked (the VM is stopping)"; /* q stays with the loop */
    bool ok = q->n == (ssize_t)sizeof(q->vd) && !memcmp(q->vd + 1, "CD001", 5) && q->vd[6] == 1;
    free(q);
    return ok ? NULL : "not an ISO 9660 image (no CD001 volume descriptor at byte 32768)";
}

int ahci_change_media(struct vm *vm, const char *drive_id, const char *path, char *err,
                      size_t errlen)
{
    struct ahci *h = ahci_find(vm);
    struct ahci_port *p = cd_find(h, drive_id);
    char why[128];
    if (!p) {
        snprintf(err, errlen, "drive %s: no such CD-ROM drive", drive_id ? drive_id : "");
        return -ENOENT;
    }
    int fd = -1;
    if (path && *path) {
        if ((fd = disk_open_file(&p->disk, path, err, errlen)) < 0)
            return -EINVAL;
        const char *bad = iso_check_fd(vm, fd, path, why, sizeof(why));
        if (bad) {
            snprintf(err, errlen, "drive %s: %s: %s", drive_id, path, bad);
            if (!strstr(bad, "stopping"))
                close(fd);
            return -EINVAL;
        }
    }
    int rc = 0;
    pthread_mutex_lock(&h->lock);
    struct ahci_port_state *ps = pstate(p);
    if (ps->locked && ps->media) {
        snprintf(err, errlen, "drive %s: the guest locked the media in (PREVENT MEDIUM REMOVAL)",
                 drive_id);
        rc = -EBUSY;
        if (fd >= 0)
            close(fd);
    } else if (fd < 0) {
        if (ps->media)
            ps->media_event = 3;
        ps->media = false;
    } else if ((rc = disk_swap(&p->disk, fd, path, ahci_disk_done, p, err, errlen)) == 0) {
        media_inserted(p, path);
    } else {
        rc = -EINVAL;
    }
    pthread_mutex_unlock(&h->lock);
    if (!rc)
        log_info("ahci port %u (%s): %s", p->num, p->id, path && *path ? path : "ejected");
    return rc;
}
