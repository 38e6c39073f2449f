/* io_bulk.c — bulk mode: how a VM's I/O thread shares a host CPU with the vCPUs that feed it. */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "util/util.h"
#include "vm/vm.h"

/* When a vCPU (or the host process feeding a tap) and the I/O thread share one host CPU
 * (overcommitted or nested hosts), every wake-up of the I/O thread by a guest notification or a
 * backend event preempts the thread that produced it: each frame or request then costs its own
 * notification, two context switches and an interrupt, and nothing ever batches (measured in the
 * nested lab: one kick, one preemption of the vCPU and two MSIs per transmitted frame; 0.7 MSIs
 * per 4 KiB read at queue depth 32 against QEMU's 0.09). While a device of the thread moves bulk
 * data (each device has its own detector: large frames for virtio-net, io_bulk_batch for the
 * disks) the thread runs as SCHED_BATCH, whose wake-ups do not
 * preempt: the producer fills the ring until it blocks or its time slice ends, then the I/O
 * thread serves the whole batch with one notification and one interrupt (EVENT_IDX does the
 * rest). With an idle CPU at hand neither policy changes anything. The count of devices in bulk
 * mode belongs to the I/O thread (thread-local: every caller runs there, and each VM has its own
 * I/O thread). */
static __thread unsigned io_bulk_devs; /* devices of this I/O thread in bulk mode */
static __thread int io_policy = -1;    /* the thread's own policy, read once */

void io_bulk_count(struct io_bulk *b, const char *name, bool in)
{
    struct sched_param sp = {0};
    if (b->off || b->counted == in)
        return;
    if (io_policy < 0 && pthread_getschedparam(pthread_self(), &io_policy, &sp))
        io_policy = SCHED_FIFO; /* unknown: do not touch it */
    if (io_policy != SCHED_OTHER) {
        b->off = true;
        return;
    }
    unsigned others = in ? io_bulk_devs : io_bulk_devs - 1;
    if (!others) { /* the first device in or the last one out switches the thread */
        sp.sched_priority = 0;
        int rc = pthread_setschedparam(pthread_self(), in ? SCHED_BATCH : SCHED_OTHER, &sp);
        if (rc) {
            log_warn("%s: cannot change the I/O thread's scheduling: %s", name, strerror(rc));
            b->off = true; /* counted stays as it is: the count matches the policy */
            return;
        }
    }
    b->counted = in;
    io_bulk_devs = in ? io_bulk_devs + 1 : others;
}

int io_bulk_batch(struct io_bulk_batch *d, unsigned n)
{
    if (n >= 2) {
        d->quiet = 0;
        if (d->on)
            return 0;
        d->on = true;
        return 1;
    }
    if (n == 0 || !d->on || ++d->quiet < IO_BULK_QUIET)
        return 0;
    d->on = false;
    return -1;
}
