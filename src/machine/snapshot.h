/* snapshot.h — contracts of snapshots: the state file format and the create/restore coordinator. */
#ifndef TRUCE_SNAPSHOT_H
#define TRUCE_SNAPSHOT_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/config.h"
#include "util/state.h"
#include "vm/vm.h"

struct vm;
struct kvm_host;
struct state_visitor;

/* ---- the state file (machine/snapfile.c) -----------------------------------------------------
 * A header, then one payload of state sections (util/state.h): "snapshot" holding "machine"
 * (the configuration), "kvm-vm", one "vcpu" per vCPU, then every device's sections in creation
 * order. Little-endian. The header carries its own CRC32 and the payload's; a reader checks
 * magic, format version, sizes and both checksums before anything is parsed. */
#define SNAP_MAGIC          "TRUCESNP"
#define SNAP_FORMAT_VERSION 1
#define SNAP_MAX_PAYLOAD    (64u << 20) /* far above any real state; bounds the allocation */
#define SNAP_STATE_VERSION  1           /* the "snapshot" section */
/* the "machine" section: 2 virtio transport, 3 MMDS, 4 pmem and hotplug memory, 5 AHCI drives,
 * 6 the balloon, 7 rate limiters, 8 the display, 9 its input devices, 10 virtio-blk queues and
 * virtio-net queue pairs, 11 OVMF's variable store (--firmware-vars), 12 virtio-net vhost=on, 13
 * virtio-net GUEST_ANNOUNCE (older: no_announce), 14 disks' direct=on, 15 --thp */
#define CONFIG_STATE_VERSION 15

struct snap_header {
    char magic[8];
    uint32_t format_version;
    uint32_t flags; /* 0 */
    uint64_t payload_len;
    uint32_t payload_crc32;
    uint32_t header_crc32;  /* of every byte before this field */
    char truce_version[16]; /* who wrote it, NUL-padded (informational) */
};
static_assert(sizeof(struct snap_header) == 48, "snapshot header is 48 bytes");

/* Check the file image BUF of LEN bytes: on success point *PAYLOAD and *PLEN into BUF and return 0,
 * else return -EINVAL with one line in ERR naming what is wrong. Pure (fuzzed). */
int snapfile_parse(const uint8_t *buf, size_t len, const uint8_t **payload, size_t *plen, char *err,
                   size_t errlen);
/* Fill HDR for a payload. */
void snapfile_header(struct snap_header *hdr, const void *payload, size_t len);
/* Write header + payload to PATH atomically (temporary file, fsync, rename): an existing file
 * there is replaced only by a complete one. Returns 0 or -errno with ERR. */
int snapfile_write(const char *path, const void *payload, size_t len, char *err, size_t errlen);
/* Write PATH atomically: FILL(FD, ARG) writes a temporary file next to it, which is fsync'd and
 * renamed over PATH; on any error PATH is untouched and ERR names FIELD. Returns 0 or -errno. */
int snap_file_atomic(const char *path, const char *field, int (*fill)(int fd, void *arg), void *arg,
                     char *err, size_t errlen);
/* Write all of BUF at byte OFF of FD (lseek + write). Returns 0 or -errno. */
int snap_write_at(int fd, const void *buf, size_t len, uint64_t off);
/* FN(ARG, OFF, P, LEN) for every run of non-zero pages of guest RAM (OFF: byte offset in region
 * order, i.e. in the one mapping; at most MAX_RUN bytes a run), in order; zero pages are
 * skipped. Stops at FN's first non-zero return and returns it. (Memory files, migration.) */
struct guest_mem;
int snap_mem_runs(const struct guest_mem *m, uint64_t max_run,
                  int (*fn)(void *arg, uint64_t off, const uint8_t *p, uint64_t len), void *arg);
/* The same for the runs of pages set in BITS (DIRTY_WORDS(M) words), zero pages included. */
int snap_dirty_runs(const struct guest_mem *m, const uint64_t *bits, uint64_t max_run,
                    int (*fn)(void *arg, uint64_t off, const uint8_t *p, uint64_t len), void *arg);
/* Read PATH whole (at most header + SNAP_MAX_PAYLOAD) into a malloc'd *BUF. Returns 0 or
 * -errno with ERR. */
int snapfile_read(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen);

/* Check every section of PAYLOAD up to the devices' (configuration, KVM VM state, each vCPU)
 * without touching KVM, and return the saved configuration in CFG. Returns 0 or -EINVAL with
 * ERR naming the section and field. Pure (fuzzed). */
int snapshot_check(const uint8_t *payload, size_t len, struct vm_config *cfg, char *err,
                   size_t errlen);
/* The configuration as a section (machine/config_state.c). */
void config_state_visit(struct state_visitor *v, struct vm_config *c);

/* ---- the coordinator (machine/snapshot.c) ---------------------------------------------- */
/* What a restore may change in the saved configuration (Firecracker's network_overrides and
 * vsock_override, and where the console goes). */
struct snapshot_overrides {
    unsigned nnets;
    struct {
        char iface_id[CFG_ID_LEN];
        char tap[IFNAMSIZ];
    } net[CFG_MAX_NETS];
    bool vsock_set;
    char vsock_uds[108];
    bool track_dirty;    /* track dirty pages from the restore on (Diff snapshots) */
    bool mem_uffd;       /* the memory path names a page-fault handler's socket (backend Uffd) */
    bool clock_realtime; /* advance kvmclock by the wall-clock time since the snapshot */
    enum { OV_THP_SAVED, OV_THP_OFF, OV_THP_ON } thp; /* --thp as saved, or off/on for this run */
    bool console_set;
    enum console_kind console;
    char console_path[PATH_MAX];
};
/* Apply OV to CFG. Returns 0 or -EINVAL with ERR naming an interface the snapshot lacks. */
int snapshot_apply_overrides(struct vm_config *cfg, const struct snapshot_overrides *ov, char *err,
                             size_t errlen);
/* Save paused VM: guest RAM to MEM_PATH (Full: every non-zero page, zero pages are holes;
 * DIFF: only the pages written since the last snapshot, at their offsets, the rest holes — merge
 * it onto the base memory file with snapshot_rebase), then the state file to STATE_PATH, each
 * written whole or not at all. With tracking on, any snapshot starts a new Diff interval (unless
 * it fails). Returns 0 or -errno with ERR (-EINVAL: the VM is not paused, or DIFF without
 * tracking). */
int snapshot_create(struct vm *vm, const char *state_path, const char *mem_path, bool diff,
                    char *err, size_t errlen);
/* Merge the Diff memory file DIFF_PATH onto the memory file BASE_PATH in place (every data
 * extent of DIFF copied to the same offset; the sizes must match). Returns 0 or -errno with
 * ERR. */
int snapshot_rebase(const char *base_path, const char *diff_path, char *err, size_t errlen);
/* The state of paused VM (the payload of a state file) into a new save buffer V (the caller
 * frees it with state_free). Returns 0 or <0 with ERR (-EINVAL: not paused). */
int snapshot_state(struct vm *vm, struct state_visitor *v, char *err, size_t errlen);
/* Create VM (cleared by machine_clear) from the saved configuration CFG (checked by snapshot_check;
 * OV applied to it, then validated) with RAM mapped privately from MEM_PATH, or anonymous when
 * MEM_PATH is NULL; no vCPU or device state is set yet. Returns 0 or <0 with ERR (the caller must
 * still vm_destroy VM). */
int snapshot_build(struct vm *vm, struct kvm_host *kvm, struct vm_config *cfg, const char *mem_path,
                   const struct snapshot_overrides *ov, char *err, size_t errlen);
/* What snapshot_parse read: the KVM VM state and every vCPU's, and the visitor positioned at the
 * devices' sections (pointing into the payload, which must outlive it). */
struct snap_parsed {
    struct vm_kvm_state ks;
    unsigned ncpus;
    struct vcpu_state *vs; /* ncpus of them, malloc'd */
    struct state_visitor rest;
};
/* snapshot_check, keeping what it read in P (freed by snapshot_parsed_free, also on failure) so
 * that the restore sets it without parsing the sections again. */
int snapshot_parse(const uint8_t *payload, size_t len, struct vm_config *cfg, struct snap_parsed *p,
                   char *err, size_t errlen);
void snapshot_parsed_free(struct snap_parsed *p);
/* Set KVM's, every vCPU's and every device's state of VM (built by snapshot_build) from P; with
 * REALTIME, kvmclock is advanced by the wall-clock time elapsed since the state was taken. A
 * vCPU whose CPUID is already the saved one (the same host) is not given it again. Returns 0 or
 * <0 with ERR. */
int snapshot_load_parsed(struct vm *vm, struct snap_parsed *p, bool realtime, char *err,
                         size_t errlen);
/* ---- the Uffd memory backend (machine/uffd.c) ------------------------------------------------
 * Register VM's RAM (anonymous, not touched yet) with a new userfaultfd and hand it to the
 * page-fault handler listening on the UNIX socket PATH, with the region layout as Firecracker
 * sends it: one JSON array of {base_host_virt_addr, size, offset (in the memory file: region
 * order), page_size, page_size_kib}, the fd as SCM_RIGHTS. Both fds stay open with the VM.
 * Returns 0 or <0 with ERR. */
int uffd_handoff(struct vm *vm, const char *path, char *err, size_t errlen);
/* That layout message for M into BUF. Returns its length or -ENOSPC. */
struct guest_mem;
int uffd_layout_json(const struct guest_mem *m, char *buf, size_t len);

/* Read and check STATE_PATH completely, then create VM from the configuration it holds with RAM
 * mapped privately from MEM_PATH (lazily: pages load on first touch; with OV->mem_uffd, RAM is
 * anonymous and filled by the page-fault handler whose socket MEM_PATH names) and every vCPU, KVM
 * and device state restored; the VM is left paused-ready (created, not started). On error returns
 * <0 with ERR; the caller must still vm_destroy VM. */
int snapshot_restore(struct vm *vm, struct kvm_host *kvm, const char *state_path,
                     const char *mem_path, const struct snapshot_overrides *ov, char *err,
                     size_t errlen);

#endif
