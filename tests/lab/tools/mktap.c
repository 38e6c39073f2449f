/* mktap.c — lab helper (static): a persistent tap owned by a user, as `ip tuntap add ... user`
 * makes one (busybox has no such command):
 *   mktap NAME UID GID     create tap NAME (vnet headers) owned by UID:GID, persistent
 *   mktap -d NAME          delete it
 * Prints one line and exits 1 on failure. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int die(const char *what, const char *name)
{
    fprintf(stderr, "mktap: %s %s: %s\n", what, name, strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    int del = argc == 3 && !strcmp(argv[1], "-d");
    if (!del && argc != 4) {
        fprintf(stderr, "usage: mktap NAME UID GID | mktap -d NAME\n");
        return 1;
    }
    const char *name = argv[del ? 2 : 1];
    struct ifreq ifr = {0};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return die("open /dev/net/tun for", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0)
        return die("TUNSETIFF", name);
    if (!del && (ioctl(fd, TUNSETOWNER, strtoul(argv[2], NULL, 10)) < 0 ||
                 ioctl(fd, TUNSETGROUP, strtoul(argv[3], NULL, 10)) < 0))
        return die("TUNSETOWNER/TUNSETGROUP", name);
    if (ioctl(fd, TUNSETPERSIST, del ? 0 : 1) < 0)
        return die("TUNSETPERSIST", name);
    close(fd);
    return 0;
}
