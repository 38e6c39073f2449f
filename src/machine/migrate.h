/* migrate.h — moving a running VM to another truce process, on this host or another. */
#ifndef TRUCE_MIGRATE_H
#define TRUCE_MIGRATE_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct kvm_host;
struct snapshot_overrides;

/* The stream (little-endian), pre-copy: a hello; the machine's configuration as a blob (the
 * destination builds the VM from it); guest RAM as page runs {offset, npages} + data — first
 * every non-zero page while the guest runs, then, round after round, the pages it dirtied
 * meanwhile (a page may come several times: the last copy wins) — ended by a run of 0 pages
 * after the guest was paused and the last dirty pages went; then the whole state (the payload
 * of a snapshot state file, machine/snapshot.h) as a blob. A blob is {len, crc32} + bytes. The
 * destination answers with a reply {status 0 or an errno, length, message} (the downtime ends);
 * after a yes, a second word (uint32 0 or an errno) once the guest runs there, which the source
 * waits for before it ends. Everything the destination reads is bounded and checked before it is
 * used. */
#define MIG_MAGIC               "TRUCEMIG"
#define MIG_VERSION             3
#define MIG_MAX_ROUNDS          30 /* dirty rounds before the final one, whatever the guest does */
#define MIG_DEFAULT_DOWNTIME_MS 30
#define MIG_MAX_RUN             16384u /* pages in one run: 64 MiB */
#define MIG_REPLY_MAX           400u
#define MIG_IO_TIMEOUT          120   /* seconds without progress before either side gives up */
#define MIG_RECEIVE_MAX_WAIT_S  86400 /* --timeout / timeout_s: a day at most */
#define MIG_RECEIVE_WAIT_S      300   /* PUT /migration/receive: the default wait for a source */
#define MIG_DRAIN_MS            5000 /* a refusing destination reads on this long, so its answer lands */

struct mig_hello {
    char magic[8];
    uint32_t version;
    uint32_t flags; /* 0 */
    uint64_t ram_size;
    uint64_t reserved[2]; /* 0 */
    uint32_t hello_crc32; /* of every byte before it */
    uint32_t pad;
};
static_assert(sizeof(struct mig_hello) == 48, "migration hello is 48 bytes");

struct mig_blob {
    uint64_t len; /* at most SNAP_MAX_PAYLOAD */
    uint32_t crc32;
    uint32_t pad;
};
static_assert(sizeof(struct mig_blob) == 16, "migration blob header is 16 bytes");

struct mig_run {
    uint64_t offset; /* byte offset into RAM (region order), page aligned */
    uint32_t npages; /* 0: the end of memory */
    uint32_t pad;
};
static_assert(sizeof(struct mig_run) == 16, "migration page run header is 16 bytes");

struct mig_stats {
    uint64_t bytes;       /* sent or received */
    uint64_t pages;       /* pages moved (a page sent in several rounds counts each time) */
    uint64_t total_ms;    /* from the request to the destination's answer */
    uint64_t rounds;      /* source: pre-copy rounds before the final one */
    uint64_t last_dirty;  /* source: pages dirtied during the last pre-copy round */
    uint64_t paused_at;   /* source: when the guest was paused (now_ns) */
    uint64_t downtime_us; /* source: from the pause to the destination's answer */
    uint64_t downtime_ms; /* the same, rounded to ms */
};

/* Where to: "unix:PATH" or "tcp:HOST:PORT". Returns a connected or listening socket, or -errno
 * with ERR. */
int migrate_connect(const char *url, char *err, size_t errlen);
int migrate_listen(const char *url, char *err, size_t errlen);

/* Source: send VM to URL, pre-copy: RAM while the guest runs (dirty tracking on for the
 * duration), rounds of dirtied pages until the rest fits MAX_DOWNTIME_MS at the measured rate
 * (or MIG_MAX_ROUNDS), then pause and send the rest and the state; wait for the destination's
 * answer. A paused VM is sent in one go. On success the VM stays paused and the caller ends it
 * (TRUCE_EXIT_MIGRATED); on any failure the VM is resumed if it was running and keeps going
 * (tracking as before; a running Diff interval then counts every page): ERR says why. Returns
 * 0 or <0. */
int migrate_send(struct vm *vm, const char *url, uint64_t max_downtime_ms, struct mig_stats *st,
                 char *err, size_t errlen);

/* Source (machine/migrate_locks.c): let go of the exclusive locks on VM's writable disk images
 * (the destination takes them when it builds the machine), or take them back after a failed
 * migration (waiting a few seconds for a destination that still holds them). Retake returns 0
 * or -errno with ERR. */
void migrate_release_locks(struct vm *vm);
int migrate_retake_locks(struct vm *vm, char *err, size_t errlen);

/* Destination: accept one source on the listening socket LFD (waiting at most WAIT_MS for it,
 * or for ever when WAIT_MS < 0: then -ETIMEDOUT), receive and check everything, build the VM
 * from it (OV applied) and answer the source. START (may be NULL) is called with START_ARG as
 * soon as the VM is built from the configuration, before its RAM comes: it starts the VM paused
 * (machine.h vm_start_in: the threads created, each under its sandbox, parked before their first
 * KVM_RUN), so that the switch only sets the state and resumes; it returns 0 or -errno. */
struct mig_dest {
    int lfd;
    int wait_ms;
    const struct snapshot_overrides *ov;
    int (*start)(struct vm *vm, void *arg);
    void *start_arg;
};
/* With D->start, the VM runs on success (resumed right after the answer); without, it is left
 * created, not started. Returns 0 or <0 with ERR (the source was told why; the caller must still
 * vm_destroy VM, which stops threads START began). */
int migrate_receive(struct vm *vm, struct kvm_host *kvm, const struct mig_dest *d,
                    struct mig_stats *st, char *err, size_t errlen);

#endif
