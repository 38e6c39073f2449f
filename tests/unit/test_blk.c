/* test_blk.c — virtio-blk: the request parser with malformed requests, and real I/O on a file. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "statetest.h"
#include "virtio/blk.h"
#include "virtio_fixture.h"

#define V1 (1ULL << VIRTIO_F_VERSION_1)

/* ---- parser ------------------------------------------------------------------------------ */

struct pfix {
    struct virtio_blk b;
    struct blk_req r;
    struct virtio_blk_outhdr hdr;
    uint8_t data[4096];
    uint8_t status;
};

static int psetup(void **state)
{
    struct pfix *p = calloc(1, sizeof(*p));
    p->b.capacity = 100;
    p->b.vdev.guest_features = V1 | 1ULL << VIRTIO_BLK_F_FLUSH | 1ULL << VIRTIO_BLK_F_DISCARD |
                               1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
    *state = p;
    return 0;
}

static int pteardown(void **state)
{
    free(*state);
    return 0;
}

/* Chain: header (readable), LEN bytes of data (readable when OUT), status (writable). */
static uint8_t parse(struct pfix *p, uint32_t type, uint64_t sector, size_t len, bool out)
{
    struct virtq_chain *c = &p->r.chain;
    p->hdr = (struct virtio_blk_outhdr){.type = type, .sector = sector};
    *c = (struct virtq_chain){.iov = p->r.iov, .max_iov = BLK_MAX_IOV};
    c->iov[c->nout++] = (struct iovec){&p->hdr, sizeof(p->hdr)};
    c->out_len = sizeof(p->hdr);
    if (len && out) {
        c->iov[c->nout++] = (struct iovec){p->data, len};
        c->out_len += (uint32_t)len;
    } else if (len) {
        c->iov[c->nout + c->nin++] = (struct iovec){p->data, len};
        c->in_len += (uint32_t)len;
    }
    c->iov[c->nout + c->nin++] = (struct iovec){&p->status, 1};
    c->in_len += 1;
    return blk_parse(&p->b, &p->r);
}

static void parses_reads_and_writes(void **state)
{
    struct pfix *p = *state;
    assert_int_equal(parse(p, VIRTIO_BLK_T_IN, 3, 1024, false), VIRTIO_BLK_S_OK);
    assert_int_equal(p->r.data_len, 1024);
    assert_int_equal(p->r.ndata, 1);
    assert_ptr_equal(p->r.status, &p->status);
    assert_int_equal(parse(p, VIRTIO_BLK_T_OUT, 98, 1024, true), VIRTIO_BLK_S_OK);
    assert_int_equal(p->r.sector, 98);
    assert_ptr_equal(p->r.data[0].iov_base, p->data);
    assert_int_equal(parse(p, VIRTIO_BLK_T_IN, 100, 0, false), VIRTIO_BLK_S_OK); /* empty */
    assert_int_equal(parse(p, VIRTIO_BLK_T_FLUSH, 0, 0, false), VIRTIO_BLK_S_OK);
}

static void rejects_bad_ranges_and_lengths(void **state)
{
    struct pfix *p = *state;
    assert_int_equal(parse(p, VIRTIO_BLK_T_IN, 0, 100, false), VIRTIO_BLK_S_IOERR);
    assert_int_equal(parse(p, VIRTIO_BLK_T_IN, 99, 1024, false), VIRTIO_BLK_S_IOERR);
    assert_int_equal(parse(p, VIRTIO_BLK_T_IN, 101, 0, false), VIRTIO_BLK_S_IOERR);
    assert_int_equal(parse(p, VIRTIO_BLK_T_OUT, UINT64_MAX, 512, true), VIRTIO_BLK_S_IOERR);
    assert_int_equal(parse(p, VIRTIO_BLK_T_OUT, UINT64_MAX / 512 + 1, 512, true),
                     VIRTIO_BLK_S_IOERR);
}

static void rejects_malformed_headers(void **state)
{
    struct pfix *p = *state;
    struct virtq_chain *c = &p->r.chain;
    /* header shorter than 16 bytes */
    parse(p, VIRTIO_BLK_T_IN, 0, 512, false);
    c->iov[0].iov_len = 8;
    c->out_len = 8;
    assert_int_equal(blk_parse(&p->b, &p->r), VIRTIO_BLK_S_IOERR);
    /* header split over two descriptors is fine */
    parse(p, VIRTIO_BLK_T_IN, 7, 512, false);
    memmove(&c->iov[2], &c->iov[1], 2 * sizeof(struct iovec));
    c->iov[0].iov_len = 5;
    c->iov[1] = (struct iovec){(uint8_t *)&p->hdr + 5, 11};
    c->nout = 2;
    assert_int_equal(blk_parse(&p->b, &p->r), VIRTIO_BLK_S_OK);
    assert_int_equal(p->r.sector, 7);
    /* no writable byte at all: nothing can be reported */
    parse(p, VIRTIO_BLK_T_OUT, 0, 512, true);
    c->nin = 0;
    c->in_len = 0;
    assert_int_equal(blk_parse(&p->b, &p->r), BLK_NO_STATUS);
    /* unknown and unsupported types */
    assert_int_equal(parse(p, 0x1234, 0, 0, false), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(parse(p, VIRTIO_BLK_T_SCSI_CMD, 0, 0, false), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(parse(p, VIRTIO_BLK_T_SECURE_ERASE, 0, 16, true), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(parse(p, VIRTIO_BLK_T_IN | VIRTIO_BLK_T_BARRIER, 0, 512, false),
                     VIRTIO_BLK_S_UNSUPP);
}

static void status_byte_shares_data_descriptor(void **state)
{
    struct pfix *p = *state;
    struct virtq_chain *c = &p->r.chain;
    parse(p, VIRTIO_BLK_T_IN, 0, 0, false);
    c->iov[1] = (struct iovec){p->data, 513}; /* data + status in one buffer */
    c->in_len = 513;
    assert_int_equal(blk_parse(&p->b, &p->r), VIRTIO_BLK_S_OK);
    assert_int_equal(p->r.data_len, 512);
    assert_ptr_equal(p->r.status, p->data + 512);
}

static void read_only_refuses_writes(void **state)
{
    struct pfix *p = *state;
    p->b.readonly = true;
    assert_int_equal(parse(p, VIRTIO_BLK_T_OUT, 0, 512, true), VIRTIO_BLK_S_IOERR);
    struct virtio_blk_discard_write_zeroes s = {.sector = 0, .num_sectors = 1};
    memcpy(p->data, &s, sizeof(s));
    assert_int_equal(parse(p, VIRTIO_BLK_T_DISCARD, 0, 16, true), VIRTIO_BLK_S_IOERR);
    assert_int_equal(parse(p, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, true), VIRTIO_BLK_S_IOERR);
    assert_int_equal(parse(p, VIRTIO_BLK_T_IN, 0, 512, false), VIRTIO_BLK_S_OK);
    assert_int_equal(parse(p, VIRTIO_BLK_T_FLUSH, 0, 0, false), VIRTIO_BLK_S_OK);
}

static uint8_t parse_seg(struct pfix *p, uint32_t type, uint64_t sector, uint32_t n, uint32_t flags,
                         size_t len)
{
    struct virtio_blk_discard_write_zeroes s = {.sector = sector, .num_sectors = n, .flags = flags};
    memcpy(p->data, &s, sizeof(s));
    memcpy(p->data + 16, &s, sizeof(s));
    return parse(p, type, 0, len, true);
}

static void discard_and_write_zeroes_segments(void **state)
{
    struct pfix *p = *state;
    assert_int_equal(parse_seg(p, VIRTIO_BLK_T_DISCARD, 8, 16, 0, 16), VIRTIO_BLK_S_OK);
    assert_int_equal(p->r.sector, 8);
    assert_int_equal(p->r.nsect, 16);
    assert_int_equal(
        parse_seg(p, VIRTIO_BLK_T_WRITE_ZEROES, 0, 100, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP, 16),
        VIRTIO_BLK_S_OK);
    assert_int_equal(parse_seg(p, VIRTIO_BLK_T_DISCARD, 0, 1, 1, 16), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(parse_seg(p, VIRTIO_BLK_T_DISCARD, 0, 1, 0, 32), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(parse_seg(p, VIRTIO_BLK_T_DISCARD, 0, 1, 0, 8), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(parse_seg(p, VIRTIO_BLK_T_DISCARD, 0, 0, 0, 16), VIRTIO_BLK_S_IOERR);
    assert_int_equal(parse_seg(p, VIRTIO_BLK_T_DISCARD, 90, 11, 0, 16), VIRTIO_BLK_S_IOERR);
    assert_int_equal(parse_seg(p, VIRTIO_BLK_T_WRITE_ZEROES, UINT64_MAX, 1, 0, 16),
                     VIRTIO_BLK_S_IOERR);
    p->b.vdev.guest_features = V1; /* not negotiated */
    assert_int_equal(parse_seg(p, VIRTIO_BLK_T_DISCARD, 0, 1, 0, 16), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(parse(p, VIRTIO_BLK_T_FLUSH, 0, 0, false), VIRTIO_BLK_S_UNSUPP);
}

static void get_id_bounded(void **state)
{
    struct pfix *p = *state;
    assert_int_equal(parse(p, VIRTIO_BLK_T_GET_ID, 0, 5, false), VIRTIO_BLK_S_OK);
    assert_int_equal(p->r.data_len, 5);
    assert_int_equal(parse(p, VIRTIO_BLK_T_GET_ID, 0, 64, false), VIRTIO_BLK_S_OK);
    assert_int_equal(p->r.data_len, VIRTIO_BLK_ID_BYTES);
}

/* ---- device on a real file --------------------------------------------------------------- */

struct dfix {
    struct vfix f; /* first: the MSI hook finds the fixture from the vm pointer */
    char path[64];
    atomic_int cfg_msis; /* MSIs on the configuration vector (vf_bringup: vector 0, data 0x40) */
    atomic_int vec_msis[BLK_MAX_QUEUES + 1]; /* MSIs per vector (queue Q: vector Q + 1) */
};

static int count_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
    if (data == 0x40)
        atomic_fetch_add(&((struct dfix *)vm)->cfg_msis, 1);
    if (data >= 0x40 && data <= 0x40 + BLK_MAX_QUEUES)
        atomic_fetch_add(&((struct dfix *)vm)->vec_msis[data - 0x40], 1);
    return vf_msi(vm, addr, data);
}

/* The rate limiter of the next device dev_open creates. */
static struct rl_config next_limit;
/* The queue count (disk_config.queues) and vCPUs of the next device dev_open creates. */
static unsigned next_queues, next_cpus;

static struct dfix *dev_open(off_t size, bool readonly, const char *serial)
{
    struct dfix *x = calloc(1, sizeof(*x));
    snprintf(x->path, sizeof(x->path), "/tmp/truce-blk-XXXXXX");
    int fd = mkstemp(x->path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, size), 0);
    close(fd);
    vf_init(&x->f);
    x->f.vm.pci->irq.msi = count_msi;
    struct disk_config *dc = &x->f.vm.cfg.disks[x->f.vm.cfg.ndisks++];
    *dc = (struct disk_config){
        .readonly = readonly, .rate_limiter = next_limit, .queues = (uint8_t)next_queues};
    x->f.vm.cfg.cpus = next_cpus;
    snprintf(dc->id, sizeof(dc->id), "drive0");
    snprintf(dc->path, sizeof(dc->path), "%s", x->path);
    snprintf(dc->serial, sizeof(dc->serial), "%s", serial);
    char err[256] = "";
    assert_int_equal(virtio_blk_create(&x->f.vm, dc, err, sizeof(err)), 0);
    vf_probe(&x->f, 1);
    vf_bringup(&x->f, vf_features(&x->f), next_queues ? next_queues : 1);
    return x;
}

static void dev_close(struct dfix *x)
{
    vf_fini(&x->f);
    unlink(x->path);
    free(x);
}

#define HDR(k)  (VF_BUF + 0x100000 * (k))
#define STS(k)  (HDR(k) + 0x100)
#define DATA(k) (HDR(k) + 0x1000)

/* Write request K (descs 3(K % 32)..+2 of queue Q; buffers K) of TYPE on SECTOR with LEN data
 * bytes; returns its head, not yet offered. */
static uint16_t prep_q(struct dfix *x, unsigned q, unsigned k, uint32_t type, uint64_t sector,
                       uint32_t len, bool dev_writes)
{
    struct vfix *f = &x->f;
    struct virtio_blk_outhdr h = {.type = type, .sector = sector};
    uint8_t st = 0xee;
    guest_mem_write(&f->vm.mem, HDR(k), &h, sizeof(h));
    guest_mem_write(&f->vm.mem, STS(k), &st, 1);
    unsigned d = 3 * (k % 32);
    vf_desc(f, q, d, HDR(k), sizeof(h), VRING_DESC_F_NEXT, (uint16_t)(d + (len ? 1 : 2)));
    if (len)
        vf_desc(f, q, d + 1, DATA(k), len,
                VRING_DESC_F_NEXT | (dev_writes ? VRING_DESC_F_WRITE : 0), (uint16_t)(d + 2));
    vf_desc(f, q, d + 2, STS(k), 1, VRING_DESC_F_WRITE, 0);
    return (uint16_t)d;
}

/* Post request K (prep_q) and notify. */
static void post_q(struct dfix *x, unsigned q, unsigned k, uint32_t type, uint64_t sector,
                   uint32_t len, bool dev_writes)
{
    vf_offer(&x->f, q, prep_q(x, q, k, type, sector, len, dev_writes));
}

static void post(struct dfix *x, unsigned k, uint32_t type, uint64_t sector, uint32_t len,
                 bool dev_writes)
{
    post_q(x, 0, k, type, sector, len, dev_writes);
}

static uint8_t status_of(struct dfix *x, unsigned k)
{
    uint8_t st;
    guest_mem_read(&x->f.vm.mem, STS(k), &st, 1);
    return st;
}

/* Post one request and wait for it; returns its status. */
static uint8_t run1(struct dfix *x, uint32_t type, uint64_t sector, uint32_t len, bool dev_writes)
{
    uint16_t want = (uint16_t)(vf_used_idx(&x->f, 0) + 1);
    post(x, 0, type, sector, len, dev_writes);
    assert_true(vf_wait_used(&x->f, 0, want));
    return status_of(x, 0);
}

static void write_read_back_many_in_flight(void **state)
{
    struct dfix *x = dev_open(1 * MiB, false, "S1");
    struct vfix *f = &x->f;
    for (unsigned k = 0; k < 8; k++) {
        memset(gpa_to_hva(&f->vm.mem, DATA(k), 4096), 0x30 + k, 4096);
        post(x, k, VIRTIO_BLK_T_OUT, 8 * k, 4096, false);
    }
    assert_true(vf_wait_used(f, 0, 8));
    for (unsigned k = 0; k < 8; k++)
        assert_int_equal(status_of(x, k), VIRTIO_BLK_S_OK);
    assert_int_equal(run1(x, VIRTIO_BLK_T_FLUSH, 0, 0, false), VIRTIO_BLK_S_OK);
    for (unsigned k = 0; k < 8; k++) {
        memset(gpa_to_hva(&f->vm.mem, DATA(k), 4096), 0, 4096);
        post(x, k, VIRTIO_BLK_T_IN, 8 * k, 4096, true);
    }
    assert_true(vf_wait_used(f, 0, 17));
    for (unsigned k = 0; k < 8; k++) {
        assert_int_equal(status_of(x, k), VIRTIO_BLK_S_OK);
        uint8_t *p = gpa_to_hva(&f->vm.mem, DATA(k), 4096);
        assert_int_equal(p[0], 0x30 + k);
        assert_int_equal(p[4095], 0x30 + k);
    }
    /* the bytes really are in the file */
    uint8_t b = 0;
    int fd = open(x->path, O_RDONLY);
    assert_int_equal(pread(fd, &b, 1, 5 * 4096 + 7), 1);
    close(fd);
    assert_int_equal(b, 0x35);
    dev_close(x);
}

static void get_id_returns_serial(void **state)
{
    struct dfix *x = dev_open(64 * KiB, false, "TRUCE-SERIAL-01");
    assert_int_equal(run1(x, VIRTIO_BLK_T_GET_ID, 0, 20, true), VIRTIO_BLK_S_OK);
    char id[21] = {0};
    guest_mem_read(&x->f.vm.mem, DATA(0), id, 20);
    assert_string_equal(id, "TRUCE-SERIAL-01");
    struct vring_used_elem e = vf_used(&x->f, 0, 0);
    assert_int_equal(e.len, 21);
    dev_close(x);
}

static void read_only_device(void **state)
{
    struct dfix *x = dev_open(64 * KiB, true, "");
    assert_true(vf_features(&x->f) & 1ULL << VIRTIO_BLK_F_RO);
    assert_false(vf_features(&x->f) & 1ULL << VIRTIO_BLK_F_DISCARD);
    memset(gpa_to_hva(&x->f.vm.mem, DATA(0), 512), 0x77, 512);
    assert_int_equal(run1(x, VIRTIO_BLK_T_OUT, 0, 512, false), VIRTIO_BLK_S_IOERR);
    assert_int_equal(run1(x, VIRTIO_BLK_T_IN, 0, 512, true), VIRTIO_BLK_S_OK);
    assert_int_equal(*(uint8_t *)gpa_to_hva(&x->f.vm.mem, DATA(0), 1), 0);
    dev_close(x);
}

static void size_not_multiple_of_512(void **state)
{
    struct dfix *x = dev_open(1000, false, "");
    uint64_t cap = vf_rd(&x->f, x->f.devcfg, 8);
    assert_int_equal(cap, 1);
    assert_int_equal(run1(x, VIRTIO_BLK_T_IN, 0, 512, true), VIRTIO_BLK_S_OK);
    assert_int_equal(run1(x, VIRTIO_BLK_T_IN, 1, 512, true), VIRTIO_BLK_S_IOERR);
    assert_int_equal(run1(x, VIRTIO_BLK_T_OUT, 0, 1024, false), VIRTIO_BLK_S_IOERR);
    struct stat st;
    stat(x->path, &st);
    assert_int_equal(st.st_size, 1000); /* the tail was never touched */
    dev_close(x);
}

static void write_zeroes_and_discard(void **state)
{
    struct dfix *x = dev_open(1 * MiB, false, "");
    struct vfix *f = &x->f;
    if (!(vf_features(f) & 1ULL << VIRTIO_BLK_F_WRITE_ZEROES)) {
        dev_close(x); /* file system without hole punching: nothing offered, nothing to test */
        skip();
    }
    memset(gpa_to_hva(&f->vm.mem, DATA(0), 8192), 0x5a, 8192);
    assert_int_equal(run1(x, VIRTIO_BLK_T_OUT, 16, 8192, false), VIRTIO_BLK_S_OK);
    struct virtio_blk_discard_write_zeroes s = {.sector = 16, .num_sectors = 8};
    guest_mem_write(&f->vm.mem, DATA(0), &s, sizeof(s));
    assert_int_equal(run1(x, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false), VIRTIO_BLK_S_OK);
    s.sector = 24;
    guest_mem_write(&f->vm.mem, DATA(0), &s, sizeof(s));
    assert_int_equal(run1(x, VIRTIO_BLK_T_DISCARD, 0, 16, false), VIRTIO_BLK_S_OK);
    assert_int_equal(run1(x, VIRTIO_BLK_T_IN, 16, 8192, true), VIRTIO_BLK_S_OK);
    uint8_t *p = gpa_to_hva(&f->vm.mem, DATA(0), 8192);
    for (unsigned i = 0; i < 8192; i += 511)
        assert_int_equal(p[i], 0);
    dev_close(x);
}

static void io_error_reaches_guest(void **state)
{
    struct dfix *x = dev_open(1 * MiB, false, "");
    assert_int_equal(truncate(x->path, 0), 0); /* the image shrinks under the VM */
    assert_int_equal(run1(x, VIRTIO_BLK_T_IN, 0, 4096, true), VIRTIO_BLK_S_IOERR);
    /* the device keeps working */
    assert_int_equal(run1(x, VIRTIO_BLK_T_OUT, 0, 4096, false), VIRTIO_BLK_S_OK);
    assert_int_equal(run1(x, VIRTIO_BLK_T_IN, 0, 4096, true), VIRTIO_BLK_S_OK);
    dev_close(x);
}

static void reset_with_requests_in_flight(void **state)
{
    struct dfix *x = dev_open(4 * MiB, false, "");
    struct vfix *f = &x->f;
    for (unsigned k = 0; k < 16; k++)
        post(x, k, VIRTIO_BLK_T_OUT, 64 * k, 32768, false);
    vf_set_status(f, 0); /* rmmod while busy */
    assert_int_equal(vf_status(f), 0);
    vf_bringup(f, V1, 1); /* insmod */
    assert_int_equal(run1(x, VIRTIO_BLK_T_IN, 0, 512, true), VIRTIO_BLK_S_OK);
    dev_close(x);
}

static void busy_device_refuses_second_writer(void **state)
{
    struct dfix *x = dev_open(64 * KiB, false, "");
    struct disk d;
    char err[256];
    assert_int_equal(disk_open(&d, x->path, false, 4, err, sizeof(err)), -EWOULDBLOCK);
    assert_non_null(strstr(err, "in use"));
    assert_int_equal(disk_open(&d, "/nonexistent/x.img", true, 4, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/x.img"));
    dev_close(x);
}

struct done_rec {
    int n;
    void *tag[8];
    int res[8];
};

static void on_done(void *opaque, void *tag, int res)
{
    struct done_rec *r = opaque;
    r->tag[r->n] = tag;
    r->res[r->n++] = res;
}

/* Run the backend's operations through one path (io_uring or the synchronous fallback). */
static void backend_ops(bool sync)
{
    char path[] = "/tmp/truce-disk-XXXXXX", err[256];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1 * MiB), 0);
    close(fd);
    struct disk d;
    assert_int_equal(disk_open(&d, path, false, 4, err, sizeof(err)), 0);
    if (sync) {
        assert_int_equal(disk_use_sync(&d), 0);
        assert_false(d.uring);
    }
    uint8_t wbuf[4096], rbuf[4096] = {0};
    memset(wbuf, 0xc3, sizeof(wbuf));
    struct iovec w = {wbuf, sizeof(wbuf)}, r = {rbuf, sizeof(rbuf)};
    struct done_rec rec = {0};
    assert_int_equal(disk_writev(&d, 8192, &w, 1, (void *)1), 0);
    assert_int_equal(disk_flush(&d, (void *)2), 0);
    assert_int_equal(disk_submit(&d), 0);
    disk_drain(&d, on_done, &rec);
    assert_int_equal(rec.n, 2);
    assert_int_equal(rec.res[0] + rec.res[1], 4096); /* write 4096 + flush 0, in any order */
    assert_int_equal(disk_readv(&d, 8192, &r, 1, (void *)3), 0);
    assert_int_equal(disk_submit(&d), 0);
    disk_drain(&d, on_done, &rec);
    assert_int_equal(rec.res[2], 4096);
    assert_memory_equal(rbuf, wbuf, sizeof(rbuf));
    if (d.can_punch) {
        assert_int_equal(disk_write_zeroes(&d, 8192, 4096, (void *)4), 0);
        assert_int_equal(disk_submit(&d), 0);
        disk_drain(&d, on_done, &rec);
        assert_int_equal(rec.res[3], 0);
        assert_int_equal(disk_readv(&d, 8192, &r, 1, (void *)5), 0);
        assert_int_equal(disk_submit(&d), 0);
        disk_drain(&d, on_done, &rec);
        assert_int_equal(rbuf[0] | rbuf[4095], 0);
    }
    /* the depth bounds what is in flight */
    for (int i = 0; i < 4; i++)
        assert_int_equal(disk_flush(&d, NULL), 0);
    assert_int_equal(disk_flush(&d, NULL), -EBUSY);
    assert_int_equal(disk_use_sync(&d), -EBUSY);
    disk_close(&d);
    struct disk ro;
    assert_int_equal(disk_open(&ro, path, true, 2, err, sizeof(err)), 0);
    assert_int_equal(disk_writev(&ro, 0, &w, 1, NULL), -EROFS);
    assert_int_equal(disk_write_zeroes(&ro, 0, 512, NULL), -EROFS);
    disk_close(&ro);
    unlink(path);
}

static void disk_backend_io_uring(void **state)
{
    backend_ops(false);
}

static void disk_backend_sync_fallback(void **state)
{
    backend_ops(true);
}

/* ---- swapping the backing file ------------------------------------------------------------ */

/* Create a temporary image of SIZE bytes at PATH (a mkstemp template) filled with BYTE. */
static void mk_image(char *path, off_t size, uint8_t byte)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, size), 0);
    uint8_t buf[4096];
    memset(buf, byte, sizeof(buf));
    for (off_t o = 0; o < size; o += (off_t)sizeof(buf))
        assert_true(pwrite(fd, buf, (size_t)MIN((off_t)sizeof(buf), size - o), o) > 0);
    close(fd);
}

static uint8_t generation(struct vfix *f)
{
    return (uint8_t)vf_rd(f, COMMON_OFF(config_generation), 1);
}

static struct virtio_blk *blk_of(struct dfix *x)
{
    return virtio_find(&x->f.vm, VIRTIO_ID_BLOCK, NULL)->opaque;
}

static void swap_to_bigger_file(void **state)
{
    struct dfix *x = dev_open(64 * KiB, false, "");
    struct vfix *f = &x->f;
    char path[] = "/tmp/truce-blk2-XXXXXX", err[256] = "";
    mk_image(path, 2 * MiB, 0xab);
    assert_int_equal(vf_rd(f, f->devcfg, 8), 128);
    uint8_t gen = generation(f);
    int msis = atomic_load(&x->cfg_msis);
    assert_int_equal(virtio_blk_swap(&f->vm, "drive0", path, err, sizeof(err)), 0);
    assert_int_equal(vf_rd(f, f->devcfg, 8), 4096);
    assert_int_equal(generation(f), (uint8_t)(gen + 1));
    assert_int_equal(atomic_load(&x->cfg_msis), msis + 1);
    assert_string_equal(f->vm.cfg.disks[0].path, path);
    /* the new file's bytes, also past the old end */
    assert_int_equal(run1(x, VIRTIO_BLK_T_IN, 4095, 512, true), VIRTIO_BLK_S_OK);
    assert_int_equal(*(uint8_t *)gpa_to_hva(&f->vm.mem, DATA(0), 1), 0xab);
    assert_int_equal(run1(x, VIRTIO_BLK_T_IN, 4096, 512, true), VIRTIO_BLK_S_IOERR);
    /* the old file is closed and unlocked: another writer may take it */
    struct disk d;
    assert_int_equal(disk_open(&d, x->path, false, 2, err, sizeof(err)), 0);
    disk_close(&d);
    /* the same file again after it grew (still locked by us, not "in use by another") */
    assert_int_equal(truncate(path, 3 * MiB), 0);
    assert_int_equal(virtio_blk_swap(&f->vm, "drive0", path, err, sizeof(err)), 0);
    assert_int_equal(vf_rd(f, f->devcfg, 8), 6144);
    assert_int_equal(disk_open(&d, path, false, 2, err, sizeof(err)), -EWOULDBLOCK);
    dev_close(x);
    unlink(path);
}

/* Run one read or write of IOV at OFF on D and return its result. */
static int disk_do(struct disk *d, bool write, uint64_t off, struct iovec *iov)
{
    struct done_rec rec = {0};
    assert_int_equal(write ? disk_writev(d, off, iov, 1, NULL) : disk_readv(d, off, iov, 1, NULL),
                     0);
    assert_int_equal(disk_submit(d), 0);
    disk_drain(d, on_done, &rec);
    assert_int_equal(rec.n, 1);
    return rec.res[0];
}

/* direct=on: aligned requests go through the O_DIRECT descriptor, others through the buffered
 * one, and both see the same bytes; a swap opens the new image with O_DIRECT too. (/tmp here is
 * ext4, which takes O_DIRECT.) */
static void direct_aligned_io_bypasses_cache(void **state)
{
    char path[] = "/tmp/truce-dio-XXXXXX", path2[] = "/tmp/truce-dio2-XXXXXX", err[256] = "";
    mk_image(path, 1 * MiB, 0);
    mk_image(path2, 1 * MiB, 0x77);
    struct disk d;
    assert_int_equal(disk_open(&d, path, false, 4, err, sizeof(err)), 0);
    assert_int_equal(d.dfd, -1);
    assert_int_equal(disk_set_direct(&d, path, err, sizeof(err)), 0);
    assert_true(fcntl(d.dfd, F_GETFL) & O_DIRECT);
    assert_false(fcntl(d.fd, F_GETFL) & O_DIRECT);
    uint8_t *buf = aligned_alloc(4096, 16384);
    memset(buf, 0xd1, 16384);
    struct iovec al = {buf, 8192}, odd_len = {buf, 512}, odd_buf = {buf + 512, 4096};
    assert_int_equal(disk_io_fd(&d, &al, 1, 4096), d.dfd);
    assert_int_equal(disk_io_fd(&d, &al, 1, 512), d.fd);
    assert_int_equal(disk_io_fd(&d, &odd_len, 1, 4096), d.fd);
    assert_int_equal(disk_io_fd(&d, &odd_buf, 1, 4096), d.fd);
    /* an aligned write (direct), read back unaligned (buffered), and the reverse */
    assert_int_equal(disk_do(&d, true, 8192, &al), 8192);
    uint8_t small[600] = {0};
    struct iovec sm = {small, sizeof(small)};
    assert_int_equal(disk_do(&d, false, 8192 + 100, &sm), (int)sizeof(small));
    assert_int_equal(small[0] & small[599], 0xd1);
    memset(small, 0x3e, sizeof(small));
    assert_int_equal(disk_do(&d, true, 12288 + 4, &sm), (int)sizeof(small));
    memset(buf, 0, 16384);
    assert_int_equal(disk_do(&d, false, 8192, &al), 8192);
    assert_int_equal(buf[4095], 0xd1);
    assert_int_equal(buf[4096 + 3], 0xd1);
    assert_int_equal(buf[4096 + 4] & buf[4096 + 603], 0x3e);
    assert_int_equal(buf[4096 + 604], 0xd1);
    /* a swap to another image: its own O_DIRECT descriptor, on the new file */
    int fd2 = disk_open_file(&d, path2, err, sizeof(err));
    assert_true(fd2 >= 0);
    assert_int_equal(disk_swap(&d, fd2, path2, NULL, NULL, err, sizeof(err)), 0);
    struct stat a, b;
    assert_int_equal(fstat(d.dfd, &a), 0);
    assert_int_equal(stat(path2, &b), 0);
    assert_true(a.st_ino == b.st_ino && (fcntl(d.dfd, F_GETFL) & O_DIRECT));
    assert_int_equal(disk_do(&d, false, 0, &al), 8192);
    assert_int_equal(buf[0] & buf[8191], 0x77);
    disk_close(&d);
    assert_int_equal(d.dfd, -1);
    /* a file system without O_DIRECT (procfs here; tmpfs on older kernels) is named */
    unsigned align;
    int pfd = open("/proc/version", O_RDONLY | O_CLOEXEC);
    assert_int_equal(disk_open_direct("/proc/version", pfd, true, &align, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "does not take O_DIRECT"));
    assert_non_null(strstr(err, "/proc/version"));
    close(pfd);
    /* a path that does not name the image opened is refused */
    assert_int_equal(disk_open(&d, path, false, 2, err, sizeof(err)), 0);
    assert_int_equal(disk_set_direct(&d, path2, err, sizeof(err)), -ESTALE);
    assert_non_null(strstr(err, "direct=on"));
    disk_close(&d);
    free(buf);
    unlink(path);
    unlink(path2);
}

static void swap_failures_keep_old_file(void **state)
{
    struct dfix *x = dev_open(64 * KiB, false, "");
    struct vfix *f = &x->f;
    char busy[] = "/tmp/truce-blk3-XXXXXX", err[256] = "";
    memset(gpa_to_hva(&f->vm.mem, DATA(0), 512), 0x42, 512);
    assert_int_equal(run1(x, VIRTIO_BLK_T_OUT, 3, 512, false), VIRTIO_BLK_S_OK);
    uint8_t gen = generation(f);
    assert_int_equal(virtio_blk_swap(&f->vm, "drive0", "/nonexistent/y.img", err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "/nonexistent/y.img"));
    mk_image(busy, 1 * MiB, 0);
    struct disk other;
    assert_int_equal(disk_open(&other, busy, false, 2, err, sizeof(err)), 0);
    assert_int_equal(virtio_blk_swap(&f->vm, "drive0", busy, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "in use"));
    disk_close(&other);
    assert_int_equal(virtio_blk_swap(&f->vm, "nope", busy, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "nope"));
    /* nothing changed: same capacity, generation, path, and the old bytes are served */
    assert_int_equal(vf_rd(f, f->devcfg, 8), 128);
    assert_int_equal(generation(f), gen);
    assert_string_equal(f->vm.cfg.disks[0].path, x->path);
    memset(gpa_to_hva(&f->vm.mem, DATA(0), 512), 0, 512);
    assert_int_equal(run1(x, VIRTIO_BLK_T_IN, 3, 512, true), VIRTIO_BLK_S_OK);
    assert_int_equal(*(uint8_t *)gpa_to_hva(&f->vm.mem, DATA(0), 1), 0x42);
    dev_close(x);
    unlink(busy);
}

static void swap_read_only_stays_read_only(void **state)
{
    struct dfix *x = dev_open(64 * KiB, true, "");
    struct vfix *f = &x->f;
    char path[] = "/tmp/truce-blk4-XXXXXX", err[256] = "";
    mk_image(path, 128 * KiB, 0x5c);
    assert_int_equal(virtio_blk_swap(&f->vm, "drive0", path, err, sizeof(err)), 0);
    assert_true(blk_of(x)->disk.readonly);
    assert_true(vf_features(f) & 1ULL << VIRTIO_BLK_F_RO);
    assert_false(vf_features(f) & 1ULL << VIRTIO_BLK_F_DISCARD);
    assert_int_equal(vf_rd(f, f->devcfg, 8), 256);
    assert_int_equal(run1(x, VIRTIO_BLK_T_OUT, 0, 512, false), VIRTIO_BLK_S_IOERR);
    assert_int_equal(run1(x, VIRTIO_BLK_T_IN, 0, 512, true), VIRTIO_BLK_S_OK);
    assert_int_equal(*(uint8_t *)gpa_to_hva(&f->vm.mem, DATA(0), 1), 0x5c);
    /* a shared lock: readers may join, a writer may not */
    struct disk d;
    assert_int_equal(disk_open(&d, path, true, 2, err, sizeof(err)), 0);
    disk_close(&d);
    assert_int_equal(disk_open(&d, path, false, 2, err, sizeof(err)), -EWOULDBLOCK);
    dev_close(x);
    unlink(path);
}

/* Byte at OFF of the file at PATH. */
static uint8_t byte_at(const char *path, off_t off)
{
    uint8_t b = 0;
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &b, 1, off), 1);
    close(fd);
    return b;
}

static void swap_with_requests_in_flight(void **state)
{
    struct dfix *x = dev_open(4 * MiB, false, "");
    struct vfix *f = &x->f;
    char other[] = "/tmp/truce-blk5-XXXXXX", err[256] = "";
    mk_image(other, 4 * MiB, 0);
    const char *paths[2] = {x->path, other};
    uint16_t used = 0;
    for (unsigned round = 0; round < 4; round++) {
        for (unsigned k = 0; k < 16; k++) {
            memset(gpa_to_hva(&f->vm.mem, DATA(k), 32768), 0x10 * round + k + 1, 32768);
            post(x, k, VIRTIO_BLK_T_OUT, 1024 * round + 64 * k, 32768, false);
        }
        assert_int_equal(
            virtio_blk_swap(&f->vm, "drive0", paths[(round + 1) % 2], err, sizeof(err)), 0);
        used += 16;
        assert_true(vf_wait_used(f, 0, used)); /* no completion lost */
        for (unsigned k = 0; k < 16; k++) {
            assert_int_equal(status_of(x, k), VIRTIO_BLK_S_OK);
            /* each write landed in exactly one of the files, whole */
            off_t off = (off_t)(1024 * round + 64 * k) * 512;
            uint8_t want = (uint8_t)(0x10 * round + k + 1);
            uint8_t a = byte_at(paths[0], off), b = byte_at(paths[1], off);
            assert_true((a == want) != (b == want));
            assert_int_equal(byte_at(paths[a == want ? 0 : 1], off + 32767), want);
        }
    }
    assert_string_equal(f->vm.cfg.disks[0].path, x->path); /* four swaps: back to the first */
    dev_close(x);
    unlink(other);
}

/* 8 KiB per 10 s: two 4 KiB writes go, the others wait in the ring (never failed) until a live
 * update lifts the limit; then an ops limit of one request per 100 ms lets its timer bring the
 * rest through. Every request completes with its data. */
static void rate_limited_requests_wait(void **state)
{
    next_limit = (struct rl_config){.bandwidth = {.size = 8192, .refill_time = 10000}};
    struct dfix *x = dev_open(1 * MiB, false, "RL");
    next_limit = (struct rl_config){0};
    struct vfix *f = &x->f;
    struct virtio_blk *b = blk_of(x);
    for (unsigned k = 0; k < 6; k++) {
        memset(gpa_to_hva(&f->vm.mem, DATA(k), 4096), 0x50 + k, 4096);
        post(x, k, VIRTIO_BLK_T_OUT, 8 * k, 4096, false);
    }
    assert_true(vf_wait_used(f, 0, 2));
    vf_quiesce(f);
    assert_int_equal(vf_used_idx(f, 0), 2); /* the next 4 KiB are 5 s away */
    assert_true(b->rl.throttled >= 1);
    char err[256];
    struct rl_config c = {.ops = {.size = 1, .refill_time = 100}};
    assert_int_equal(
        virtio_blk_set_rate_limiter(&f->vm, "drive0", &c, true, true, err, sizeof(err)),
        0); /* bandwidth off, ops on */
    assert_true(vf_wait_used(f, 0, 6));
    for (unsigned k = 0; k < 6; k++)
        assert_int_equal(status_of(x, k), VIRTIO_BLK_S_OK);
    assert_true(b->rl.events >= 1); /* the ops limit's timer let the last ones go */
    uint8_t v = 0;
    int fd = open(x->path, O_RDONLY);
    assert_int_equal(pread(fd, &v, 1, 5 * 4096 + 9), 1);
    close(fd);
    assert_int_equal(v, 0x55);
    assert_int_equal(virtio_blk_set_rate_limiter(&f->vm, "nope", &c, true, true, err, sizeof(err)),
                     -ENOENT);
    dev_close(x);
}

/* ---- multiqueue ---------------------------------------------------------------------------- */

#define MQ_CFG_NUM_QUEUES 34 /* offsetof(struct virtio_blk_config, num_queues) */

/* queues=4 on 4 vCPUs: VIRTIO_BLK_F_MQ and num_queues 4; a write through each queue is read back
 * through another, each queue completes on its own ring and interrupts on its own vector. */
static void multiqueue_each_queue_serves(void **state)
{
    next_queues = next_cpus = 4;
    struct dfix *x = dev_open(1 * MiB, false, "");
    next_queues = next_cpus = 0;
    struct vfix *f = &x->f;
    _Static_assert(MQ_CFG_NUM_QUEUES == offsetof(struct virtio_blk_config, num_queues), "offset");
    assert_true(vf_features(f) & 1ULL << VIRTIO_BLK_F_MQ);
    assert_int_equal(vf_rd(f, f->devcfg + MQ_CFG_NUM_QUEUES, 2), 4);
    assert_int_equal(blk_of(x)->nq, 4);
    for (unsigned q = 0; q < 4; q++)
        for (unsigned k = 0; k < 4; k++) {
            unsigned id = q * 4 + k;
            memset(gpa_to_hva(&f->vm.mem, DATA(id), 4096), 0x60 + id, 4096);
            post_q(x, q, id, VIRTIO_BLK_T_OUT, 8 * id, 4096, false);
        }
    for (unsigned q = 0; q < 4; q++)
        assert_true(vf_wait_used(f, q, 4));
    for (unsigned q = 0; q < 4; q++)
        for (unsigned k = 0; k < 4; k++) {
            unsigned id = q * 4 + k, from = ((q + 1) % 4) * 4 + k; /* another queue's sectors */
            assert_int_equal(status_of(x, id), VIRTIO_BLK_S_OK);
            memset(gpa_to_hva(&f->vm.mem, DATA(id), 4096), 0, 4096);
            post_q(x, q, id, VIRTIO_BLK_T_IN, 8 * from, 4096, true);
        }
    for (unsigned q = 0; q < 4; q++) {
        assert_true(vf_wait_used(f, q, 8));
        assert_true(atomic_load(&x->vec_msis[q + 1]) >= 1);
        for (unsigned k = 0; k < 4; k++) {
            unsigned id = q * 4 + k, from = ((q + 1) % 4) * 4 + k;
            assert_int_equal(status_of(x, id), VIRTIO_BLK_S_OK);
            uint8_t *p = gpa_to_hva(&f->vm.mem, DATA(id), 4096);
            assert_int_equal(p[0], 0x60 + from);
            assert_int_equal(p[4095], 0x60 + from);
        }
    }
    dev_close(x);
}

/* One queue by default (no VIRTIO_BLK_F_MQ: the device of older truce); more queues than vCPUs
 * are refused naming the disk and the counts. */
static void multiqueue_default_and_limits(void **state)
{
    struct dfix *x = dev_open(64 * KiB, false, "");
    assert_false(vf_features(&x->f) & 1ULL << VIRTIO_BLK_F_MQ);
    assert_int_equal(vf_rd(&x->f, x->f.devcfg + MQ_CFG_NUM_QUEUES, 2), 1);
    struct disk_config dc = x->f.vm.cfg.disks[0];
    x->f.vm.cfg.cpus = 2;
    dc.queues = 3;
    snprintf(dc.id, sizeof(dc.id), "mq3");
    char err[256] = "";
    assert_int_equal(virtio_blk_create(&x->f.vm, &dc, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "mq3"));
    assert_non_null(strstr(err, "queues=3"));
    assert_non_null(strstr(err, "2 vCPUs"));
    dev_close(x);
}

/* The largest device: BLK_MAX_QUEUES queues with a rate limiter watch one fd each (the completion
 * eventfds, the limiter's timer), more than the 8 a device once had room for; it is created, and
 * after a pause and a resume (the watches off the event loop and back) every queue completes a
 * request and interrupts on its own vector. */
static void multiqueue_most_queues(void **state)
{
    next_limit = (struct rl_config){.ops = {.size = 1000, .refill_time = 1000}};
    next_queues = next_cpus = BLK_MAX_QUEUES;
    struct dfix *x = dev_open(1 * MiB, false, "");
    next_limit = (struct rl_config){0};
    next_queues = next_cpus = 0;
    struct vfix *f = &x->f;
    assert_int_equal(vf_rd(f, f->devcfg + MQ_CFG_NUM_QUEUES, 2), BLK_MAX_QUEUES);
    assert_int_equal(blk_of(x)->vdev.nwatch, BLK_MAX_QUEUES + 1);
    struct device_instance *d = st_last(&f->vm);
    d->ops->pause(d->dev);
    for (unsigned q = 0; q < BLK_MAX_QUEUES; q++) {
        memset(gpa_to_hva(&f->vm.mem, DATA(q), 512), 0x30 + q, 512);
        post_q(x, q, q, VIRTIO_BLK_T_OUT, q, 512, false);
    }
    d->ops->resume(d->dev);
    for (unsigned q = 0; q < BLK_MAX_QUEUES; q++) {
        assert_true(vf_wait_used(f, q, 1));
        assert_int_equal(status_of(x, q), VIRTIO_BLK_S_OK);
    }
    for (int i = 0; i < 2000; i++) { /* the last interrupt may follow the used index */
        unsigned got = 0;
        for (unsigned q = 0; q < BLK_MAX_QUEUES; q++)
            got += atomic_load(&x->vec_msis[q + 1]) >= 1;
        if (got == BLK_MAX_QUEUES)
            break;
        usleep(1000);
    }
    for (unsigned q = 0; q < BLK_MAX_QUEUES; q++)
        assert_true(atomic_load(&x->vec_msis[q + 1]) >= 1);
    dev_close(x);
}

/* The rate limiter is the device's, shared by its queues: 4 ops per 10 s let 4 requests through
 * in all (not 4 per queue); after a live update lifts it, the held ones of every queue complete.
 */
static void multiqueue_rate_limiter_shared(void **state)
{
    next_limit = (struct rl_config){.ops = {.size = 4, .refill_time = 10000}};
    next_queues = next_cpus = 2;
    struct dfix *x = dev_open(1 * MiB, false, "");
    next_limit = (struct rl_config){0};
    next_queues = next_cpus = 0;
    struct vfix *f = &x->f;
    for (unsigned k = 0; k < 3; k++) {
        post_q(x, 0, k, VIRTIO_BLK_T_IN, k, 512, true);
        post_q(x, 1, 8 + k, VIRTIO_BLK_T_IN, k, 512, true);
    }
    for (int i = 0; i < 2000 && vf_used_idx(f, 0) + vf_used_idx(f, 1) < 4; i++)
        usleep(1000);
    vf_quiesce(f);
    assert_int_equal(vf_used_idx(f, 0) + vf_used_idx(f, 1), 4);
    assert_true(blk_of(x)->rl.throttled >= 1);
    char err[256];
    struct rl_config off = {0};
    assert_int_equal(
        virtio_blk_set_rate_limiter(&f->vm, "drive0", &off, true, true, err, sizeof(err)), 0);
    assert_true(vf_wait_used(f, 0, 3));
    assert_true(vf_wait_used(f, 1, 3));
    dev_close(x);
}

/* Bulk mode: on with the first look that finds several waiting, off after IO_BULK_QUIET looks
 * that found a single one since; looks that found none change nothing. */
static void bulk_detector(void **state)
{
    struct io_bulk_batch d = {0};
    for (unsigned i = 0; i < 3 * IO_BULK_QUIET; i++) /* one request at a time stays off */
        assert_int_equal(io_bulk_batch(&d, i & 1), 0);
    assert_int_equal(io_bulk_batch(&d, 2), 1);
    assert_true(d.on);
    assert_int_equal(io_bulk_batch(&d, 32), 0);
    for (unsigned i = 0; i + 1 < IO_BULK_QUIET; i++) {
        assert_int_equal(io_bulk_batch(&d, 1), 0);
        assert_int_equal(io_bulk_batch(&d, 0), 0);
    }
    assert_true(d.on);
    assert_int_equal(io_bulk_batch(&d, 1), -1);
    assert_false(d.on);
}

/* The I/O thread's scheduling policy, once it has settled on WANT (it changes after the pass
 * that completed the requests). */
static int io_policy(struct dfix *x, int want)
{
    struct sched_param sp;
    int policy = -1;
    for (unsigned i = 0; i < 2000 && policy != want; i++) {
        assert_int_equal(pthread_getschedparam(x->f.loop_thread, &policy, &sp), 0);
        if (policy != want)
            usleep(1000);
    }
    return policy;
}

/* Requests found several at a time switch the I/O thread to SCHED_BATCH; requests one at a time
 * (a driver waiting for each) leave it, or switch it back, to SCHED_OTHER. */
static void bulk_mode_io_thread(void **state)
{
    struct dfix *x = dev_open(1 * MiB, false, "S1");
    struct vfix *f = &x->f;
    for (unsigned k = 0; k < IO_BULK_QUIET; k++)
        assert_int_equal(run1(x, VIRTIO_BLK_T_IN, k, 512, true), VIRTIO_BLK_S_OK);
    assert_int_equal(io_policy(x, SCHED_OTHER), SCHED_OTHER);
    uint16_t want = (uint16_t)(vf_used_idx(f, 0) + 4);
    for (unsigned k = 1; k <= 4; k++)
        vf_offer_quiet(f, 0, prep_q(x, 0, k, VIRTIO_BLK_T_IN, 8 * k, 4096, true));
    vf_notify(f, 0);
    assert_true(vf_wait_used(f, 0, want));
    assert_int_equal(io_policy(x, SCHED_BATCH), SCHED_BATCH);
    for (unsigned k = 0; k + 1 < IO_BULK_QUIET; k++)
        assert_int_equal(run1(x, VIRTIO_BLK_T_IN, k, 512, true), VIRTIO_BLK_S_OK);
    assert_int_equal(io_policy(x, SCHED_BATCH), SCHED_BATCH);
    assert_int_equal(run1(x, VIRTIO_BLK_T_IN, 0, 512, true), VIRTIO_BLK_S_OK);
    assert_int_equal(io_policy(x, SCHED_OTHER), SCHED_OTHER);
    dev_close(x);
}

int main(void)
{
#define P(fn) cmocka_unit_test_setup_teardown(fn, psetup, pteardown)
    const struct CMUnitTest tests[] = {
        P(parses_reads_and_writes),
        P(rejects_bad_ranges_and_lengths),
        P(rejects_malformed_headers),
        P(status_byte_shares_data_descriptor),
        P(read_only_refuses_writes),
        P(discard_and_write_zeroes_segments),
        P(get_id_bounded),
        cmocka_unit_test(bulk_detector),
        cmocka_unit_test(write_read_back_many_in_flight),
        cmocka_unit_test(rate_limited_requests_wait),
        cmocka_unit_test(get_id_returns_serial),
        cmocka_unit_test(read_only_device),
        cmocka_unit_test(size_not_multiple_of_512),
        cmocka_unit_test(write_zeroes_and_discard),
        cmocka_unit_test(io_error_reaches_guest),
        cmocka_unit_test(reset_with_requests_in_flight),
        cmocka_unit_test(busy_device_refuses_second_writer),
        cmocka_unit_test(disk_backend_io_uring),
        cmocka_unit_test(disk_backend_sync_fallback),
        cmocka_unit_test(swap_to_bigger_file),
        cmocka_unit_test(swap_failures_keep_old_file),
        cmocka_unit_test(swap_read_only_stays_read_only),
        cmocka_unit_test(swap_with_requests_in_flight),
        cmocka_unit_test(multiqueue_each_queue_serves),
        cmocka_unit_test(multiqueue_default_and_limits),
        cmocka_unit_test(multiqueue_most_queues),
        cmocka_unit_test(multiqueue_rate_limiter_shared),
        cmocka_unit_test(direct_aligned_io_bypasses_cache),
        cmocka_unit_test(bulk_mode_io_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
