/* kvm.c — /dev/kvm: API version, required capabilities, and what kind of KVM this host has. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/util.h"
#include "vm/vm.h"

struct cap {
    int id;
    const char *name;
    bool required;
};

#define CAP(c, req)                                                                                \
    {                                                                                              \
        KVM_CAP_##c, #c, req                                                                       \
    }
static const struct cap caps[] = {
    CAP(USER_MEMORY, true),     CAP(SET_TSS_ADDR, true),    CAP(SET_IDENTITY_MAP_ADDR, true),
    CAP(EXT_CPUID, true),       CAP(IRQCHIP, true),         CAP(PIT2, true),
    CAP(IOEVENTFD, true),       CAP(IRQFD, true),           CAP(SIGNAL_MSI, true),
    CAP(IRQ_ROUTING, true),     CAP(IMMEDIATE_EXIT, true),  CAP(MP_STATE, true),
    CAP(READONLY_MEM, true),    CAP(VCPU_EVENTS, false),    CAP(XSAVE, false),
    CAP(KVMCLOCK_CTRL, false),  CAP(SPLIT_IRQCHIP, false),  CAP(X2APIC_API, false),
    CAP(COALESCED_MMIO, false), CAP(DIRTY_LOG_RING, false), CAP(MANUAL_DIRTY_LOG_PROTECT2, false),
    CAP(TSC_CONTROL, false),    CAP(NESTED_STATE, false),   CAP(HYPERV, false),
};

static bool file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Does the CPU advertise hardware virtualisation (vmx/svm in /proc/cpuinfo flags)? */
static bool cpu_has_hw_virt(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return false;
    char line[8192];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "flags", 5))
            continue;
        found = strstr(line, " vmx") || strstr(line, " svm");
        break;
    }
    fclose(f);
    return found;
}

int kvm_host_open(struct kvm_host *kvm, char *err, size_t errlen)
{
    memset(kvm, 0, sizeof(*kvm));
    kvm->fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm->fd < 0) {
        int e = errno;
        snprintf(err, errlen, "/dev/kvm: %s", strerror(e));
        return -e;
    }
    int api = ioctl(kvm->fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        snprintf(err, errlen, "/dev/kvm: API version %d, truce needs %d", api, KVM_API_VERSION);
        goto fail;
    }
    for (size_t i = 0; i < ARRAY_SIZE(caps); i++) {
        if (caps[i].required && ioctl(kvm->fd, KVM_CHECK_EXTENSION, caps[i].id) <= 0) {
            snprintf(err, errlen, "/dev/kvm: missing capability KVM_CAP_%s", caps[i].name);
            goto fail;
        }
    }
    kvm->run_size = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (kvm->run_size <= 0) {
        snprintf(err, errlen, "/dev/kvm: KVM_GET_VCPU_MMAP_SIZE failed");
        goto fail;
    }
    kvm->max_vcpus = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (kvm->max_vcpus <= 0)
        kvm->max_vcpus = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    kvm->pvm = file_exists("/sys/module/kvm_pvm");
    return 0;
fail:
    close(kvm->fd);
    kvm->fd = -1;
    return -ENOTSUP;
}

void kvm_host_close(struct kvm_host *kvm)
{
    if (kvm->fd >= 0)
        close(kvm->fd);
    kvm->fd = -1;
    free(kvm->supported_cpuid);
    kvm->supported_cpuid = NULL;
    int spare = kvm_host_take_vm(kvm);
    if (spare >= 0)
        close(spare);
}

int kvm_host_take_vm(struct kvm_host *kvm)
{
    int fd = kvm->spare_vm > 0 ? kvm->spare_vm : -1;
    kvm->spare_vm = 0;
    kvm->spare_irqchip = false;
    return fd;
}

#define SUPPORTED_CPUID_MAX 256

const struct kvm_cpuid2 *kvm_host_cpuid(struct kvm_host *kvm, int *err)
{
    if (kvm->supported_cpuid)
        return kvm->supported_cpuid;
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + SUPPORTED_CPUID_MAX * sizeof(c->entries[0]));
    if (!c)
        return *err = -ENOMEM, NULL;
    c->nent = SUPPORTED_CPUID_MAX;
    if (ioctl(kvm->fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
        *err = -errno;
        free(c);
        return NULL;
    }
    /* only the entries KVM filled */
    struct kvm_cpuid2 *t = realloc(c, sizeof(*c) + c->nent * sizeof(c->entries[0]));
    return kvm->supported_cpuid = t ? t : c;
}

int kvm_host_report(FILE *out)
{
    struct kvm_host kvm;
    char err[256];
    if (kvm_host_open(&kvm, err, sizeof(err)) < 0) {
        fprintf(out, "kvm: unusable: %s\n", err);
        fprintf(out, "verdict: cannot run guests here; use the nested lab (make demo)\n");
        return 1;
    }
    /* only the report needs it: /proc/cpuinfo costs a VM's start 0.1-0.2 ms (bench/density.sh) */
    kvm.hw_virt = cpu_has_hw_virt();
    fprintf(out, "kvm: /dev/kvm API %d, max vCPUs %d\n", KVM_API_VERSION, kvm.max_vcpus);
    for (size_t i = 0; i < ARRAY_SIZE(caps); i++) {
        int v = ioctl(kvm.fd, KVM_CHECK_EXTENSION, caps[i].id);
        fprintf(out, "  %-26s %s%s\n", caps[i].name, v > 0 ? "yes" : "no",
                caps[i].required ? "" : " (optional)");
    }
    fprintf(out, "cpu: hardware virtualisation (vmx/svm) %s\n", kvm.hw_virt ? "present" : "absent");
    int rc;
    if (kvm.pvm) {
        fprintf(out, "backend: kvm_pvm (PVM: KVM without VT-x/AMD-V, shadow paging)\n");
        fprintf(out,
                "verdict: PVM-backed /dev/kvm: stock guests run in KVM's instruction emulator and "
                "cannot boot Linux here; test guests and PVM-aware kernels run; real Linux "
                "guests run in the nested lab (make demo, make lab)\n");
        rc = 1;
    } else if (!kvm.hw_virt) {
        fprintf(out, "verdict: /dev/kvm without hardware virtualisation: stock guests will not "
                     "boot; use the nested lab (make demo)\n");
        rc = 1;
    } else {
        fprintf(out, "verdict: this host runs stock guests directly\n");
        rc = 0;
    }
    kvm_host_close(&kvm);
    return rc;
}
