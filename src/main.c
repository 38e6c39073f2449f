/* main.c — process entry: signal dispositions, then the command-line front end. */
#include <malloc.h>
#include <signal.h>
#include <string.h>

#include "api/api.h"
#include "cli.h"
#include "util/util.h"

int main(int argc, char **argv)
{
    process_mark_start();
    /* Termination signals are taken synchronously (signalfd) by whoever waits for the VM, so
     * every thread created from here on has them blocked. A closed pipe is an error return. */
    sigset_t set;
    signals_block_termination(&set);
    /* What N VMs cost (bench/footprint.sh): one malloc arena for every thread (the few threads
     * of a VM allocate little after start-up, and a per-thread arena keeps a heap of its own),
     * and buffers of 64 KiB or more (frame buffers, queue tables) mapped on their own, so the
     * pages a VM never writes are never backed and free() gives them back. */
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 64 << 10);
    signal(SIGPIPE, SIG_IGN);
    if (argc > 0 && cli_is_firecracker(argv[0])) /* a `firecracker -> truce` symlink */
        return cli_firecracker_main(argc, argv);
    if (argc > 1 && api_is_api_flag(argv[1])) /* Firecracker-style top-level flags */
        return api_main(argc, argv);
    return cli_main(argc, argv);
}
