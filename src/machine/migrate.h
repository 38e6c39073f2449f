/* migrate.h — moving a running VM to another truce process, on this host or another. */
#ifndef TRUCE_MIGRATE_H
#define TRUCE_MIGRATE_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct kvm_host;
struct snapshot_overrides;

/* The stream (little-endian): a hello, the snapshot state payload (machine/snapshot.h), then
 * guest RAM as page runs {offset, npages} + data (zero pages are not sent), ended by a run of 0
 * pages; the destination answers with a reply {status 0 or an errno, length, message}.
 * Everything the destination reads is bounded and checked before it is used. */
#define MIG_MAGIC      "TRUCEMIG"
#define MIG_VERSION    1
#define MIG_MAX_RUN    16384u /* pages in one run: 64 MiB */
#define MIG_REPLY_MAX  400u
#define MIG_IO_TIMEOUT 120  /* seconds without progress before either side gives up */
#define MIG_DRAIN_MS   5000 /* a refusing destination reads on this long, so its answer lands */

struct mig_hello {
    char magic[8];
    uint32_t version;
    uint32_t flags; /* 0 */
    uint64_t ram_size;
    uint64_t state_len;
    uint32_t state_crc32;
    uint32_t hello_crc32; /* of every byte before it */
};
static_assert(sizeof(struct mig_hello) == 40, "migration hello is 40 bytes");

struct mig_run {
    uint64_t offset; /* byte offset into RAM (region order), page aligned */
    uint32_t npages; /* 0: the end of memory */
    uint32_t pad;
};
static_assert(sizeof(struct mig_run) == 16, "migration page run header is 16 bytes");

struct mig_stats {
    uint64_t bytes; /* sent or received */
    uint64_t pages; /* non-zero pages moved */
    uint64_t total_ms;
};

/* Where to: "unix:PATH" or "tcp:HOST:PORT". Returns a connected or listening socket, or -errno
 * with ERR. */
int migrate_connect(const char *url, char *err, size_t errlen);
int migrate_listen(const char *url, char *err, size_t errlen);

/* Source: pause VM (when running), send it to URL, wait for the destination's answer. On
 * success the VM stays paused and the caller ends it (TRUCE_EXIT_MIGRATED); on any failure the
 * VM is resumed if it was running and keeps going: ERR says why. Returns 0 or <0. */
int migrate_send(struct vm *vm, const char *url, struct mig_stats *st, char *err, size_t errlen);

/* Destination: accept one source on the listening socket LFD, receive and check everything,
 * build VM from it (OV applied) and answer the source. The VM is left created, not started.
 * Returns 0 or <0 with ERR (the source was told why; the caller must still vm_destroy VM). */
int migrate_receive(struct vm *vm, struct kvm_host *kvm, int lfd,
                    const struct snapshot_overrides *ov, struct mig_stats *st, char *err,
                    size_t errlen);

#endif
