/* landlock_vm.c — the Landlock rules of a VM: the files its configuration names, and its devices.
 */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "sandbox/jail.h"
#include "util/util.h"

#define LL_MAX_RULES (8 + CFG_MAX_DISKS)

int landlock_vm(const struct vm_config *cfg)
{
    struct landlock_rule rules[LL_MAX_RULES];
    static char uds_dir[sizeof(cfg->vsock.uds_path)];
    size_t n = 0;
    if (getenv("TRUCE_NO_LANDLOCK")) {
        log_warn("landlock: off (TRUCE_NO_LANDLOCK is set)");
        return 1;
    }
    rules[n++] = (struct landlock_rule){"/dev/kvm", LL_DEV};
    if (cfg->nnets)
        rules[n++] = (struct landlock_rule){"/dev/net/tun", LL_DEV};
    rules[n++] = (struct landlock_rule){"/dev/userfaultfd", LL_DEV};
    if (cfg->kernel[0])
        rules[n++] = (struct landlock_rule){cfg->kernel, LL_READ};
    if (cfg->initrd[0])
        rules[n++] = (struct landlock_rule){cfg->initrd, LL_READ};
    if (cfg->firmware[0])
        rules[n++] = (struct landlock_rule){cfg->firmware, LL_READ};
    if (cfg->console == CONSOLE_FILE && cfg->console_path[0])
        rules[n++] = (struct landlock_rule){cfg->console_path, LL_READ | LL_WRITE};
    for (unsigned i = 0; i < cfg->ndisks; i++)
        rules[n++] = (struct landlock_rule){cfg->disks[i].path,
                                            cfg->disks[i].readonly ? LL_READ : LL_READ | LL_WRITE};
    if (cfg->vsock.enabled && cfg->vsock.uds_path[0]) {
        /* the listening socket is made (and at the end removed) in its directory */
        char tmp[sizeof(uds_dir)];
        strcpy(tmp, cfg->vsock.uds_path);
        strcpy(uds_dir, dirname(tmp));
        rules[n++] = (struct landlock_rule){uds_dir, LL_SOCKDIR};
    }
    return landlock_apply(rules, n);
}
