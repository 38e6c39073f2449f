/* fuzz_snapshot.c — libFuzzer target: a snapshot state file as `truce restore` and PUT
 * /snapshot/load read it. The input is the payload (state sections); the harness wraps it in a
 * valid header (the CRC32s would stop the fuzzer otherwise; the header alone is fuzzed too) and
 * takes it through snapfile_parse, snapshot_parse (configuration, KVM VM state, each vCPU; it
 * must agree with snapshot_check) and then, in restore order, every device's restore on the legacy
 * platform (fuzz_platform.h); a restored VM must then survive its guest reading every port. A whole
 * file (the seed file-1vcpu) takes the same path when its checksums are right. FUZZ_SEED_DIR=dir
 * makes the target write a real saved payload there as a seed and exit. */
#include <fcntl.h>

#include "fuzz_platform.h"
#include "machine/snapshot.h"
#include "util/state.h"

static struct vm vm;

/* Every port of every range at every width: the guest looking at restored state. */
static void sweep(struct vm *v)
{
    for (unsigned i = 0; i < v->pio.n; i++)
        for (uint64_t p = 0; p < v->pio.r[i].len && p < 16; p++)
            for (unsigned w = 1; w <= 4; w *= 2) {
                uint8_t d[4];
                io_bus_access(&v->pio, v->pio.r[i].base + p, d, w, false);
            }
    v->state = VM_RUNNING;
}

/* The restore path after snapshot_parse: the devices' sections, from where the parse stopped
 * (snapshot_load_parsed without the KVM ioctls). */
static int restore_devices(struct snap_parsed *p)
{
    devices_restore(&vm, &p->rest);
    state_end(&p->rest);
    int rc = state_finish(&p->rest);
    if (rc && !p->rest.msg[0]) {
        fprintf(stderr, "fuzz_snapshot: restore failed (%d) without saying why\n", rc);
        abort();
    }
    return rc;
}

/* A payload as snapshot_create lays it out, from the platform after a little guest activity. */
static void write_seed(const char *dir)
{
    static struct vm_config cfg;
    static struct vm_kvm_state ks;
    static struct vcpu_state vs;
    static const uint8_t prog[] = {
        0, 3, 0x80, 0x83, 0, 0, 0, /* a register write in the first range */
        1, 0, 0x80, 0x5a, 0, 0, 0, 2, 1, 0x81, 0x34, 0x12, 0, 0,
    };
    char path[512], err[256];
    fp_vm_new(&vm);
    fp_run(&vm, prog, sizeof(prog));
    config_defaults(&cfg);
    snprintf(cfg.kernel, sizeof(cfg.kernel), "/boot/vmlinuz");
    cfg.mem_bytes = FP_RAM;
    for (unsigned i = 0; i < 3; i++)
        ks.chip[i].chip_id = i;
    struct state_visitor v;
    state_save_init(&v);
    state_begin(&v, "snapshot", SNAP_STATE_VERSION);
    config_state_visit(&v, &cfg);
    vm_kvm_state_visit(&v, &ks);
    for (unsigned i = 0; i < cfg.cpus; i++)
        vcpu_state_visit(&v, &vs);
    devices_save(&vm, &v);
    state_end(&v);
    if (state_finish(&v) || snapshot_check(v.buf, v.len, &cfg, err, sizeof(err)))
        abort();
    snprintf(path, sizeof(path), "%s/saved", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write_full(fd, v.buf, v.len) < 0)
        abort();
    close(fd);
    state_free(&v);
    exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (getenv("FUZZ_SEED_DIR"))
        write_seed(getenv("FUZZ_SEED_DIR"));
    return 0;
}

/* snapshot_parse (which must agree with snapshot_check), then (when it passes) the devices'
 * restore on a fresh platform and a guest reading the ports. */
static void check_and_restore(const uint8_t *payload, size_t plen)
{
    static struct vm_config cfg, cfg2;
    static struct snap_parsed parsed;
    char err[512] = "", err2[512] = "";
    int rc = snapshot_parse(payload, plen, &cfg, &parsed, err, sizeof(err));
    if (rc != snapshot_check(payload, plen, &cfg2, err2, sizeof(err2)) || strcmp(err, err2)) {
        fprintf(stderr, "fuzz_snapshot: parse and check disagree: '%s' / '%s'\n", err, err2);
        abort();
    }
    if (rc < 0) {
        if (!err[0] || parsed.vs)
            abort();
        return;
    }
    if (parsed.ncpus != cfg.cpus)
        abort();
    fp_vm_new(&vm);
    rc = restore_devices(&parsed);
    if (getenv("FUZZ_VERBOSE")) /* to check what a seed reaches */
        fprintf(stderr, "fuzz_snapshot: restore: %d\n", rc);
    if (rc == 0)
        sweep(&vm);
    fp_vm_free(&vm);
    snapshot_parsed_free(&parsed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "";
    const uint8_t *payload;
    size_t plen;
    /* as a whole file (almost always refused by the checksums) ... */
    if (snapfile_parse(data, size, &payload, &plen, err, sizeof(err)) == 0)
        check_and_restore(payload, plen);
    else if (!err[0])
        abort();
    /* ... and as a payload behind a valid header: the sections themselves */
    uint8_t *file = malloc(sizeof(struct snap_header) + size);
    if (!file)
        return 0;
    snapfile_header((struct snap_header *)file, data, size);
    memcpy(file + sizeof(struct snap_header), data, size);
    if (snapfile_parse(file, sizeof(struct snap_header) + size, &payload, &plen, err,
                       sizeof(err)) == 0)
        check_and_restore(payload, plen);
    else if (size <= SNAP_MAX_PAYLOAD) {
        fprintf(stderr, "fuzz_snapshot: a valid header was refused: %s\n", err);
        abort();
    }
    free(file);
    return 0;
}
