/* exec_floor.c — bench/boot.sh's floor for "exec -> main()": a program linked like truce (libc
 * only, dynamically, PIE, -z now) that prints its main()'s CLOCK_MONOTONIC and exits, so the
 * lab's loader and exec cost can be told from truce's own start-up. */
#include <stdio.h>
#include <time.h>

int main(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("EXEC-FLOOR main_ns=%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    return 0;
}
