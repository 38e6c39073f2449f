/* landlock_vm.c — the Landlock rules of a VM: the files its configuration names, and its devices.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine/machine.h"
#include "platform/config.h"
#include "sandbox/jail.h"
#include "util/util.h"
#include "vm/vm.h"

#define LL_MAX_RULES (10 + CFG_MAX_DISKS + 2 * CFG_MAX_NETS)

struct vm_rules {
    struct landlock_rule r[LL_MAX_RULES];
    size_t n;
    char uds_dir[sizeof(((struct vsock_config *)0)->uds_path)];
    char vnc_dir[CFG_VNC_ADDR_LEN];
};

static void add(struct vm_rules *v, const char *path, unsigned perm)
{
    v->r[v->n++] = (struct landlock_rule){path, perm};
}

/* Fill V from CFG; false when TRUCE_NO_LANDLOCK asks for none (one warning). */
static bool vm_rules(struct vm_rules *v, const struct vm_config *cfg)
{
    v->n = 0;
    if (getenv("TRUCE_NO_LANDLOCK")) {
        log_warn("landlock: off (TRUCE_NO_LANDLOCK is set)");
        return false;
    }
    add(v, "/dev/kvm", LL_DEV);
    if (cfg->nnets)
        add(v, "/dev/net/tun", LL_DEV);
    add(v, "/dev/userfaultfd", LL_DEV);
    for (unsigned i = 0; i < cfg->nnets; i++)
        if (cfg->nets[i].kind == NET_USER) { /* libslirp reads it to forward the guest's DNS */
            add(v, "/etc/resolv.conf", LL_READ);
            break;
        }
    for (unsigned i = 0; i < cfg->nnets; i++) { /* libslirp's TFTP root; the NIC's option ROM */
        if (cfg->nets[i].tftp[0])
            add(v, cfg->nets[i].tftp, LL_READ);
        if (cfg->nets[i].rom[0] && strcmp(cfg->nets[i].rom, "off"))
            add(v, cfg->nets[i].rom, LL_READ);
    }
    if (cfg->kernel[0])
        add(v, cfg->kernel, LL_READ);
    if (cfg->initrd[0])
        add(v, cfg->initrd, LL_READ);
    if (cfg->firmware[0])
        add(v, cfg->firmware, LL_READ);
    if (cfg->console == CONSOLE_FILE && cfg->console_path[0])
        add(v, cfg->console_path, LL_READ | LL_WRITE);
    for (unsigned i = 0; i < cfg->ndisks; i++)
        add(v, cfg->disks[i].path, cfg->disks[i].readonly ? LL_READ : LL_READ | LL_WRITE);
    if (cfg->vsock.enabled && cfg->vsock.uds_path[0]) {
        /* the listening socket, bound in vm_create, is removed from its directory at the end */
        char tmp[sizeof(v->uds_dir)];
        strcpy(tmp, cfg->vsock.uds_path);
        strcpy(v->uds_dir, dirname(tmp));
        add(v, v->uds_dir, LL_SOCKDIR);
    }
    if (cfg->display.kind == DISPLAY_VNC && cfg->display.vnc_unix) { /* the same for VNC's */
        char tmp[sizeof(v->vnc_dir)];
        strcpy(tmp, cfg->display.vnc_path);
        strcpy(v->vnc_dir, dirname(tmp));
        add(v, v->vnc_dir, LL_SOCKDIR);
    }
    return true;
}

int landlock_vm(const struct vm_config *cfg)
{
    struct vm_rules v;
    return vm_rules(&v, cfg) ? landlock_apply(v.r, v.n) : 1;
}

int landlock_vm_start(struct vm *vm, const struct vm_config *cfg, bool paused)
{
    struct vm_rules v;
    int rc = 0, fd = -1;
    if (vm_rules(&v, cfg) && !vm->landlock_fd)
        rc = landlock_ruleset(v.r, v.n, &fd); /* 1: none in this kernel */
    if (fd == 0) {                            /* 0 means none in struct vm */
        fd = fcntl(0, F_DUPFD_CLOEXEC, 3);
        close(0);
        rc = fd < 0 ? -errno : rc;
    }
    vm->landlock_fd = MAX(fd, 0);
    return rc < 0 ? rc : vm_start_in(vm, paused);
}
