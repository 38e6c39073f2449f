/* ahci.h — the AHCI SATA controller (ICH9-compatible): HBA and port state, command slots, and the
 * contracts between ahci.c (registers, interrupts, device contract), ahci_cmd.c (command lists,
 * PRDTs, ATA commands), ahci_atapi.c (the CD-ROM's packet commands) and the unit tests. */
#ifndef TRUCE_AHCI_H
#define TRUCE_AHCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backend/backend.h"
#include "bus/pci.h"
#include "platform/config.h"
#include "vm/vm.h"

/* ---- what the guest sees ----------------------------------------------------------------------
 * PCI 8086:2922 (ICH9 AHCI), class 01.06.01, ABAR = 4 KiB memory BAR5, MSI and INTA. 6 ports,
 * 32 command slots each, 64-bit addressing, NCQ. A port holds an ATA disk, an ATAPI CD-ROM
 * drive (media may be absent) or nothing. */
#define AHCI_VENDOR    0x8086
#define AHCI_DEVICE    0x2922
#define AHCI_CLASS     0x010601
#define AHCI_BAR       5
#define AHCI_BAR_SIZE  4096
#define AHCI_PORTS     CFG_MAX_AHCI
#define AHCI_SLOTS     32
#define AHCI_MAX_PRD   256 /* PRDT entries accepted per command; more: the command fails */
#define AHCI_PORT_BASE 0x100
#define AHCI_PORT_LEN  0x80

/* HBA registers */
#define AHCI_CAP     0x00
#define AHCI_GHC     0x04
#define AHCI_IS      0x08
#define AHCI_PI      0x0c
#define AHCI_VS      0x10
#define AHCI_CAP2    0x24
#define AHCI_GHC_HR  (1u << 0)
#define AHCI_GHC_IE  (1u << 1)
#define AHCI_GHC_AE  (1u << 31)
#define AHCI_CAP_VAL /* S64A SNCQ SAM SSS(0) ISS=1 NCS=31 NP=5 */                                  \
    ((1u << 31) | (1u << 30) | (1u << 18) | (1u << 20) | ((AHCI_SLOTS - 1u) << 8) |                \
     (AHCI_PORTS - 1u))

/* port registers (offsets inside a port's 0x80 bytes) */
#define PX_CLB  0x00
#define PX_CLBU 0x04
#define PX_FB   0x08
#define PX_FBU  0x0c
#define PX_IS   0x10
#define PX_IE   0x14
#define PX_CMD  0x18
#define PX_TFD  0x20
#define PX_SIG  0x24
#define PX_SSTS 0x28
#define PX_SCTL 0x2c
#define PX_SERR 0x30
#define PX_SACT 0x34
#define PX_CI   0x38
#define PX_SNTF 0x3c

#define PX_CMD_ST    (1u << 0)
#define PX_CMD_SUD   (1u << 1)
#define PX_CMD_POD   (1u << 2)
#define PX_CMD_CLO   (1u << 3)
#define PX_CMD_FRE   (1u << 4)
#define PX_CMD_FR    (1u << 14)
#define PX_CMD_CR    (1u << 15)
#define PX_CMD_ATAPI (1u << 24)
#define PX_CMD_WMASK 0xfc000017u /* ST SUD POD FRE ATAPI DLAE ALPE ASP ICC (CLO acts at once) */
#define PX_IS_DHRS   (1u << 0)
#define PX_IS_PSS    (1u << 1)
#define PX_IS_SDBS   (1u << 3)
#define PX_IS_DPS    (1u << 5)
#define PX_IS_PCS    (1u << 6)
#define PX_IS_OFS    (1u << 24)
#define PX_IS_IFS    (1u << 27)
#define PX_IS_HBFS   (1u << 29)
#define PX_IS_TFES   (1u << 30)
#define PX_IS_MASK   0xfdc000ffu
#define PX_SIG_ATA   0x00000101u
#define PX_SIG_ATAPI 0xeb140101u
#define PX_SSTS_UP   0x113u /* IPM active, Gen1, device present with Phy communication */

/* ATA status and error bits */
#define ATA_ST_ERR  0x01
#define ATA_ST_DRQ  0x08
#define ATA_ST_DSC  0x10
#define ATA_ST_DRDY 0x40
#define ATA_ST_BSY  0x80
#define ATA_ST_OK   (ATA_ST_DRDY | ATA_ST_DSC)
#define ATA_ER_ABRT 0x04
#define ATA_ER_IDNF 0x10
#define ATA_ER_UNC  0x40

/* Received-FIS area offsets */
#define RFIS_PSFIS 0x20
#define RFIS_RFIS  0x40
#define RFIS_SDB   0x58
#define RFIS_SIZE  256

/* One command-list entry (the command header), as the guest writes it. */
struct ahci_cmd_hdr {
    uint32_t opts; /* CFL 4:0 (dwords), A 5, W 6, P 7, R 8, B 9, C 10, PMP 15:12, PRDTL 31:16 */
    uint32_t prdbc;
    uint32_t ctba, ctbau;
    uint32_t rsvd[4];
};
_Static_assert(sizeof(struct ahci_cmd_hdr) == 32, "AHCI command header");

struct ahci_prd {
    uint32_t dba, dbau, rsvd;
    uint32_t dbc; /* byte count - 1 in 21:0, I (interrupt on completion) 31 */
};
_Static_assert(sizeof(struct ahci_prd) == 16, "AHCI PRDT entry");

#define AHCI_CT_CFIS 0x00
#define AHCI_CT_ACMD 0x40
#define AHCI_CT_PRDT 0x80
#define AHCI_HDR_A   (1u << 5)
#define AHCI_HDR_W   (1u << 6)
#define AHCI_HDR_C   (1u << 10)
#define FIS_TYPE_H2D 0x27
#define FIS_TYPE_D2H 0x34
#define FIS_TYPE_PIO 0x5f
#define FIS_TYPE_SDB 0xa1
#define CD_BLOCK     2048

/* ---- guest-visible state (saved) --------------------------------------------------------------
 */
#define AHCI_STATE_VERSION 1

struct ahci_port_state {
    uint32_t clb, clbu, fb, fbu, is, ie, cmd, tfd, sig, ssts, sctl, serr, sact, ci, sntf;
    bool srst; /* a control FIS set SRST: the reset happens when it is cleared */
    /* ATAPI: sense data for REQUEST SENSE, pending media event, door lock, media present */
    uint8_t sense_key, asc, ascq;
    uint8_t media_event; /* 0 none, 2 new media, 3 media removal (GET EVENT STATUS NOTIFICATION) */
    bool ua;             /* a unit attention (media changed) is due on the next command */
    bool locked;         /* PREVENT MEDIUM REMOVAL */
    bool media;
};

struct ahci_state {
    uint32_t ghc, is;
    struct ahci_port_state port[AHCI_PORTS];
};

/* ---- runtime ----------------------------------------------------------------------------------
 */
struct ahci;

enum ahci_op { AHCI_OP_NONE, AHCI_OP_READ, AHCI_OP_WRITE, AHCI_OP_FLUSH, AHCI_OP_CD_READ };

/* A command in flight: what the backend needs, and how to finish it. */
struct ahci_slot {
    bool busy;
    bool ncq;
    bool pio;        /* PIO data-in protocol: a PIO Setup FIS carries the ending status */
    uint8_t op;      /* enum ahci_op */
    uint8_t d2h[20]; /* the D2H FIS to post (bytes 4-13 set by the command; 0-3 at the end) */
    uint64_t hdr;    /* guest address of the command header (PRDBC is written there) */
    uint64_t lba;
    uint32_t nbytes; /* data bytes the command moves */
    unsigned niov;
    struct iovec iov[AHCI_MAX_PRD];
};

struct ahci_port {
    struct ahci *hba;
    unsigned num;
    bool present; /* a drive is attached */
    bool cdrom;
    bool has_disk; /* disk is open (a CD-ROM drive may be empty) */
    struct disk disk;
    uint64_t sectors; /* 512-byte sectors (disk) or 2048-byte blocks (CD) */
    char id[CFG_ID_LEN];
    char path[PATH_MAX];
    char serial[CFG_SERIAL_LEN];
    bool readonly;
    struct ahci_slot *slot; /* AHCI_SLOTS, allocated for present ports */
    bool watching;          /* disk.efd is on the I/O thread's loop */
    /* counters (metrics, tests) */
    uint64_t nreads, nwrites, nflushes, nerrors, bytes_read, bytes_written, nbad;
};

struct ahci {
    struct vm *vm;
    struct pci_dev pci;
    pthread_mutex_t lock; /* everything below, the ports and their disks */
    struct ahci_state s;
    struct ahci_port port[AHCI_PORTS];
    bool paused;
    bool irq_level; /* last computed interrupt condition */
    /* the I/O thread reaping a port's completions: one interrupt for the whole batch */
    bool batching, batch_event;
    struct io_bulk_batch bulk; /* completions found per reap (I/O thread) */
    struct io_bulk bulk_sched;
};

/* ---- ahci.c ---------------------------------------------------------------------------------- */
/* Register accesses as the guest makes them (tests call these; the BAR handlers do too). Only
 * aligned 4-byte accesses do anything; others read as zero and are ignored. */
uint32_t ahci_reg_read(struct ahci *h, uint64_t off);
void ahci_reg_write(struct ahci *h, uint64_t off, uint32_t val);
/* Re-evaluate the interrupt after a change of PxIS/IS/IE/GHC (lock held). */
void ahci_update_irq(struct ahci *h);
/* A new event (a command finished, lock held): the interrupt is re-evaluated and MSI sent again,
 * once for a whole batch of completions the I/O thread reaps. */
void ahci_event(struct ahci *h);
/* Create the controller for every AHCI drive in vm->cfg (0 when there is none). */
int ahci_create(struct vm *vm, char *err, size_t errlen);
/* The controller of VM, or NULL. */
struct ahci *ahci_find(struct vm *vm);
/* Swap the media of CD-ROM drive DRIVE_ID: PATH an ISO 9660 image to insert (replacing what is
 * there), or NULL/"" to eject. The guest sees a media-change event (GET EVENT STATUS
 * NOTIFICATION) and a unit attention. Any thread not holding the lock (e.g. the API). Returns 0,
 * -ENOENT (no such CD-ROM drive), -EBUSY (the guest locked the door; eject refused) or -EINVAL
 * (PATH cannot be used; the old media stays), with one line in ERR. */
int ahci_change_media(struct vm *vm, const char *drive_id, const char *path, char *err,
                      size_t errlen);

/* ---- ahci_cmd.c ------------------------------------------------------------------------------ */
/* The guest set bits in PxCI (NEW): fetch and start each command (lock held). */
void ahci_port_issue(struct ahci_port *p, uint32_t new);
/* disk_reap callback: finish the slot TAG with backend result RES (lock held). */
void ahci_disk_done(void *opaque, void *tag, int res);
/* Finish slot N of P: status ST and error ER into PxTFD and the D2H (or SDB, for NCQ) FIS, PRDBC
 * = BYTES, PxCI/PxSACT cleared, interrupt bits set. PIO is true for PIO data-in commands (a PIO
 * Setup FIS is posted too). Lock held. */
void ahci_slot_finish(struct ahci_port *p, unsigned n, uint8_t st, uint8_t er, uint32_t bytes,
                      bool pio);
/* Build the iovec of slot S from the PRDT of NPRD entries at CTBA (every entry checked against
 * guest RAM), covering exactly NEED bytes (fewer when the PRDT is shorter: *GOT says how many).
 * Returns 0, -E2BIG (more than AHCI_MAX_PRD entries) or -EFAULT (an entry outside RAM). */
int ahci_prdt_map(struct ahci *h, struct ahci_slot *s, uint64_t ctba, unsigned nprd, uint64_t need,
                  uint64_t *got);
/* Copy LEN bytes of BUF into slot S's iovec; returns the bytes copied. */
uint32_t ahci_iov_fill(struct ahci_slot *s, const void *buf, uint32_t len);
/* The 512-byte IDENTIFY (PACKET) DEVICE data of P. */
void ahci_identify(const struct ahci_port *p, uint16_t id[256]);
/* Post the signature D2H FIS of P (after a reset) and set PxSIG/PxTFD. Lock held. */
void ahci_port_signature(struct ahci_port *p);

/* ---- ahci_atapi.c ---------------------------------------------------------------------------- */
/* Execute the ATAPI packet CDB (16 bytes) of slot N of P, whose PRDT is at CTBA with NPRD entries.
 * Finishes the slot now or starts a read on the backend (lock held). */
void ahci_atapi_packet(struct ahci_port *p, unsigned n, const uint8_t *cdb, uint64_t ctba,
                       unsigned nprd, bool dma);
/* Set the sense data of P (lock held). */
void ahci_atapi_sense(struct ahci_port *p, uint8_t key, uint8_t asc, uint8_t ascq);
/* Finish slot N of P with CHECK CONDITION: sense KEY/ASC/ASCQ (lock held). */
void ahci_atapi_fail(struct ahci_port *p, unsigned n, uint8_t key, uint8_t asc, uint8_t ascq);

/* ---- ahci_state.c ---------------------------------------------------------------------------- */
/* The one description of the controller's guest-visible state (util/state.h). */
struct state_visitor;
void ahci_state_visit(struct state_visitor *v, struct ahci_state *s);

#endif
