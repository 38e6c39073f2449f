/* machine.h — building a VM from its configuration and driving its lifecycle. */
#ifndef TRUCE_MACHINE_H
#define TRUCE_MACHINE_H

#include <stdbool.h>
#include <stddef.h>

#include "vm/vm.h"

/* ---- builder (machine/builder.c) ------------------------------------------------------------ */
/* Create the VM: KVM VM fd, memory, irqchip + PIT, devices, boot image. CFG must have passed
 * config_validate. On error returns <0 with one line in ERR; vm_destroy still must be called. */
int vm_create(struct vm *vm, struct kvm_host *kvm, const struct vm_config *cfg, char *err,
              size_t errlen);
/* The same for a snapshot restore or an incoming migration: RAM mapped privately from MEM_FD
 * (or anonymous when MEM_FD < 0: the caller fills it), no boot image loaded and no boot
 * registers set (the saved state is restored next). */
/* Zero VM before a build (fds -1), keeping the caller's MMDS store (vm.h): what vm_destroy takes
 * when a build fails before it starts. */
void machine_clear(struct vm *vm);
int vm_create_restore(struct vm *vm, struct kvm_host *kvm, const struct vm_config *cfg, int mem_fd,
                      char *err, size_t errlen);
/* What every build does first, done ahead by a VMM waiting for its API (kvm open): KVM's
 * supported CPUID asked, and one KVM VM made (kvm->spare_vm) with its TSS, identity map, irqchip
 * and PIT, and with the slow first memory slot after the irqchip behind it (a page set and
 * deleted), for the next build to take: on PVM-backed KVM 0.6 ms of work and the waits for
 * several SRCU grace periods (ms on a loaded host) off a start's or restore's path. Failures are
 * left for the build to meet and report. */
void machine_warm(struct kvm_host *kvm);
/* ---- lifecycle (machine/lifecycle.c) -------------------------------------------------------- */
/* Start the I/O thread and every vCPU thread. Returns 0 or -errno. */
int vm_start(struct vm *vm);
/* The same, with the VM PAUSED from the start when asked (a restored VM not resumed yet): its
 * vCPUs wait before their first KVM_RUN until vm_resume. */
int vm_start_in(struct vm *vm, bool paused);
/* Block until the VM stops; returns its enum truce_status (or debug-exit status). */
int vm_wait(struct vm *vm);
/* Pause: every vCPU leaves KVM_RUN and waits, kvmclock is frozen, then every device is paused
 * (devices_pause: no queue processing, in-flight disk I/O completed, backends hold frames and
 * input). Resume: devices first, then the vCPUs. Return 0 or -errno (-EINVAL in the wrong
 * state). */
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
/* Tear everything down (threads joined, fds closed, memory unmapped). Safe on a partial VM.
 * Guarded by the shutdown watchdog: when a thread the guest kept busy does not end within
 * TRUCE_SHUTDOWN_GRACE_MS, the process exits with the VM's status and a line naming it. */
void vm_destroy(struct vm *vm);
/* Stamp mark M of VM's start-up timeline (vm.h, enum vm_mark) with now_ns(). */
void vm_mark(struct vm *vm, enum vm_mark m);
/* VM's start-up timeline as one line into BUF of SIZE: "start-stats restore=0|1 PHASE=USEC ...
 * run=USEC total=USEC main_ns=NS begin_ns=NS", the phases in the order they ended, each the
 * microseconds since the previous one ended (phases not reached are left out; run: the first vCPU's
 * seccomp filter to its first KVM_RUN), total: the request to the first KVM_RUN (0: not run yet),
 * main_ns and begin_ns: CLOCK_MONOTONIC at main()'s entry and at the request. vm_destroy logs it at
 * debug level. */
void vm_marks_format(const struct vm *vm, char *buf, size_t size);

#endif
