/* arpwatch.c — lab helper (static): watch an interface for gratuitous ARP (a guest announcing
 * itself, VIRTIO_NET_F_GUEST_ANNOUNCE).
 *   arpwatch IFACE IPV4 SECONDS
 * Prints "arpwatch: ready IFACE" once its packet socket is bound, then one line
 * "arpwatch: gratuitous ARP from IPV4 at MAC, op N, +MS ms, wall T" (MS since ready, T the
 * CLOCK_REALTIME in ms, to compare with `mobtool now`) per ARP frame whose
 * sender and target address are both IPV4, for SECONDS, then exits 0 (none seen: status 1 and
 * "arpwatch: none" on stderr). Ordinary requests and replies of IPV4 are not counted. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long ms_of(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static long long ms_now(void)
{
    return ms_of(CLOCK_MONOTONIC);
}

int main(int argc, char **argv)
{
    struct in_addr ip;
    if (argc != 4 || inet_pton(AF_INET, argv[2], &ip) != 1 || atoi(argv[3]) <= 0) {
        fprintf(stderr, "usage: arpwatch IFACE IPV4 SECONDS\n");
        return 2;
    }
    unsigned ifindex = if_nametoindex(argv[1]);
    if (!ifindex) {
        fprintf(stderr, "arpwatch: no interface %s\n", argv[1]);
        return 2;
    }
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ARP));
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP), .sll_ifindex = (int)ifindex};
    if (fd < 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        fprintf(stderr, "arpwatch: packet socket on %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    printf("arpwatch: ready %s\n", argv[1]);
    fflush(stdout);
    long long t0 = ms_now(), end = t0 + 1000LL * atoi(argv[3]);
    unsigned seen = 0;
    for (long long now = t0; now < end; now = ms_now()) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(end - now)) <= 0)
            continue;
        unsigned char f[1600];
        ssize_t n = recv(fd, f, sizeof(f), 0);
        struct ether_arp a;
        if (n < (ssize_t)(sizeof(struct ether_header) + sizeof(a)))
            continue;
        memcpy(&a, f + sizeof(struct ether_header), sizeof(a));
        if (ntohs(a.ea_hdr.ar_pro) != ETHERTYPE_IP || memcmp(a.arp_spa, &ip, 4) ||
            memcmp(a.arp_tpa, &ip, 4))
            continue;
        const unsigned char *m = a.arp_sha;
        printf("arpwatch: gratuitous ARP from %s at %02x:%02x:%02x:%02x:%02x:%02x, op %u, +%lld "
               "ms, wall %lld\n",
               argv[2], m[0], m[1], m[2], m[3], m[4], m[5], ntohs(a.ea_hdr.ar_op), ms_now() - t0,
               ms_of(CLOCK_REALTIME));
        fflush(stdout);
        seen++;
    }
    if (!seen)
        fprintf(stderr, "arpwatch: none\n");
    return seen ? 0 : 1;
}
