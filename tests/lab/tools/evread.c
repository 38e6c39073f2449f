/* evread.c — lab helper (static, carried into guests): an evtest-style reader of one input device.
 *   evread NAME COUNT SECONDS [STOP]
 * Finds the /dev/input/eventN whose device name (/sys/class/input/eventN/device/name) contains
 * NAME, prints "ready /dev/input/eventN NAME" and then one line "TYPE CODE VALUE" per event other
 * than EV_SYN until COUNT such events were read, the line STOP was printed, or SECONDS passed.
 * Exit status 0 when COUNT were read or STOP seen, 1 otherwise (with one line on stderr). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The event device whose name contains NAME into PATH (its full name into FULL); 0 or -1. */
static int find(const char *name, char *path, size_t len, char *full)
{
    DIR *d = opendir("/sys/class/input");
    struct dirent *e;
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        char p[512], got[256] = "";
        if (strncmp(e->d_name, "event", 5))
            continue;
        snprintf(p, sizeof(p), "/sys/class/input/%s/device/name", e->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        if (fgets(got, sizeof(got), f))
            got[strcspn(got, "\n")] = '\0';
        fclose(f);
        if (strstr(got, name)) {
            snprintf(path, len, "/dev/input/%s", e->d_name);
            strcpy(full, got);
            closedir(d);
            return 0;
        }
    }
    closedir(d);
    return -1;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: evread NAME COUNT SECONDS [STOP]\n");
        return 2;
    }
    int want = atoi(argv[2]), secs = atoi(argv[3]), n = 0, stopped = 0;
    const char *stop = argc == 5 ? argv[4] : NULL;
    char path[300], full[256];
    time_t end = time(NULL) + secs;
    while (find(argv[1], path, sizeof(path), full) < 0) {
        if (time(NULL) >= end) {
            fprintf(stderr, "evread: no input device called '%s'\n", argv[1]);
            return 1;
        }
        usleep(100000);
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "evread: %s: %s\n", path, strerror(errno));
        return 1;
    }
    printf("ready %s %s\n", path, full);
    fflush(stdout);
    while (n < want && !stopped && time(NULL) < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 200) <= 0)
            continue;
        struct input_event ev[16];
        ssize_t r = read(fd, ev, sizeof(ev));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fprintf(stderr, "evread: read %s: %s\n", path, r ? strerror(errno) : "end");
            return 1;
        }
        for (size_t i = 0; i < (size_t)r / sizeof(ev[0]); i++) {
            if (ev[i].type == EV_SYN)
                continue;
            char line[64];
            snprintf(line, sizeof(line), "%u %u %d", ev[i].type, ev[i].code, ev[i].value);
            printf("%s\n", line);
            n++;
            if (stop && !strcmp(line, stop)) {
                stopped = 1;
                break;
            }
        }
        fflush(stdout);
    }
    if (n < want && !stopped) {
        fprintf(stderr, "evread: %d of %d events from %s in %d s\n", n, want, path, secs);
        return 1;
    }
    return 0;
}
