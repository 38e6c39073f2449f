/* seccomp_lists.c — the allowlists as data: one rule per line, per thread kind, with who needs it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <linux/vhost.h>
#include <sys/mman.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/ioctl.h>

#include "sandbox/sandbox.h"
#include "util/util.h"

/* clang-format off */
#define CMP(i, o, a, b) {.arg = (i), .op = (o), .datum_a = (a), .datum_b = (b)}
/* Any arguments. */
#define SYS(sys, text) {.nr = SCMP_SYS(sys), .name = #sys, .argtext = "", .why = (text)}
/* Argument I equals VAL. */
#define SYS_EQ(sys, i, val, text)                                                                  \
    {.nr = SCMP_SYS(sys),                                                                          \
     .name = #sys,                                                                                 \
     .nargs = 1,                                                                                   \
     .args = {CMP(i, SCMP_CMP_EQ, (val), 0)},                                                      \
     .argtext = "arg" #i " == " #val,                                                              \
     .why = (text)}
/* ioctl with request REQ (compared on 32 bits: the kernel's cmd is an unsigned int). */
#define IOCTL(req, text)                                                                           \
    {.nr = SCMP_SYS(ioctl),                                                                        \
     .name = "ioctl",                                                                              \
     .nargs = 1,                                                                                   \
     .args = {CMP(1, SCMP_CMP_MASKED_EQ, 0xffffffffu, (req))},                                     \
     .argtext = #req,                                                                              \
     .why = (text)}
/* ioctl with request REQ, only for a VM with PART. */
#define IOCTL_IF(req, part, text)                                                                  \
    {.nr = SCMP_SYS(ioctl),                                                                        \
     .name = "ioctl",                                                                              \
     .nargs = 1,                                                                                   \
     .args = {CMP(1, SCMP_CMP_MASKED_EQ, 0xffffffffu, (req))},                                     \
     .argtext = #req,                                                                              \
     .why = (text),                                                                                \
     .only = (part)}
#define FCNTL(cmd, text) SYS_EQ(fcntl, 1, cmd, text)
/* Fails with ERR instead of running. */
#define SYS_FAILS(sys, err, text)                                                                  \
    {.nr = SCMP_SYS(sys), .name = #sys, .argtext = "", .why = (text), .fail_errno = (err)}
/* clone of a thread (never a new process: CLONE_THREAD and CLONE_VM both set). */
#define CLONE_THREADS(text)                                                                        \
    {.nr = SCMP_SYS(clone),                                                                        \
     .name = "clone",                                                                              \
     .nargs = 1,                                                                                   \
     .args = {CMP(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD | CLONE_VM, CLONE_THREAD | CLONE_VM)},       \
     .argtext = "flags with CLONE_THREAD|CLONE_VM",                                                \
     .why = (text)}
/* Private anonymous memory, never executable (glibc malloc arenas and large blocks). */
#define MAP_KIND (MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
#define MMAP_ANON(text)                                                                            \
    {.nr = SCMP_SYS(mmap),                                                                         \
     .name = "mmap",                                                                               \
     .nargs = 2,                                                                                   \
     .args = {CMP(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0),                                            \
              CMP(3, SCMP_CMP_MASKED_EQ, MAP_KIND, MAP_PRIVATE | MAP_ANONYMOUS)},                  \
     .argtext = "prot without PROT_EXEC, flags MAP_PRIVATE|MAP_ANONYMOUS (no MAP_FIXED)",          \
     .why = (text)}
#define MPROTECT_NOEXEC(text)                                                                      \
    {.nr = SCMP_SYS(mprotect),                                                                     \
     .name = "mprotect",                                                                           \
     .nargs = 1,                                                                                   \
     .args = {CMP(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)},                                           \
     .argtext = "prot without PROT_EXEC",                                                          \
     .why = (text)}
/* fstat(2): glibc makes it newfstatat(fd, "", buf, AT_EMPTY_PATH); never a path lookup. */
#define FSTAT(text)                                                                                \
    {.nr = SCMP_SYS(newfstatat),                                                                   \
     .name = "newfstatat",                                                                         \
     .nargs = 1,                                                                                   \
     .args = {CMP(3, SCMP_CMP_EQ, AT_EMPTY_PATH, 0)},                                              \
     .argtext = "fstat only: flags == AT_EMPTY_PATH",                                              \
     .why = (text)}
#define SOCKET(dom, type, part, text)                                                              \
    {.nr = SCMP_SYS(socket),                                                                       \
     .name = "socket",                                                                             \
     .nargs = 2,                                                                                   \
     .args = {CMP(0, SCMP_CMP_EQ, dom, 0), CMP(1, SCMP_CMP_MASKED_EQ, 0xf, type)},                 \
     .argtext = #dom ", " #type,                                                                   \
     .why = (text),                                                                                \
     .only = (part)}
/* Only for a VM with PART (SANDBOX_IF_*). */
#define SYS_IF(sys, part, text) {.nr = SCMP_SYS(sys), .name = #sys, .argtext = "", .why = (text), .only = (part)}
/* open read-only, never creating or truncating; only for a VM with PART. */
#define OPEN_RDONLY_IF(part, text)                                                                 \
    {.nr = SCMP_SYS(openat),                                                                       \
     .name = "openat",                                                                             \
     .nargs = 1,                                                                                   \
     .args = {CMP(2, SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY)},                \
     .argtext = "flags O_RDONLY, no O_CREAT|O_TRUNC",                                              \
     .why = (text),                                                                                \
     .only = (part)}
/* sched_setscheduler to POLICY only (never a real-time one). */
#define SCHED_SET(policy, text)                                                                    \
    {.nr = SCMP_SYS(sched_setscheduler),                                                           \
     .name = "sched_setscheduler",                                                                 \
     .nargs = 1,                                                                                   \
     .args = {CMP(1, SCMP_CMP_EQ, policy, 0)},                                                     \
     .argtext = "policy " #policy,                                                                 \
     .why = (text)}

/* vhost-net (virtio/net_vhost.c): the rings start where the device goes live (DRIVER_OK on a vCPU
 * thread, resume on the api thread) and stop where it stops (reset on a vCPU, pause on the api
 * thread, teardown on the main thread). */
#define VHOST_START(WHY_START)                                                                     \
    IOCTL_IF(VHOST_SET_FEATURES, SANDBOX_IF_VHOST, "vhost-net: " WHY_START),                  \
    IOCTL_IF(VHOST_SET_MEM_TABLE, SANDBOX_IF_VHOST, "vhost-net: " WHY_START),                 \
    IOCTL_IF(VHOST_SET_VRING_NUM, SANDBOX_IF_VHOST, "vhost-net: " WHY_START),                 \
    IOCTL_IF(VHOST_SET_VRING_BASE, SANDBOX_IF_VHOST, "vhost-net: " WHY_START),                \
    IOCTL_IF(VHOST_SET_VRING_ADDR, SANDBOX_IF_VHOST, "vhost-net: " WHY_START),                \
    IOCTL_IF(VHOST_SET_VRING_KICK, SANDBOX_IF_VHOST, "vhost-net: " WHY_START),                \
    IOCTL_IF(VHOST_SET_VRING_CALL, SANDBOX_IF_VHOST, "vhost-net: " WHY_START "; MSI-X changes move it"), \
    IOCTL_IF(KVM_IRQFD, SANDBOX_IF_VHOST, "vm fd: vhost-net raises MSI-X through an irqfd: " WHY_START), \
    IOCTL_IF(KVM_SET_GSI_ROUTING, SANDBOX_IF_VHOST, "vm fd: the irqfd's MSI route follows the guest's MSI-X table: " WHY_START), \
    IOCTL_IF(VHOST_SET_LOG_BASE, SANDBOX_IF_VHOST, "vhost-net: its dirty log while tracking is on: " WHY_START)
#define VHOST_STOP(why)                                                                            \
    IOCTL_IF(VHOST_NET_SET_BACKEND, SANDBOX_IF_VHOST, "vhost-net: the tap attached or detached: " why), \
    IOCTL_IF(VHOST_GET_VRING_BASE, SANDBOX_IF_VHOST, "vhost-net: the ring index read back: " why)
/* clang-format on */

/* ---- vCPU threads: KVM_RUN and the exits they handle ----------------------------------------- */
static const struct sandbox_rule vcpu_rules[] = {
    IOCTL(KVM_RUN, "vcpu fd: run the guest until the next exit"),
    IOCTL(KVM_GET_MP_STATE, "vcpu fd: is this vCPU halted (idle check of the monitor)"),
    IOCTL(KVM_GET_REGS, "vcpu fd: RFLAGS.IF of a halted vCPU (idle check)"),
    IOCTL(KVM_GET_SREGS, "vcpu fd: the state logged when the guest triple-faults"),
    IOCTL(KVM_IRQ_LINE, "vm fd: device interrupts raised from an exit (UART, i8042, ACPI)"),
    IOCTL(KVM_SIGNAL_MSI, "vm fd: MSI-X interrupts raised from an exit"),
    IOCTL(KVM_IOEVENTFD, "vm fd: virtio-pci notify eventfds follow the BAR the guest programs"),
    IOCTL_IF(KVM_SET_USER_MEMORY_REGION, SANDBOX_IF_FLASH,
             "vm fd: OVMF's variable flash is a memory slot only in read-array mode"),
    IOCTL(TUNSETOFFLOAD, "tap fd: offloads follow what the guest's driver negotiated"),
    IOCTL(TUNSETQUEUE, "tap fd: a driver reset leaves a multiqueue tap one queue (net_set_pairs)"),
    VHOST_START("the driver's DRIVER_OK starts the rings"),
    VHOST_STOP("DRIVER_OK, or a driver reset"),
    IOCTL_IF(KVM_SET_USER_MEMORY_REGION, SANDBOX_IF_DISPLAY,
             "vm fd: the framebuffer's memory slot follows the BAR the guest programs"),
    SYS(epoll_ctl, "devices (de)activated by the driver add/remove their descriptors"),
    SYS(io_uring_enter, "disk: a driver resetting virtio-blk waits for requests in flight"),
    SYS_IF(timerfd_settime, SANDBOX_IF_VSOCK,
           "vsock: the engine's timer, armed as the driver starts it"),
    SYS_IF(close, SANDBOX_IF_VSOCK, "vsock: a driver resetting the device closes its connections"),
    SYS(futex, "VM, device and queue locks; condition variables (pause)"),
    SYS(write, "eventfds (queue kicks to the I/O thread), stop pipe, console output, log"),
    SYS(read, "draining an eventfd"),
    SYS(tgkill, "pthread_kill: kicking the other vCPUs out of KVM_RUN on stop"),
    SYS(getpid, "pthread_kill/raise: the thread group id"),
    SYS(gettid, "pthread_kill of itself (a vCPU stopping the VM kicks every vCPU)"),
    SYS(rt_sigreturn, "return from the kick signal handler"),
    SYS(rt_sigprocmask, "glibc: signal masks around thread exit"),
    MMAP_ANON("malloc: large blocks"),
    SYS(brk, "malloc: growing or trimming the one heap every thread shares (main.c: one arena)"),
    SYS(munmap, "free of large blocks; thread exit"),
    SYS(madvise, "glibc: releasing free memory and the stack at thread exit"),
    SYS(exit, "thread exit"),
    SYS(clock_gettime, "time where the vDSO cannot read the clock (e.g. the lab's L1)"),
    SYS(exit_group, "process exit (the SIGSYS handler's _exit)"),
};

/* ---- the device I/O thread: the event loop, virtio queues, backends ------------------------- */
static const struct sandbox_rule io_rules[] = {
    SYS(epoll_wait, "the event loop (util/evloop.c) and slirp's inner set"),
    SYS(epoll_ctl, "backends adding and removing descriptors (slirp sockets, vsock connections)"),
    SYS(read, "eventfds, tap frames, console input, UNIX sockets (vsock), slirp sockets"),
    SYS(write, "eventfds, tap frames, console output, log lines"),
    SYS(readv, "tap: frames into guest buffers"),
    SYS(writev, "tap: frames from guest buffers"),
    SYS(recvfrom, "slirp: TCP/UDP data from the host side"),
    SYS(sendto, "slirp: TCP/UDP data to the host side; vsock: UNIX sockets"),
    SYS(recvmsg, "vsock: UNIX socket data"),
    SYS(sendmsg, "slirp: UDP datagrams"),
    SYS(io_uring_enter, "disk: submitting and reaping block requests"),
    IOCTL(KVM_IRQ_LINE, "vm fd: INTx from device completions"),
    VHOST_START("the control queue's VQ_PAIRS_SET starts a queue pair's rings"),
    VHOST_STOP("VQ_PAIRS_SET stops the pairs it leaves unused"),
    IOCTL(KVM_SIGNAL_MSI, "vm fd: MSI-X from device completions"),
    IOCTL(TUNSETQUEUE, "tap fd: the driver's VQ_PAIRS_SET attaches or detaches tap queues"),
    SOCKET(AF_INET, SOCK_STREAM, SANDBOX_IF_USERNET, "slirp: outgoing TCP for the guest"),
    SOCKET(AF_INET, SOCK_DGRAM, SANDBOX_IF_USERNET,
           "slirp: outgoing UDP and ICMP echo (ping sockets)"),
    SOCKET(AF_INET6, SOCK_STREAM, SANDBOX_IF_USERNET, "slirp: outgoing TCP over IPv6"),
    SOCKET(AF_INET6, SOCK_DGRAM, SANDBOX_IF_USERNET, "slirp: outgoing UDP over IPv6"),
    SOCKET(AF_UNIX, SOCK_STREAM, SANDBOX_IF_VSOCK,
           "vsock: guest-initiated connections to UDS_PORT"),
    SYS(connect, "slirp and vsock: the sockets above"),
    SYS_IF(accept4, SANDBOX_IF_VSOCK, "vsock: host-initiated connections"),
    SYS(setsockopt, "slirp: socket options (SO_REUSEADDR, TCP_NODELAY, buffers)"),
    SYS(getsockopt, "slirp: SO_ERROR after a non-blocking connect"),
    SYS(getsockname, "slirp: local addresses"),
    SYS(getpeername, "slirp: peer addresses"),
    SYS(shutdown, "slirp and vsock: half-closing connections"),
    SYS(close, "closing connections and sockets"),
    FCNTL(F_GETFL, "slirp: making sockets non-blocking"),
    FCNTL(F_SETFL, "slirp: making sockets non-blocking"),
    FCNTL(F_SETFD, "slirp: close-on-exec on sockets"),
    SYS(timerfd_settime, "slirp: timers; rate limiters: the retry timer (virtio/rl.c)"),
    IOCTL_IF(FIONREAD, SANDBOX_IF_USERNET, "libslirp: bytes waiting on a socket"),
    SYS_IF(accept, SANDBOX_IF_USERNET, "libslirp: connections to a hostfwd port"),
    SYS_IF(poll, SANDBOX_IF_USERNET, "slirp: polling its sockets (backend/slirp.c)"),
    OPEN_RDONLY_IF(SANDBOX_IF_USERNET,
                   "libslirp reads /etc/resolv.conf to forward DNS (Landlock limits the path)"),
    SYS_IF(newfstatat, SANDBOX_IF_USERNET, "libslirp: has /etc/resolv.conf changed (stat)"),
    SYS_IF(lseek, SANDBOX_IF_USERNET, "libslirp's TFTP server: the block it sends next"),
    SYS_IF(getrandom, SANDBOX_IF_RNG | SANDBOX_IF_MMDS,
           "virtio-rng: entropy for the guest; MMDS: session tokens, TCP sequence numbers"),
    SYS(fdatasync, "virtio-pmem: a flush request makes the mapped file durable"),
    SYS(sched_getscheduler, "net, blk: the I/O thread reads its policy (bulk mode, vm/io_bulk.c)"),
    SYS(sched_getparam, "net, blk: the I/O thread reads its priority (bulk mode)"),
    SCHED_SET(SCHED_BATCH, "net, blk: bulk traffic runs the I/O thread as SCHED_BATCH"),
    SCHED_SET(SCHED_OTHER, "net, blk: and back to SCHED_OTHER"),
    SYS(futex, "device and VM locks"),
    SYS(tgkill, "pthread_kill: kicking vCPUs when the I/O thread stops the VM"),
    SYS(getpid, "pthread_kill: the thread group id"),
    MMAP_ANON("malloc: this thread's arena and large blocks"),
    MPROTECT_NOEXEC("malloc: growing this thread's arena"),
    SYS(munmap, "free of large blocks"),
    SYS(madvise, "glibc: releasing free memory; thread exit"),
    SYS(rt_sigprocmask, "glibc: signal masks around thread exit"),
    SYS(exit, "thread exit"),
    SYS(brk, "malloc: growing or trimming the one heap every thread shares (main.c: one arena)"),
    SYS(clock_gettime, "time where the vDSO cannot read the clock (e.g. the lab's L1)"),
    SYS(exit_group, "process exit (the SIGSYS handler's _exit)"),
};

/* ---- the API server thread (after InstanceStart) and the metrics ticker --------------------- */
static const struct sandbox_rule api_rules[] = {
    SYS(poll, "the server loop"),
    SYS(accept4, "new API connections"),
    SYS(write, "responses, metrics and log lines"),
    SYS(close, "closed connections; the old image after PATCH /drives"),
    SYS(openat, "PATCH /drives: the new image; snapshot files (the only kind that opens)"),
    FSTAT("PATCH /drives: the new file's type and size; metrics: is the path a FIFO"),
    SYS(fallocate, "PATCH /drives: can the new image punch holes (discard)"),
    SYS(recvfrom, "requests (recv)"),
    SYS(sendmsg, "responses; PUT /migration: guest RAM in batches of page runs"),
    SYS(lseek, "PATCH /drives: the new file's size; snapshot files: where the next write goes"),
    SYS(flock, "PATCH /drives: locking the new image"),
    SYS(io_uring_enter, "PATCH /drives: draining the old image's requests"),
    IOCTL(KVM_GET_CLOCK, "vm fd: PATCH /vm Paused freezes guest time"),
    IOCTL(KVM_SET_CLOCK, "vm fd: PATCH /vm Resumed"),
    IOCTL(KVM_KVMCLOCK_CTRL, "vcpu fd: PATCH /vm Paused tells the guest's kvmclock"),
    IOCTL(KVM_IRQ_LINE, "vm fd: SendCtrlAltDel through the i8042; INTx of a device pausing"),
    IOCTL(KVM_SIGNAL_MSI, "vm fd: a virtio-blk device pausing completes its requests"),
    VHOST_START("PATCH /vm Resumed starts the rings again"),
    VHOST_STOP("PATCH /vm Paused, and Resumed"),
    SYS(epoll_ctl, "PATCH /vm: pausing devices takes their descriptors off the event loop"),
    IOCTL(KVM_GET_IRQCHIP, "vm fd, PUT /snapshot/create: PIC and IOAPIC state"),
    IOCTL(KVM_GET_PIT2, "vm fd, snapshot: PIT state"),
    IOCTL(KVM_GET_MSR_INDEX_LIST, "/dev/kvm fd, snapshot: which MSRs to save"),
    IOCTL(KVM_GET_MP_STATE, "vcpu fd, snapshot (paused vCPUs)"),
    IOCTL(KVM_GET_REGS, "vcpu fd, snapshot"),
    IOCTL(KVM_GET_SREGS, "vcpu fd, snapshot"),
    IOCTL(KVM_GET_XSAVE, "vcpu fd, snapshot"),
    IOCTL(KVM_GET_XCRS, "vcpu fd, snapshot"),
    IOCTL(KVM_GET_DEBUGREGS, "vcpu fd, snapshot"),
    IOCTL(KVM_GET_LAPIC, "vcpu fd, snapshot"),
    IOCTL(KVM_GET_VCPU_EVENTS, "vcpu fd, snapshot"),
    IOCTL(KVM_GET_MSRS, "vcpu fd, snapshot"),
    IOCTL(KVM_GET_CPUID2, "vcpu fd, snapshot: the CPUID each vCPU was given"),
    IOCTL(KVM_GET_DIRTY_LOG, "vm fd, Diff snapshot and pre-copy migration: pages written"),
    IOCTL(KVM_SET_USER_MEMORY_REGION, "vm fd, pre-copy migration: dirty logging on and off"),
    SOCKET(AF_UNIX, SOCK_STREAM, 0, "PUT /migration: to unix:PATH"),
    SOCKET(AF_INET, SOCK_STREAM, 0, "PUT /migration: to tcp:ADDRESS:PORT (a numeric address)"),
    SOCKET(AF_INET6, SOCK_STREAM, 0, "PUT /migration: to tcp:[ADDRESS]:PORT"),
    SYS(connect, "PUT /migration: to the destination"),
    SYS(fsync, "snapshot: the files are on disk before they are renamed"),
    SYS(rename, "snapshot: the temporary files to their names"),
    SYS(unlink, "snapshot: a temporary file after a failed write"),
    IOCTL(FIONREAD, "metrics: room left in a metrics FIFO"),
    FCNTL(F_GETPIPE_SZ, "metrics: the metrics FIFO's size"),
    SYS(futex, "the api and VM locks"),
    SYS(tgkill, "pthread_kill: kicking vCPUs for pause"),
    SYS(getpid, "pthread_kill: the thread group id"),
    MMAP_ANON("malloc: JSON and buffers"),
    SYS(brk, "malloc: growing or trimming the one heap every thread shares (main.c: one arena)"),
    SYS(munmap, "free of large blocks"),
    SYS(madvise, "glibc: releasing free memory"),
    SYS(rt_sigprocmask, "glibc: signal masks around thread exit"),
    SYS(exit, "thread exit"),
    SYS(clock_gettime, "time where the vDSO cannot read the clock (e.g. the lab's L1)"),
    SYS(exit_group, "process exit (the SIGSYS handler's _exit)"),
};

/* ---- the main thread as monitor: signals, idle detection, then the teardown ------------------ */
static const struct sandbox_rule main_rules[] = {
    SYS(poll, "vm_wait: stop pipe, signalfd, idle tick"),
    SYS(read, "vm_wait: signalfd"),
    SYS(write, "stop pipe, event loop wake-up, the last status line, log"),
    SYS(futex, "VM lock; joining the other threads"),
    SYS(tgkill, "pthread_kill: kicking vCPUs (idle checks, stop)"),
    SYS(getpid, "pthread_kill: the thread group id"),
    SYS(gettid, "raise: `firecracker` ends killed by SIGTERM, as Firecracker (cli_firecracker.c)"),
    SYS(close, "teardown: every descriptor of the VM"),
    SYS(munmap, "teardown: guest RAM, kvm_run areas, io_uring rings"),
    SYS(madvise, "glibc: releasing free memory"),
    SYS(unlink, "teardown: the API socket, the vsock listening socket"),
    SYS(epoll_ctl, "teardown: devices leaving the event loop"),
    SYS(flock, "teardown: unlocking disk images"),
    IOCTL(KVM_IOEVENTFD, "vm fd, teardown: deassigning virtio notify eventfds"),
    VHOST_STOP("teardown stops the rings"),
    IOCTL_IF(KVM_IRQFD, SANDBOX_IF_VHOST,
             "vm fd, teardown: vhost-net's stopped rings deassign their irqfds"),
    IOCTL(TCGETS, "teardown: is the console a terminal"),
    IOCTL(TCSETS, "teardown: restoring the terminal's mode"),
    IOCTL(FIONREAD, "metrics: room left in a metrics FIFO before the last line"),
    FSTAT("metrics: is the metrics path a FIFO"),
    SYS(brk, "free: trimming the main heap"),
    FCNTL(F_GETPIPE_SZ, "metrics: the metrics FIFO's size"),
    FCNTL(F_SETFL, "teardown: clearing O_NONBLOCK on a shared stdin"),
    MMAP_ANON("malloc; the watchdog thread's stack"),
    MPROTECT_NOEXEC("malloc: growing an arena; the watchdog's stack guard"),
    SYS(rt_sigprocmask, "glibc: signals blocked around thread creation"),
    SYS_FAILS(clone3, ENOSYS, "its flags are out of a filter's sight: glibc falls back to clone"),
    CLONE_THREADS("teardown: the shutdown watchdog thread (vm/shutdown.c)"),
    SYS(set_robust_list, "the watchdog thread's start (glibc)"),
    SYS(rseq, "the watchdog thread's start (glibc)"),
    SYS(exit, "the watchdog thread's end"),
    SYS(clock_gettime, "time where the vDSO cannot read the clock (e.g. the lab's L1)"),
    SYS(exit_group, "process exit"),
};

/* ---- the VNC server thread (--display vnc=): clients, screen updates, input ----------------- */
static const struct sandbox_rule vnc_rules[] = {
    SYS(poll, "waiting for a client (listening socket, stop eventfd)"),
    SYS(select, "libvncserver: rfbProcessEvents waits on its clients"),
    SYS(pselect6, "libvncserver: select as glibc implements it"),
    SYS(accept4, "new clients (truce accepts, libvncserver serves)"),
    SYS(read, "client messages; the stop eventfd"),
    SYS(recvfrom, "libvncserver: client messages (recv), peeking at the handshake"),
    SYS(write, "screen updates to clients; log lines"),
    SYS(sendto, "libvncserver: screen updates (send)"),
    SYS(close, "clients that left, were refused or sent garbage"),
    SYS(shutdown, "libvncserver: closing a client"),
    SYS(setsockopt, "libvncserver: TCP_NODELAY on a new client"),
    SYS(getsockopt, "libvncserver: socket errors"),
    SYS(getpeername, "libvncserver: the new client's address for its log"),
    SYS(getsockname, "libvncserver: the new client's socket"),
    FCNTL(F_GETFL, "libvncserver: a client socket's flags"),
    FCNTL(F_SETFL, "libvncserver: a client socket non-blocking"),
    IOCTL(KVM_GET_DIRTY_LOG, "vm fd: framebuffer pages the guest wrote (damage tracking)"),
    IOCTL(KVM_IRQ_LINE, "vm fd: keys and pointer moves raise the i8042's IRQ 1 and 12"),
    SYS(getpid, "libvncserver: seeding its challenge (done once before the filter, kept)"),
    SYS(futex, "the display's and the i8042's locks"),
    SYS(gettimeofday, "libvncserver: update timing where the vDSO cannot read the clock"),
    SYS(clock_gettime, "time where the vDSO cannot read the clock (e.g. the lab's L1)"),
    MMAP_ANON("malloc: screen buffers, encoders' buffers"),
    MPROTECT_NOEXEC("malloc: growing this thread's arena"),
    SYS(munmap, "free of large blocks (a new screen size)"),
    SYS(madvise, "glibc: releasing free memory"),
    SYS(brk, "free: trimming the heap"),
    SYS(rt_sigprocmask, "glibc: signal masks around thread exit"),
    SYS(exit, "thread exit"),
    SYS(exit_group, "process exit (the SIGSYS handler's _exit)"),
};

/* ---- the initrd loader: the initrd into guest RAM while the guest runs -------------------------
 */
static const struct sandbox_rule loader_rules[] = {
    SYS(pread64, "the initrd file, a piece at a time"),
    IOCTL(UFFDIO_COPY, "userfaultfd: a piece into guest RAM, waking what waits on it"),
    IOCTL(UFFDIO_UNREGISTER, "userfaultfd: the loaded ranges back to ordinary guest RAM"),
    SYS(read, "userfaultfd: the pages the guest or a device touched first"),
    SYS(poll, "demand mode (TRUCE_BOOT_LOAD=demand): waiting for a touch"),
    SYS(close, "the userfaultfd and the file, once everything is in"),
    SYS(munmap, "the piece buffer, once everything is in"),
    SYS(write, "the stop pipe and the log line when a file fails to load"),
    SYS(futex, "the VM's lock when a file fails to load"),
    SYS(tgkill, "pthread_kill: kicking vCPUs when a failed file stops the VM"),
    SYS(getpid, "pthread_kill: the thread group id"),
    SYS(madvise, "glibc: thread exit"),
    SYS(rt_sigprocmask, "glibc: signal masks around thread exit"),
    SYS(exit, "thread exit"),
    SYS(exit_group, "process exit (the SIGSYS handler's _exit)"),
    SYS(clock_gettime, "time where the vDSO cannot read the clock (e.g. the lab's L1)"),
};

/* ---- every kind: how the kernel resumes an interrupted call ------------------------------------
 * A poll, futex wait or sleep with a timeout that a stop signal (SIGSTOP/SIGTSTP, then SIGCONT)
 * or the cgroup freezer interrupted goes on through restart_syscall, which only resumes the call
 * the filter already let through: in every filter, outside the per-kind counts. */
static const struct sandbox_rule common_rule_table[] = {
    SYS(restart_syscall, "a timed poll, futex wait or sleep resumed after SIGSTOP/SIGCONT"),
};
const struct sandbox_rule *const sandbox_common_rules = common_rule_table;
const size_t sandbox_common_nrules = ARRAY_SIZE(common_rule_table);

/* ---- sanitizer builds only (build/truce-asan, unit tests): the runtime's own syscalls -------- */
#if defined(__SANITIZE_ADDRESS__)
static const struct sandbox_rule sanitizer_rule_table[] = {
    SYS(gettid, "sanitizer: its thread registry"),
    SYS(sigaltstack, "sanitizer: each thread's alternate signal stack, removed at its exit"),
    {.nr = SCMP_SYS(mmap),
     .name = "mmap",
     .nargs = 1,
     .args = {CMP(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)},
     .argtext = "prot without PROT_EXEC (MAP_FIXED allowed)",
     .why = "sanitizer: its allocator maps its reserved regions in place"},
    SYS(sched_yield, "sanitizer: its spin locks"),
    SYS(sched_getaffinity, "sanitizer: a new thread's attributes (pthread_getattr_np)"),
};
const struct sandbox_rule *const sandbox_sanitizer_rules = sanitizer_rule_table;
const size_t sandbox_sanitizer_nrules = ARRAY_SIZE(sanitizer_rule_table);
#else
const struct sandbox_rule *const sandbox_sanitizer_rules = NULL;
const size_t sandbox_sanitizer_nrules = 0;
#endif

const struct sandbox_list sandbox_lists[SANDBOX_NKINDS] = {
    [SANDBOX_VCPU] = {"vcpu", "vCPU threads (KVM_RUN loop)", vcpu_rules, ARRAY_SIZE(vcpu_rules)},
    [SANDBOX_IO] = {"io", "the device I/O thread (event loop)", io_rules, ARRAY_SIZE(io_rules)},
    [SANDBOX_API] = {"api", "the API server thread and the metrics ticker", api_rules,
                     ARRAY_SIZE(api_rules)},
    [SANDBOX_MAIN] = {"main", "the main thread as monitor and for the teardown", main_rules,
                      ARRAY_SIZE(main_rules)},
    [SANDBOX_VNC] = {"vnc", "the VNC server thread (--display vnc=)", vnc_rules,
                     ARRAY_SIZE(vnc_rules)},
    [SANDBOX_LOADER] = {"loader", "the initrd loader (vm/lazyload.c)", loader_rules,
                        ARRAY_SIZE(loader_rules)},
};
