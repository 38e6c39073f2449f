/* lifecycle.c — the api object and the VM it drives: start, pause/resume, Ctrl-Alt-Del, swap. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "api/api_int.h"
#include "dev/ahci.h"
#include "dev/dev.h"
#include "machine/snapshot.h"
#include "machine/machine.h"
#include "mmds/mmds.h"
#include "sandbox/jail.h"
#include "virtio/blk.h"

struct api *api_new(const char *id)
{
    struct api *api = calloc(1, sizeof(*api));
    if (!api)
        return NULL;
    pthread_mutex_init(&api->lock, NULL);
    pthread_cond_init(&api->cond, NULL);
    snprintf(api->id, sizeof(api->id), "%s", id && *id ? id : API_DEFAULT_ID);
    config_defaults(&api->cfg);
    snprintf(api->cfg.vm_id, sizeof(api->cfg.vm_id), "%s", api->id);
    api->metrics.fd = -1;
    api->max_payload = API_MAX_PAYLOAD_DEFAULT;
    api->start_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (api->start_efd < 0 || !(api->mmds = mmds_new(0))) {
        if (api->start_efd >= 0)
            close(api->start_efd);
        free(api);
        return NULL;
    }
    return api;
}

static void destroy_vm(struct api *api)
{
    if (api->vm) {
        vm_destroy(api->vm);
        free(api->vm);
        api->vm = NULL;
    }
    if (api->kvm_open)
        kvm_host_close(&api->kvm);
    api->kvm_open = false;
}

void api_free(struct api *api)
{
    if (!api)
        return;
    destroy_vm(api);
    api_metrics_close(&api->metrics);
    json_decref(api->cpu_config);
    mmds_free(api->mmds);
    close(api->start_efd);
    pthread_cond_destroy(&api->cond);
    pthread_mutex_destroy(&api->lock);
    free(api);
}

/* config_validate() speaks in `truce run` flags; name the Firecracker fields instead. */
static void cli_to_json_names(char *err, size_t errlen)
{
    static const struct {
        const char *flag, *field;
    } map[] = {
        {"--kernel", "boot-source.kernel_image_path"},    {"--initrd", "boot-source.initrd_path"},
        {"--cmdline", "boot-source.boot_args"},           {"--cpus", "machine-config.vcpu_count"},
        {"--memory", "machine-config.mem_size_mib"},      {"--disk", "drives"},
        {"--firmware-vars", "boot-source.firmware_vars"}, {"--firmware", "boot-source.firmware"},
        {"--hugepages", "machine-config.huge_pages"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
        size_t n = strlen(map[i].flag);
        if (strncmp(err, map[i].flag, n) || (err[n] != ':' && err[n] != ' ' && err[n] != ')'))
            continue;
        char rest[API_ERR_LEN];
        snprintf(rest, sizeof(rest), "%s", err + n);
        snprintf(err, errlen, "%s%s", map[i].field, rest);
        return;
    }
}

int api_validate(const struct api *api, struct vm_config *out, char *err, size_t errlen)
{
    *out = api->cfg;
    if (!api->boot_source_set && !out->firmware[0]) {
        snprintf(err, errlen, "boot-source: not configured (PUT /boot-source first)");
        return -EINVAL;
    }
    if (!out->cmdline_set)
        snprintf(out->cmdline, sizeof(out->cmdline), "console=%s",
                 out->console == CONSOLE_VIRTIO ? "hvc0" : "ttyS0");
    int rc = config_validate(out, err, errlen);
    if (rc < 0)
        cli_to_json_names(err, errlen);
    return rc;
}

/* The VM's threads run (RUNNING or paused): publish the state, wake api_wait. Returns 0. */
static int api_launched(struct api *api, bool running)
{
    api->state = running ? API_VM_RUNNING : API_VM_PAUSED;
    uint64_t one = 1;
    if (write(api->start_efd, &one, sizeof(one)) < 0)
        log_err("api: cannot signal the VM start: %s", strerror(errno));
    pthread_cond_broadcast(&api->cond);
    return 0;
}

/* The VM is built: start its threads (paused unless RUNNING), then api_launched. Returns 0 or
 * <0 with ERR; on failure the VM is destroyed. */
static int api_launch(struct api *api, bool running, char *err, size_t errlen)
{
    int rc = landlock_vm_start(api->vm, &api->vm->cfg, !running); /* threads under Landlock */
    if (rc < 0) {
        snprintf(err, errlen, "cannot start the VM threads: %s", strerror(-rc));
        vm_destroy(api->vm);
        free(api->vm);
        api->vm = NULL;
        return rc;
    }
    return api_launched(api, running);
}

/* migrate_receive's start: the threads under Landlock, paused until the state is in. */
static int receive_start(struct vm *vm, void *arg)
{
    (void)arg;
    return landlock_vm_start(vm, &vm->cfg, true);
}

void api_kvm_warm(struct api *api)
{
    char err[API_ERR_LEN];
    struct kvm_host kvm;
    uint64_t t0 = now_ns();
    pthread_mutex_lock(&api->lock);
    bool wanted = !api->kvm_open && !api->vm;
    pthread_mutex_unlock(&api->lock);
    /* without the lock, on its own /dev/kvm handle: a request meanwhile does not wait for it */
    if (!wanted || kvm_host_open(&kvm, err, sizeof(err)) < 0)
        return;
    machine_warm(&kvm); /* on failure the VM's build tries again and says why */
    pthread_mutex_lock(&api->lock);
    bool taken = !api->kvm_open && !api->vm;
    if (taken)
        api->kvm = kvm, api->kvm_open = true;
    pthread_mutex_unlock(&api->lock);
    if (!taken) /* a build came first, with its own */
        kvm_host_close(&kvm);
    log_debug("kvm-warm us=%llu%s (/dev/kvm, its CPUID, a VM with its irqchip made ahead)",
              (unsigned long long)(now_ns() - t0) / 1000, taken ? "" : " unused");
}

/* The process's /dev/kvm handle (api_kvm_warm's when it is done), opened now if there is none.
 * Lock held. Returns 0 or <0 with ERR. */
static int api_kvm(struct api *api, char *err, size_t errlen)
{
    int rc = api->kvm_open ? 0 : kvm_host_open(&api->kvm, err, errlen);
    api->kvm_open = !rc;
    return rc;
}

int api_start_vm(struct api *api, char *err, size_t errlen)
{
    struct vm_config *cfg = malloc(sizeof(*cfg));
    int rc = -ENOMEM;
    if (!cfg)
        goto out;
    if ((rc = api_validate(api, cfg, err, errlen)) < 0)
        goto out;
    if ((rc = api_kvm(api, err, errlen)) < 0)
        goto out;
    if (api->kvm.pvm && cfg->kernel[0])
        log_warn("/dev/kvm is PVM-backed: a kernel that is not PVM-aware runs in KVM's "
                 "instruction emulator (see `truce check`)");
    rc = -ENOMEM;
    if (!(api->vm = calloc(1, sizeof(*api->vm))))
        goto out;
    api->vm->mmds = api->mmds;
    if ((rc = vm_create(api->vm, &api->kvm, cfg, err, errlen)) < 0)
        goto fail;
    if ((rc = api_launch(api, true, err, errlen)) == 0)
        log_info("microVM %s started", api->id);
    goto out;
fail:
    if (!err[0])
        snprintf(err, errlen, "%s", strerror(-rc));
    vm_destroy(api->vm);
    free(api->vm);
    api->vm = NULL;
out:
    if (rc == -ENOMEM && !err[0])
        snprintf(err, errlen, "out of memory");
    free(cfg);
    return rc;
}

int api_restore_vm(struct api *api, const struct api_restore *r, char *err, size_t errlen)
{
    int rc = api_kvm(api, err, errlen);
    if (rc < 0)
        return rc;
    if (!(api->vm = calloc(1, sizeof(*api->vm))))
        return snprintf(err, errlen, "out of memory"), -ENOMEM;
    api->vm->mmds = api->mmds;
    struct mig_stats st;
    struct mig_dest d = {r->listen_fd, r->wait_ms, r->ov, receive_start, NULL};
    rc = r->state ? snapshot_restore(api->vm, &api->kvm, r->state, r->mem, r->ov, err, errlen)
                  : migrate_receive(api->vm, &api->kvm, &d, &st, err, errlen);
    if (rc < 0) {
        vm_destroy(api->vm);
        free(api->vm);
        api->vm = NULL;
        return rc;
    }
    mem_copy(&api->cfg, &api->vm->cfg, sizeof(api->cfg)); /* only its settings' pages */
    api->boot_source_set = true;
    rc = r->state ? api_launch(api, r->resume, err, errlen) : api_launched(api, true);
    if (!rc && r->state)
        log_info("microVM %s restored from %s (%s)", api->id, r->state,
                 r->resume ? "running" : "paused");
    else if (!rc)
        log_info("microVM %s migrated in: %llu MiB (%llu pages) in %llu ms", api->id,
                 (unsigned long long)(st.bytes >> 20), (unsigned long long)st.pages,
                 (unsigned long long)st.total_ms);
    return rc;
}

int api_pause(struct api *api, bool pause, char *err, size_t errlen)
{
    enum api_vm_state want = pause ? API_VM_PAUSED : API_VM_RUNNING;
    if (api->state == want)
        return 0; /* already there: Firecracker treats a repeat as success */
    int rc = pause ? vm_pause(api->vm) : vm_resume(api->vm);
    if (rc < 0) {
        snprintf(err, errlen, "state: cannot %s the microVM: it is stopping",
                 pause ? "pause" : "resume");
        return rc;
    }
    api->state = want;
    log_info("microVM %s %s", api->id, pause ? "paused" : "resumed");
    return 0;
}

int api_ctrl_alt_del(struct api *api, char *err, size_t errlen)
{
    int rc = i8042_send_ctrl_alt_del(api->vm);
    if (rc == -ENODEV)
        snprintf(err, errlen, "the microVM has no i8042 keyboard controller");
    else if (rc == -EAGAIN)
        snprintf(err, errlen, "the guest has disabled the keyboard");
    else if (rc == -ENOSPC)
        snprintf(err, errlen, "the keyboard buffer is full; the guest is not reading it");
    else if (rc < 0)
        snprintf(err, errlen, "%s", strerror(-rc));
    return rc;
}

int api_power_button(struct api *api, char *err, size_t errlen)
{
    int rc = piix_power_button(api->vm);
    if (rc == -ENODEV)
        snprintf(err, errlen, "the microVM has no ACPI power button (firmware boots only)");
    else if (rc == -EAGAIN)
        snprintf(err, errlen, "the guest has not enabled the ACPI power button event");
    else if (rc < 0)
        snprintf(err, errlen, "%s", strerror(-rc));
    return rc;
}

int api_swap_drive(struct api *api, const char *id, const char *path, char *err, size_t errlen)
{
    int i = -1;
    for (unsigned j = 0; j < api->cfg.ndisks; j++)
        if (!strcmp(api->cfg.disks[j].id, id))
            i = (int)j;
    if (i < 0) {
        snprintf(err, errlen, "drive_id: no drive '%s'", id);
        return -ENOENT;
    }
    char why[API_ERR_LEN] = "";
    const struct disk_config *d = &api->cfg.disks[i];
    if (d->iface == DISK_IF_AHCI && !d->cdrom) {
        snprintf(err, errlen, "path_on_host: drive '%s' is an AHCI disk; only CD-ROM media change",
                 id);
        return -EINVAL;
    }
    /* a CD-ROM drive: insert PATH, or eject with "" (a truce extension) */
    int rc = d->cdrom ? ahci_change_media(api->vm, id, path, why, sizeof(why))
                      : virtio_blk_swap(api->vm, id, path, why, sizeof(why));
    if (rc < 0) {
        snprintf(err, errlen, "path_on_host: %s", why[0] ? why : strerror(-rc));
        return rc;
    }
    if (path[0]) /* an ejected CD-ROM drive keeps its last image in the configuration */
        snprintf(api->cfg.disks[i].path, sizeof(api->cfg.disks[i].path), "%s", path);
    log_info("drive %s now backed by %s", id, path[0] ? path : "nothing (ejected)");
    return 0;
}

/* Wait for InstanceStart or a termination signal. Returns true when a VM started. */
static bool wait_for_start(struct api *api)
{
    sigset_t set;
    signals_block_termination(&set);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    bool signalled = false;
    for (;;) {
        struct pollfd p[2] = {{.fd = api->start_efd, .events = POLLIN},
                              {.fd = sfd, .events = POLLIN}};
        if (poll(p, sfd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
            break;
        if (p[0].revents & POLLIN)
            break;
        struct signalfd_siginfo si;
        if ((p[1].revents & POLLIN) && read(sfd, &si, sizeof(si)) == sizeof(si)) {
            log_info("stopped by signal %s", strsignal(si.ssi_signo));
            signalled = true;
            break;
        }
    }
    if (sfd >= 0)
        close(sfd);
    pthread_mutex_lock(&api->lock);
    bool started = api->vm != NULL;
    if (!started)
        api->state = API_VM_STOPPED; /* InstanceStart from now on is refused */
    else if (signalled)
        vm_request_stop(api->vm, TRUCE_EXIT_SIGNAL, "stopped by a signal");
    pthread_mutex_unlock(&api->lock);
    return started;
}

int api_wait(struct api *api)
{
    if (!wait_for_start(api))
        return TRUCE_EXIT_SIGNAL;
    int status = vm_wait(api->vm);
    pthread_mutex_lock(&api->lock);
    api->state = API_VM_STOPPED;
    pthread_cond_broadcast(&api->cond);
    pthread_mutex_unlock(&api->lock);
    return status;
}
