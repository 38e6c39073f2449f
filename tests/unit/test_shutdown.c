/* test_shutdown.c — the teardown watchdog ends a process whose threads are stuck, with the VM's
 * status and a line naming the stuck thread; a teardown that completes is left alone. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/util.h"
#include "vm/vm.h"

static int hook_fd = -1;

static void hook(void)
{
    if (write(hook_fd, "hook\n", 5) < 0) {
        /* the parent checks the pipe */
    }
}

/* Fork a child whose VM teardown never finishes (a vCPU and the I/O thread "still running");
 * return its exit status and what it wrote to stderr in OUT. */
static int run_stuck_child(char *out, size_t len)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        hook_fd = p[1];
        proc_at_forced_exit(hook);
        static struct vm vm;
        static struct vcpu vcpus[2];
        vm.vcpus = vcpus;
        vm.ncpus = 2;
        vcpus[0].started = vcpus[1].started = true;
        atomic_store(&vcpus[0].exited, true);
        vm.io_thread_started = true;
        vm.exit_status = TRUCE_EXIT_SIGNAL;
        snprintf(vm.exit_reason, sizeof(vm.exit_reason), "stopped by signal Terminated");
        vm.shutdown.grace_ms = 200;
        shutdown_watch_start(&vm);
        shutdown_watch_step(&vm, "joining the I/O thread");
        for (;;)
            pause(); /* a join that never returns */
    }
    close(p[1]);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < len && (n = read(p[0], out + got, len - 1 - got)) > 0)
        got += (size_t)n;
    out[got] = 0;
    close(p[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void stuck_teardown_ends_with_vm_status(void **state)
{
    char out[1024];
    assert_int_equal(run_stuck_child(out, sizeof(out)), TRUCE_EXIT_SIGNAL);
    assert_non_null(strstr(out, "while joining the I/O thread"));
    assert_non_null(strstr(out, "stuck: vCPU 1, I/O thread"));
    assert_non_null(strstr(out, "stopped by signal Terminated (exit status 16)"));
    assert_non_null(strstr(out, "hook")); /* the terminal hook ran */
}

static void completed_teardown_is_left_alone(void **state)
{
    struct vm vm;
    memset(&vm, 0, sizeof(vm));
    vm.shutdown.grace_ms = 100;
    shutdown_watch_start(&vm);
    shutdown_watch_start(&vm); /* idempotent */
    shutdown_watch_step(&vm, "destroying the devices");
    shutdown_watch_end(&vm);
    assert_false(vm.shutdown.armed);
    usleep(200 * 1000);      /* past the grace period: still alive */
    shutdown_watch_end(&vm); /* a second end is a no-op */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stuck_teardown_ends_with_vm_status),
        cmocka_unit_test(completed_teardown_is_left_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
