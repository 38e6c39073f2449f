/* test_ahci.c — the AHCI controller: registers, ATA commands on a real image file (DMA, NCQ,
 * flush, bounds), hostile command lists and PRDTs, the ATAPI CD-ROM (packet commands, sense,
 * media change), interrupts, ISO detection and the state round trip. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "dev/ahci.h"
#include "statetest.h"
#include "virtio_fixture.h"

#define DISK_SECTORS 2048 /* 1 MiB */
#define ISO_BLOCKS   64
#define CLB(p)       (0x100000ULL + 0x10000ULL * (p))
#define FB(p)        (CLB(p) + 0x400)
#define CT(p, s)     (CLB(p) + 0x1000 + 0x400ULL * (s)) /* room for 56 PRDs per table */
#define DATA         0x800000ULL

struct afix {
    struct vfix f;
    struct ahci *h;
    char disk[64], iso[64], iso2[64];
};

static void make_file(char *path, const char *tmpl, size_t size, bool iso, uint8_t seed)
{
    strcpy(path, tmpl);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    uint8_t *b = malloc(size);
    for (size_t i = 0; i < size; i++)
        b[i] = (uint8_t)(i / 512 * 7 + i + seed);
    if (iso)
        memcpy(b + 32768, "\001CD001\001", 7);
    assert_int_equal(write(fd, b, size), (ssize_t)size);
    close(fd);
    free(b);
}

static void afix_create(struct afix *a, bool with_disk, bool with_cd)
{
    vf_init(&a->f);
    struct vm_config *c = &a->f.vm.cfg;
    if (with_disk) {
        struct disk_config d = {.iface = DISK_IF_AHCI};
        strcpy(d.id, "d0"), strcpy(d.path, a->disk), strcpy(d.serial, "SER123");
        c->disks[c->ndisks++] = d;
    }
    if (with_cd) {
        struct disk_config d = {.iface = DISK_IF_AHCI, .cdrom = true, .readonly = true};
        strcpy(d.id, "cd0"), strcpy(d.path, a->iso);
        c->disks[c->ndisks++] = d;
    }
    char err[256] = "";
    int rc = ahci_create(&a->f.vm, err, sizeof(err));
    if (rc)
        fail_msg("ahci_create: %s", err);
    a->h = ahci_find(&a->f.vm);
    assert_non_null(a->h);
}

static int setup(void **state)
{
    struct afix *a = calloc(1, sizeof(*a));
    make_file(a->disk, "/tmp/ahci-disk-XXXXXX", DISK_SECTORS * 512, false, 1);
    make_file(a->iso, "/tmp/ahci-iso-XXXXXX", ISO_BLOCKS * 2048, true, 2);
    make_file(a->iso2, "/tmp/ahci-iso2-XXXXXX", ISO_BLOCKS * 2 * 2048, true, 3);
    afix_create(a, true, true);
    *state = a;
    return 0;
}

static int teardown(void **state)
{
    struct afix *a = *state;
    vf_fini(&a->f);
    unlink(a->disk), unlink(a->iso), unlink(a->iso2);
    free(a);
    return 0;
}

/* ---- register access through the BAR, as a guest makes it ------------------------------------ */

static uint32_t rd(struct afix *a, uint64_t off)
{
    uint8_t d[4];
    assert_int_equal(io_bus_access(&a->f.vm.mmio, a->h->pci.bar[AHCI_BAR].addr + off, d, 4, false),
                     0);
    return get_le32(d);
}

static void wr(struct afix *a, uint64_t off, uint32_t v)
{
    uint8_t d[4];
    put_le32(d, v);
    assert_int_equal(io_bus_access(&a->f.vm.mmio, a->h->pci.bar[AHCI_BAR].addr + off, d, 4, true),
                     0);
}

#define PR(p, r) (AHCI_PORT_BASE + AHCI_PORT_LEN * (p) + (r))

static void *ram(struct afix *a, uint64_t gpa, uint64_t len)
{
    void *p = gpa_to_hva(&a->f.vm.mem, gpa, len);
    assert_non_null(p);
    return p;
}

/* Start port P as a driver does: lists in RAM, FIS receive, engine on, interrupts on. */
static void port_start(struct afix *a, unsigned p)
{
    wr(a, AHCI_GHC, AHCI_GHC_AE | AHCI_GHC_IE);
    wr(a, PR(p, PX_CLB), (uint32_t)CLB(p));
    wr(a, PR(p, PX_FB), (uint32_t)FB(p));
    wr(a, PR(p, PX_IE), PX_IS_MASK);
    wr(a, PR(p, PX_CMD), PX_CMD_FRE | PX_CMD_SUD | PX_CMD_ST);
}

/* Build slot S of port P: FIS with COMMAND, LBA, COUNT (and FEAT), NPRD entries of LEN bytes at
 * DATA + i * LEN, CDB for ATAPI. */
static void build(struct afix *a, unsigned p, unsigned s, uint8_t cmd, uint64_t lba, uint16_t count,
                  unsigned nprd, uint32_t len, const uint8_t *cdb, bool write)
{
    struct ahci_cmd_hdr *h = ram(a, CLB(p) + 32 * s, 32);
    memset(h, 0, sizeof(*h));
    h->opts = 5 | (uint32_t)nprd << 16 | (cdb ? AHCI_HDR_A : 0) | (write ? AHCI_HDR_W : 0);
    h->ctba = (uint32_t)CT(p, s);
    uint8_t *f = ram(a, CT(p, s), 0x80 + 16 * nprd);
    memset(f, 0, 0x80);
    f[0] = FIS_TYPE_H2D, f[1] = 0x80, f[2] = cmd, f[3] = 1;
    f[4] = (uint8_t)lba, f[5] = (uint8_t)(lba >> 8), f[6] = (uint8_t)(lba >> 16);
    f[7] = 0x40, f[8] = (uint8_t)(lba >> 24), f[9] = (uint8_t)(lba >> 32);
    f[12] = (uint8_t)count, f[13] = (uint8_t)(count >> 8);
    if (cmd == 0x60 || cmd == 0x61) /* NCQ: count in the features, tag in the count */
        f[3] = (uint8_t)count, f[11] = (uint8_t)(count >> 8), f[12] = (uint8_t)(s << 3), f[13] = 0;
    if (cdb)
        memcpy(f + AHCI_CT_ACMD, cdb, 16);
    for (unsigned i = 0; i < nprd; i++) {
        struct ahci_prd *e = (struct ahci_prd *)(f + 0x80) + i;
        *e = (struct ahci_prd){.dba = (uint32_t)(DATA + (uint64_t)i * len), .dbc = len - 1};
    }
}

/* Issue slot S of port P and wait until PxCI and PxSACT drop it. */
static void run(struct afix *a, unsigned p, unsigned s)
{
    wr(a, PR(p, PX_CI), 1u << s);
    for (int i = 0; i < 5000 && (rd(a, PR(p, PX_CI)) | rd(a, PR(p, PX_SACT))) & (1u << s); i++)
        usleep(1000);
    assert_int_equal((rd(a, PR(p, PX_CI)) | rd(a, PR(p, PX_SACT))) & (1u << s), 0);
}

static uint32_t prdbc(struct afix *a, unsigned p, unsigned s)
{
    return ((struct ahci_cmd_hdr *)ram(a, CLB(p) + 32 * s, 32))->prdbc;
}

/* Clear every interrupt status bit of port P; return what was set. */
static uint32_t ack(struct afix *a, unsigned p)
{
    uint32_t is = rd(a, PR(p, PX_IS));
    wr(a, PR(p, PX_IS), is);
    wr(a, AHCI_IS, rd(a, AHCI_IS));
    return is;
}

/* ---- tests ------------------------------------------------------------------------------------
 */

static void hba_registers(void **state)
{
    struct afix *a = *state;
    assert_int_equal(vf_cfg_read(&a->f, a->h->pci.slot, 0, 4), 0x29228086);
    assert_int_equal(vf_cfg_read(&a->f, a->h->pci.slot, 8, 4) >> 8, 0x010601);
    uint32_t cap = rd(a, AHCI_CAP);
    assert_int_equal(cap & 0x1f, AHCI_PORTS - 1);
    assert_int_equal((cap >> 8) & 0x1f, AHCI_SLOTS - 1);
    assert_true(cap & (1u << 30) && cap & (1u << 31)); /* NCQ, 64-bit */
    assert_int_equal(rd(a, AHCI_PI), 0x3f);
    assert_true(rd(a, AHCI_GHC) & AHCI_GHC_AE);
    assert_int_equal(rd(a, PR(0, PX_SIG)), PX_SIG_ATA);
    assert_int_equal(rd(a, PR(1, PX_SIG)), PX_SIG_ATAPI);
    assert_int_equal(rd(a, PR(0, PX_SSTS)) & 0xf, 3);
    assert_int_equal(rd(a, PR(2, PX_SSTS)), 0); /* nothing attached */
    /* alignment of the list bases; CR/FR follow ST/FRE */
    wr(a, PR(0, PX_CLB), 0x12345fff);
    assert_int_equal(rd(a, PR(0, PX_CLB)), 0x12345c00);
    port_start(a, 0);
    uint32_t cmd = rd(a, PR(0, PX_CMD));
    assert_true((cmd & PX_CMD_CR) && (cmd & PX_CMD_FR));
    /* CI is ignored while the engine is off */
    wr(a, PR(2, PX_CI), 1);
    assert_int_equal(rd(a, PR(2, PX_CI)), 0);
    /* COMRESET through SControl: link down, then the signature again */
    wr(a, PR(0, PX_SCTL), 1);
    assert_int_equal(rd(a, PR(0, PX_SSTS)), 0);
    wr(a, PR(0, PX_SCTL), 0);
    assert_int_equal(rd(a, PR(0, PX_SSTS)), PX_SSTS_UP);
    assert_int_equal(rd(a, PR(0, PX_TFD)) & 0x80, 0);
    /* HBA reset: the engines stop */
    wr(a, AHCI_GHC, AHCI_GHC_HR);
    assert_int_equal(rd(a, AHCI_GHC) & AHCI_GHC_HR, 0);
    assert_int_equal(rd(a, PR(0, PX_CMD)) & (PX_CMD_ST | PX_CMD_CR), 0);
    /* byte reads see the register's bytes; odd-sized writes do nothing */
    uint8_t d[4] = {0};
    io_bus_access(&a->f.vm.mmio, a->h->pci.bar[AHCI_BAR].addr + AHCI_PI, d, 1, false);
    assert_int_equal(d[0], 0x3f);
    io_bus_access(&a->f.vm.mmio, a->h->pci.bar[AHCI_BAR].addr + AHCI_GHC, d, 2, true);
    assert_true(rd(a, AHCI_GHC) & AHCI_GHC_AE);
}

static void identify_and_interrupts(void **state)
{
    struct afix *a = *state;
    port_start(a, 0);
    build(a, 0, 0, 0xec, 0, 0, 1, 512, NULL, false);
    run(a, 0, 0);
    uint16_t *id = ram(a, DATA, 512);
    assert_int_equal(id[0], 0x0040);
    assert_int_equal(id[100], DISK_SECTORS);
    assert_int_equal(id[60], DISK_SECTORS);
    assert_int_equal(id[10], 'S' << 8 | 'E'); /* serial "SER123" */
    uint8_t sum = 0;
    for (unsigned i = 0; i < 512; i++)
        sum += ((uint8_t *)id)[i];
    assert_int_equal(sum, 0);
    assert_int_equal(prdbc(a, 0, 0), 512);
    uint8_t *rf = ram(a, FB(0), RFIS_SIZE);
    assert_int_equal(rf[RFIS_PSFIS], FIS_TYPE_PIO);
    assert_int_equal(rf[RFIS_PSFIS + 15], ATA_ST_OK); /* E_Status, as Linux reads it */
    assert_int_equal(rf[RFIS_RFIS], FIS_TYPE_D2H);
    assert_int_equal(rf[RFIS_RFIS + 2], ATA_ST_OK);
    /* INTx while MSI is off: the line is up until the status is acknowledged */
    unsigned gsi = PCI_INTX_GSI((unsigned)a->h->pci.slot, 0);
    assert_int_equal(atomic_load(&a->f.line[gsi]), 1);
    assert_true(rd(a, AHCI_IS) & 1);
    assert_true(ack(a, 0) & (PX_IS_DHRS | PX_IS_PSS));
    assert_int_equal(atomic_load(&a->f.line[gsi]), 0);
    /* IDENTIFY PACKET DEVICE on a disk aborts (SeaBIOS's probe order) */
    build(a, 0, 1, 0xa1, 0, 0, 1, 512, NULL, false);
    run(a, 0, 1);
    assert_true(ack(a, 0) & PX_IS_TFES);
    assert_int_equal(rd(a, PR(0, PX_TFD)), ATA_ER_ABRT << 8 | ATA_ST_OK | ATA_ST_ERR);
    /* MSI: enabled through the capability, then one message per event */
    unsigned cap = a->h->pci.msi.cap;
    assert_true(cap);
    vf_cfg_write(&a->f, a->h->pci.slot, cap + 4, 4, 0xfee00000);
    vf_cfg_write(&a->f, a->h->pci.slot, cap + 12, 2, 0x4041);
    vf_cfg_write(&a->f, a->h->pci.slot, cap + 2, 2, 1);
    int before = atomic_load(&a->f.msis);
    build(a, 0, 2, 0xe7, 0, 0, 0, 0, NULL, false); /* FLUSH CACHE */
    run(a, 0, 2);
    vf_quiesce(&a->f);
    assert_int_equal(atomic_load(&a->f.msis), before + 1);
    assert_int_equal(atomic_load(&a->f.last_msi_data), 0x4041);
    assert_int_equal(atomic_load(&a->f.line[gsi]), 0);
    ack(a, 0);
}

static void disk_io(void **state)
{
    struct afix *a = *state;
    port_start(a, 0);
    uint8_t *buf = ram(a, DATA, 65536);
    for (unsigned i = 0; i < 8192; i++)
        buf[i] = (uint8_t)(i * 13 + 5);
    /* WRITE DMA EXT of 16 sectors at LBA 100 in 4 PRDs, then check the file */
    build(a, 0, 3, 0x35, 100, 16, 4, 2048, NULL, true);
    run(a, 0, 3);
    assert_int_equal(prdbc(a, 0, 3), 8192);
    assert_false(ack(a, 0) & PX_IS_TFES);
    uint8_t file[8192];
    int fd = open(a->disk, O_RDONLY);
    assert_int_equal(pread(fd, file, sizeof(file), 100 * 512), (ssize_t)sizeof(file));
    close(fd);
    assert_memory_equal(file, buf, sizeof(file));
    /* READ DMA (LBA28) back into a clean buffer; READ FPDMA QUEUED too */
    memset(buf, 0, 65536);
    build(a, 0, 4, 0xc8, 100, 16, 1, 8192, NULL, false);
    run(a, 0, 4);
    assert_memory_equal(buf, file, sizeof(file));
    memset(buf, 0, 65536);
    wr(a, PR(0, PX_SACT), 1u << 5);
    build(a, 0, 5, 0x60, 100, 16, 2, 4096, NULL, false);
    run(a, 0, 5);
    assert_memory_equal(buf, file, sizeof(file));
    uint8_t *rf = ram(a, FB(0), RFIS_SIZE);
    assert_int_equal(rf[RFIS_SDB], FIS_TYPE_SDB);
    assert_int_equal(get_le32(rf + RFIS_SDB + 4), 1u << 5);
    assert_true(ack(a, 0) & PX_IS_SDBS);
    /* past the end: IDNF, and nothing read */
    build(a, 0, 6, 0x25, DISK_SECTORS - 1, 2, 1, 1024, NULL, false);
    run(a, 0, 6);
    assert_true(ack(a, 0) & PX_IS_TFES);
    assert_true((rd(a, PR(0, PX_TFD)) >> 8) & ATA_ER_IDNF);
    /* READ NATIVE MAX ADDRESS EXT: the last LBA in the D2H FIS */
    build(a, 0, 7, 0x27, 0, 0, 0, 0, NULL, false);
    run(a, 0, 7);
    assert_int_equal(rf[RFIS_RFIS + 4] | rf[RFIS_RFIS + 5] << 8, DISK_SECTORS - 1);
    /* all 32 slots at once (16 NCQ reads, 16 DMA reads): every one completes */
    wr(a, PR(0, PX_SACT), 0xffff);
    for (unsigned s = 0; s < 32; s++)
        build(a, 0, s, s < 16 ? 0x60 : 0x25, s * 8, 8, 1, 4096, NULL, false);
    wr(a, PR(0, PX_CI), 0xffffffff);
    for (int i = 0; i < 5000 && (rd(a, PR(0, PX_CI)) | rd(a, PR(0, PX_SACT))); i++)
        usleep(1000);
    assert_int_equal(rd(a, PR(0, PX_CI)) | rd(a, PR(0, PX_SACT)), 0);
    assert_false(ack(a, 0) & PX_IS_TFES);
    assert_int_equal(a->h->port[0].nerrors, 0);
    /* a slot issued again while its queued command still runs is refused, the first completes */
    wr(a, PR(0, PX_SACT), 1u << 9);
    build(a, 0, 9, 0x60, 0, 8, 1, 4096, NULL, false);
    pthread_mutex_lock(&a->h->lock); /* completions wait for the lock: the command stays busy */
    ahci_reg_write(a->h, PR(0, PX_CI), 1u << 9);
    uint64_t bad = a->h->port[0].nbad;
    ahci_reg_write(a->h, PR(0, PX_CI), 1u << 9); /* the slot is busy: refused */
    assert_int_equal(a->h->port[0].nbad, bad + 1);
    pthread_mutex_unlock(&a->h->lock);
    for (int i = 0; i < 5000 && rd(a, PR(0, PX_SACT)); i++)
        usleep(1000);
    assert_int_equal(rd(a, PR(0, PX_SACT)) | rd(a, PR(0, PX_CI)), 0);
    assert_false(ack(a, 0) & PX_IS_TFES);
}

/* The I/O thread's scheduling policy. */
static int io_policy(struct afix *a)
{
    struct sched_param sp;
    int policy = -1;
    assert_int_equal(pthread_getschedparam(a->f.loop_thread, &policy, &sp), 0);
    return policy;
}

/* Completions reaped together raise one MSI and put the I/O thread in bulk mode (SCHED_BATCH);
 * IO_BULK_QUIET commands completed one at a time put it back. */
static void completions_batch(void **state)
{
    struct afix *a = *state;
    port_start(a, 0);
    unsigned cap = a->h->pci.msi.cap;
    vf_cfg_write(&a->f, a->h->pci.slot, cap + 4, 4, 0xfee00000);
    vf_cfg_write(&a->f, a->h->pci.slot, cap + 12, 2, 0x4041);
    vf_cfg_write(&a->f, a->h->pci.slot, cap + 2, 2, 1);
    assert_int_equal(io_policy(a), SCHED_OTHER);
    for (unsigned s = 0; s < 8; s++)
        build(a, 0, s, 0x25, s * 8, 8, 1, 4096, NULL, false);
    int before = atomic_load(&a->f.msis);
    pthread_mutex_lock(&a->h->lock); /* the I/O thread reaps once the 8 reads have finished */
    ahci_reg_write(a->h, PR(0, PX_CI), 0xff);
    usleep(50000);
    pthread_mutex_unlock(&a->h->lock);
    for (int i = 0; i < 5000 && rd(a, PR(0, PX_CI)); i++)
        usleep(1000);
    assert_int_equal(rd(a, PR(0, PX_CI)), 0);
    vf_quiesce(&a->f);
    assert_int_equal(atomic_load(&a->f.msis), before + 1);
    assert_int_equal(io_policy(a), SCHED_BATCH);
    assert_false(ack(a, 0) & PX_IS_TFES);
    for (unsigned k = 0; k + 1 < IO_BULK_QUIET; k++) {
        build(a, 0, 0, 0x25, 0, 1, 1, 512, NULL, false);
        run(a, 0, 0);
        ack(a, 0);
    }
    assert_int_equal(io_policy(a), SCHED_BATCH);
    build(a, 0, 0, 0x25, 0, 1, 1, 512, NULL, false);
    run(a, 0, 0);
    assert_int_equal(io_policy(a), SCHED_OTHER);
}

static void hostile_lists(void **state)
{
    struct afix *a = *state;
    port_start(a, 0);
    /* more PRDT entries than accepted */
    build(a, 0, 0, 0x25, 0, 1, 1, 512, NULL, false);
    ((struct ahci_cmd_hdr *)ram(a, CLB(0), 32))->opts = 5 | 65535u << 16;
    run(a, 0, 0);
    assert_true(ack(a, 0) & PX_IS_TFES);
    /* a PRD outside RAM, one wrapping 2^64, one too short for the transfer */
    uint64_t bad[] = {VF_RAM - 256, 0xfffffffffffff000ULL};
    for (unsigned i = 0; i < 2; i++) {
        build(a, 0, 1, 0x25, 0, 8, 1, 4096, NULL, false);
        struct ahci_prd *e = ram(a, CT(0, 1) + 0x80, 16);
        e->dba = (uint32_t)bad[i], e->dbau = (uint32_t)(bad[i] >> 32);
        run(a, 0, 1);
        assert_true(ack(a, 0) & PX_IS_TFES);
    }
    build(a, 0, 1, 0x25, 0, 8, 1, 1024, NULL, false);
    run(a, 0, 1);
    assert_true(ack(a, 0) & PX_IS_TFES);
    /* a bad CFL, a FIS that is not H2D */
    build(a, 0, 2, 0x25, 0, 1, 1, 512, NULL, false);
    ((struct ahci_cmd_hdr *)ram(a, CLB(0) + 64, 32))->opts = 1 | 1u << 16;
    run(a, 0, 2);
    assert_true(ack(a, 0) & PX_IS_TFES);
    build(a, 0, 2, 0x25, 0, 1, 1, 512, NULL, false);
    *(uint8_t *)ram(a, CT(0, 2), 1) = 0x34;
    run(a, 0, 2);
    assert_true(ack(a, 0) & PX_IS_TFES);
    /* a command table outside RAM: host bus fatal error */
    build(a, 0, 3, 0x25, 0, 1, 1, 512, NULL, false);
    ((struct ahci_cmd_hdr *)ram(a, CLB(0) + 96, 32))->ctba = 0xfffff000;
    run(a, 0, 3);
    assert_true(ack(a, 0) & PX_IS_HBFS);
    /* the command list outside RAM */
    wr(a, PR(0, PX_CMD), 0);
    wr(a, PR(0, PX_CLB), 0xfffffc00);
    wr(a, PR(0, PX_CLBU), 0xffffffff);
    wr(a, PR(0, PX_CMD), PX_CMD_FRE | PX_CMD_ST);
    run(a, 0, 4);
    assert_true(ack(a, 0) & PX_IS_HBFS);
    /* the receive area outside RAM */
    wr(a, PR(0, PX_CMD), 0);
    wr(a, PR(0, PX_CLBU), 0);
    wr(a, PR(0, PX_CLB), (uint32_t)CLB(0));
    wr(a, PR(0, PX_FB), 0xffffff00);
    wr(a, PR(0, PX_CMD), PX_CMD_FRE | PX_CMD_ST);
    build(a, 0, 5, 0xe7, 0, 0, 0, 0, NULL, false);
    run(a, 0, 5);
    assert_true(ack(a, 0) & PX_IS_HBFS);
    /* after all that, a good read still works */
    wr(a, PR(0, PX_FB), (uint32_t)FB(0));
    build(a, 0, 6, 0x25, 3, 1, 1, 512, NULL, false);
    run(a, 0, 6);
    assert_false(ack(a, 0) & (PX_IS_TFES | PX_IS_HBFS));
    assert_int_equal(prdbc(a, 0, 6), 512);
    assert_true(a->h->port[0].nbad >= 8);
}

/* Send CDB to the CD-ROM on port 1; returns the sense key (0: good). */
static uint8_t packet(struct afix *a, const uint8_t *cdb, uint32_t len, unsigned nprd)
{
    uint8_t c[16] = {0};
    memcpy(c, cdb, 12);
    build(a, 1, 0, 0xa0, 0, 0, nprd, len, c, false);
    run(a, 1, 0);
    uint32_t is = ack(a, 1);
    if (!(is & PX_IS_TFES))
        return 0;
    return (uint8_t)(rd(a, PR(1, PX_TFD)) >> 12);
}

static uint8_t sense_asc(struct afix *a)
{
    uint8_t rs[12] = {0x03, 0, 0, 0, 18};
    assert_int_equal(packet(a, rs, 18, 1), 0);
    return ((uint8_t *)ram(a, DATA, 18))[12];
}

static void atapi_commands(void **state)
{
    struct afix *a = *state;
    port_start(a, 1);
    uint8_t *d = ram(a, DATA, 65536);
    build(a, 1, 0, 0xa1, 0, 0, 1, 512, NULL, false); /* IDENTIFY PACKET DEVICE */
    run(a, 1, 0);
    assert_int_equal(((uint16_t *)d)[0], 0x85c0);
    ack(a, 1);
    uint8_t inq[12] = {0x12, 0, 0, 0, 36};
    assert_int_equal(packet(a, inq, 36, 1), 0);
    assert_int_equal(d[0], 0x05);
    assert_memory_equal(d + 8, "TRUCE", 5);
    uint8_t tur[12] = {0};
    assert_int_equal(packet(a, tur, 0, 0), 0);
    uint8_t cap[12] = {0x25};
    assert_int_equal(packet(a, cap, 8, 1), 0);
    assert_int_equal(d[3], ISO_BLOCKS - 1);
    assert_int_equal(d[6] << 8 | d[7], 2048);
    /* READ(10) of blocks 16-17: the volume descriptor */
    uint8_t rd10[12] = {0x28, 0, 0, 0, 0, 16, 0, 0, 2};
    assert_int_equal(packet(a, rd10, 2048, 2), 0);
    assert_memory_equal(d, "\001CD001\001", 7);
    /* READ(12) past the end */
    uint8_t rd12[12] = {0xa8, 0, 0, 0, 0, ISO_BLOCKS - 1, 0, 0, 0, 2};
    assert_int_equal(packet(a, rd12, 2048, 2), 0x05);
    assert_int_equal(sense_asc(a), 0x21);
    /* READ TOC: track 1 and the lead-out at the end of the media (MSF and LBA) */
    uint8_t toc[12] = {0x43, 0, 0, 0, 0, 0, 0, 0, 100};
    assert_int_equal(packet(a, toc, 20, 1), 0);
    assert_int_equal(d[0] << 8 | d[1], 18);
    assert_int_equal(d[14], 0xaa);
    assert_int_equal(d[19], ISO_BLOCKS);
    toc[1] = 0x02;
    assert_int_equal(packet(a, toc, 20, 1), 0);
    assert_int_equal(d[10], 2); /* track 1 at 00:02:00 */
    uint8_t cfg[12] = {0x46, 0, 0, 0, 0, 0, 0, 1, 0};
    assert_int_equal(packet(a, cfg, 256, 1), 0);
    assert_int_equal(d[6] << 8 | d[7], 0x0008); /* CD-ROM profile */
    uint8_t ms[12] = {0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 28};
    assert_int_equal(packet(a, ms, 28, 1), 0);
    assert_int_equal(d[8], 0x2a);
    ms[2] = 0x05; /* a page the drive does not have */
    assert_int_equal(packet(a, ms, 28, 1), 0x05);
    assert_int_equal(sense_asc(a), 0x24);
    uint8_t bad[12] = {0xff};
    assert_int_equal(packet(a, bad, 0, 0), 0x05);
    assert_int_equal(sense_asc(a), 0x20);
    uint8_t gesn_async[12] = {0x4a, 0, 0, 0, 0x10, 0, 0, 0, 8};
    assert_int_equal(packet(a, gesn_async, 8, 1), 0x05); /* only polled */
    /* the data arrives through PIO too (features bit 0 clear): a PIO Setup FIS */
    build(a, 1, 0, 0xa0, 0, 0, 1, 36, (uint8_t[16]){0x12, 0, 0, 0, 36}, false);
    ((uint8_t *)ram(a, CT(1, 0), 4))[3] = 0;
    run(a, 1, 0);
    assert_true(ack(a, 1) & PX_IS_PSS);
    assert_int_equal(prdbc(a, 1, 0), 36);
}

static void media_change(void **state)
{
    struct afix *a = *state;
    char err[256];
    port_start(a, 1);
    uint8_t *d = ram(a, DATA, 4096);
    uint8_t tur[12] = {0}, gesn[12] = {0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8};
    uint8_t lock[12] = {0x1e, 0, 0, 0, 1}, unlock[12] = {0x1e};
    /* the guest locks the door: the host cannot eject */
    assert_int_equal(packet(a, lock, 0, 0), 0);
    assert_int_equal(ahci_change_media(&a->f.vm, "cd0", NULL, err, sizeof(err)), -EBUSY);
    assert_int_equal(packet(a, unlock, 0, 0), 0);
    /* eject: not ready, medium not present; the event says removal */
    assert_int_equal(ahci_change_media(&a->f.vm, "cd0", "", err, sizeof(err)), 0);
    assert_int_equal(packet(a, tur, 0, 0), 0x02);
    assert_int_equal(sense_asc(a), 0x3a);
    assert_int_equal(packet(a, gesn, 8, 1), 0);
    assert_int_equal(d[4], 3);
    assert_int_equal(d[5], 0);
    /* insert another image: unit attention once, then ready with the new size */
    assert_int_equal(ahci_change_media(&a->f.vm, "cd0", a->iso2, err, sizeof(err)), 0);
    assert_int_equal(packet(a, gesn, 8, 1), 0); /* GESN does not consume the attention */
    assert_int_equal(d[4], 2);
    assert_int_equal(d[5], 2);
    assert_int_equal(packet(a, tur, 0, 0), 0x06);
    assert_int_equal(packet(a, tur, 0, 0), 0);
    uint8_t cap[12] = {0x25};
    assert_int_equal(packet(a, cap, 8, 1), 0);
    assert_int_equal(d[3], ISO_BLOCKS * 2 - 1);
    assert_string_equal(a->f.vm.cfg.disks[1].path, a->iso2);
    /* bad requests: not an ISO (the media stays), no such drive, the disk is no CD-ROM */
    assert_int_equal(ahci_change_media(&a->f.vm, "cd0", a->disk, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "not an ISO 9660 image"));
    assert_int_equal(ahci_change_media(&a->f.vm, "nope", a->iso, err, sizeof(err)), -ENOENT);
    assert_int_equal(ahci_change_media(&a->f.vm, "d0", a->iso, err, sizeof(err)), -ENOENT);
    assert_int_equal(packet(a, cap, 8, 1), 0);
    /* the guest ejects (START STOP UNIT, LoEj) */
    uint8_t eject[12] = {0x1b, 0, 0, 0, 0x02};
    assert_int_equal(packet(a, eject, 0, 0), 0);
    assert_int_equal(packet(a, tur, 0, 0), 0x02);
}

static void state_roundtrip(void **state)
{
    struct afix *a = *state;
    port_start(a, 0);
    port_start(a, 1);
    build(a, 0, 0, 0xec, 0, 0, 1, 512, NULL, false);
    run(a, 0, 0);
    build(a, 1, 0, 0xa0, 0, 0, 0, 0, (uint8_t[16]){0x1e, 0, 0, 0, 1}, false); /* lock */
    run(a, 1, 0);
    struct device_instance *da = st_last(&a->f.vm);
    da->ops->pause(da->dev);
    size_t len;
    uint8_t *buf = st_save(da, &len);
    struct ahci_state saved = a->h->s;
    /* a controller with other drives (only the CD-ROM, on port 0) refuses it */
    struct afix *b = calloc(1, sizeof(*b));
    strcpy(b->iso, a->iso);
    afix_create(b, false, true);
    st_expect_reject(st_last(&b->f.vm), buf, len, "sectors");
    vf_fini(&b->f);
    free(b);
    /* a fresh controller with the same drives takes it, then round-trips byte-equal */
    vf_fini(&a->f);
    afix_create(a, true, true);
    struct device_instance *db = st_last(&a->f.vm);
    char msg[256];
    if (st_restore(db, buf, len, msg, sizeof(msg)))
        fail_msg("restore: %s", msg);
    assert_memory_equal(&a->h->s, &saved, sizeof(saved));
    assert_true(a->h->s.port[1].locked);
    free(st_roundtrip(db, db, &len));
    /* the restored controller serves commands */
    build(a, 0, 1, 0x25, 7, 1, 1, 512, NULL, false);
    run(a, 0, 1);
    assert_false(ack(a, 0) & PX_IS_TFES);
    free(buf);
}

static void iso_and_config(void **state)
{
    struct afix *a = *state;
    char why[128], err[256];
    assert_null(config_iso_error(a->iso, why, sizeof(why)));
    assert_non_null(config_iso_error(a->disk, why, sizeof(why)));
    assert_non_null(config_iso_error("/nonexistent/x.iso", why, sizeof(why)));
    char small[64];
    make_file(small, "/tmp/ahci-small-XXXXXX", 4096, false, 0);
    assert_non_null(strstr(config_iso_error(small, why, sizeof(why)), "shorter"));
    unlink(small);
    struct vm_config cfg;
    config_defaults(&cfg);
    strcpy(cfg.kernel, a->disk);
    assert_int_equal(config_parse_disk(&cfg, "path=x,if=ahci", err, sizeof(err)), 0);
    assert_int_equal(cfg.disks[0].iface, DISK_IF_AHCI);
    assert_int_equal(config_parse_disk(&cfg, "path=x,if=scsi", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "if=scsi"));
    config_defaults(&cfg);
    strcpy(cfg.kernel, a->disk);
    assert_int_equal(config_parse_cdrom(&cfg, a->disk, err, sizeof(err)), 0);
    assert_true(cfg.disks[0].cdrom && cfg.disks[0].readonly);
    assert_int_equal(config_validate(&cfg, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "not an ISO 9660 image"));
    config_defaults(&cfg);
    strcpy(cfg.kernel, a->disk);
    for (unsigned i = 0; i < 7; i++)
        assert_int_equal(config_parse_cdrom(&cfg, a->iso, err, sizeof(err)), 0);
    assert_int_equal(config_validate(&cfg, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "at most 6"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(hba_registers, setup, teardown),
        cmocka_unit_test_setup_teardown(identify_and_interrupts, setup, teardown),
        cmocka_unit_test_setup_teardown(disk_io, setup, teardown),
        cmocka_unit_test_setup_teardown(completions_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(atapi_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(media_change, setup, teardown),
        cmocka_unit_test_setup_teardown(state_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(iso_and_config, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
