/* net_tx_garbage.c — transmit chains with hostile virtio-net headers (GSO with size 0, hdr_len
 * beyond the frame, csum_start/offset past the end, unknown gso types and flags), frames of 0,
 * 1 and 65550 bytes, a chain shorter than the header. Dropped or sent; a fresh driver works. */
#include "hostile.h"

struct net_hdr {
    uint8_t flags, gso_type;
    uint16_t hdr_len, gso_size, csum_start, csum_offset, num_buffers;
} __attribute__((packed));

static void send(struct vq *tx, const struct net_hdr *h, uint32_t frame_len, uint32_t total)
{
    uint8_t *b = alloc(total + 64, 64);
    struct net_hdr *p = (struct net_hdr *)b;
    *p = *h;
    for (uint32_t i = 12; i < 12 + frame_len && i < total; i += 64)
        b[i] = (uint8_t)i;
    if (frame_len >= 14) { /* an IPv4/TCP-looking frame */
        b[12 + 12] = 0x08, b[12 + 13] = 0x00, b[12 + 14] = 0x45, b[12 + 23] = 6;
    }
    struct vdesc desc = {(uintptr_t)b, total, 0, 0};
    vq_add(tx, &desc, 1);
}

void hostile_case(void)
{
    struct vio d;
    struct vq q[2];
    rig(target(), 0xffffffffULL, &d, q); /* every offered feature: csum, TSO, UFO, ... */
    say_hex("features", d.features);
    static const struct net_hdr hdrs[] = {
        {0, 0, 0, 0, 0, 0, 0},
        {1, 0, 0, 0, 0xffff, 0xffff, 0},  /* NEEDS_CSUM past the end */
        {1, 0, 0, 0, 40, 0xfffe, 0},      /* csum offset past the end */
        {1, 1, 0xffff, 0, 34, 16, 0},     /* TCPv4 GSO, size 0, hdr_len huge */
        {1, 1, 54, 1, 34, 16, 0},         /* TCPv4 GSO, 1-byte segments */
        {1, 4, 54, 1400, 34, 16, 0xffff}, /* TCPv6 on an IPv4 frame */
        {0xff, 0xff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff},
        {1, 3, 42, 8, 34, 6, 0}, /* UDP fragmentation */
    };
    static const uint32_t lens[][2] = {{0, 12}, {1, 13}, {60, 72}, {1514, 1526}, {65550, 65562}};
    for (unsigned h = 0; h < sizeof(hdrs) / sizeof(hdrs[0]); h++)
        for (unsigned l = 0; l < 5; l++) {
            send(&q[1], &hdrs[h], lens[l][0], lens[l][1]);
            if (q[1].avail_idx % 16 == 0) {
                vq_notify(&q[1]);
                while (vq_wait(&q[1], 0) >= 0 && q[1].used_seen != q[1].avail_idx)
                    ;
            }
        }
    send(&q[1], &hdrs[0], 0, 5); /* shorter than the header */
    vq_notify(&q[1]);
    judge(&d, &q[1], 0, "garbage headers");
    say_hex("status", vio_status(&d));
    fresh_net();
}
