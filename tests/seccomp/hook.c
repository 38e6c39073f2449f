/* hook.c — linked only into build/truce-sectest: with TRUCE_SECTEST_KIND=vcpu|io|api|main, that
 * thread kind attempts a forbidden syscall (execve) right after entering its seccomp filter. */
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

void sandbox_test_hook(enum sandbox_kind kind)
{
    const char *want = getenv("TRUCE_SECTEST_KIND");
    if (want && !strcmp(want, sandbox_lists[kind].kind))
        syscall(SYS_execve, "/nonexistent-truce-sectest", NULL, NULL); /* never returns */
}
