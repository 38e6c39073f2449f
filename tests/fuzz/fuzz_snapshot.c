/* fuzz_snapshot.c — the snapshot state file as a hostile host file: the header checks, then the
 * KVM-free check of every section up to the devices' (configuration, VM and vCPU state). */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "machine/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    const uint8_t *payload;
    size_t plen;
    struct vm_config *cfg = malloc(sizeof(*cfg));
    if (!cfg)
        return 0;
    /* as a whole file (almost always refused by the checksums) ... */
    if (snapfile_parse(data, size, &payload, &plen, err, sizeof(err)) == 0)
        snapshot_check(payload, plen, cfg, err, sizeof(err));
    /* ... and as a payload whose checksums were right: the sections themselves */
    snapshot_check(data, size, cfg, err, sizeof(err));
    free(cfg);
    return 0;
}
