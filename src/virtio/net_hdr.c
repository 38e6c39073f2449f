/* net_hdr.c — virtio-net pure helpers: features and offloads, header checks, default MAC. */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "virtio/net.h"

#define BIT(n)       (1ULL << (n))
#define ETH_HLEN_MIN 14
#define VLAN_HLEN    4

void net_default_mac(const char *vm_id, unsigned index, uint8_t mac[6])
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (const char *p = vm_id; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
    for (unsigned i = 0; i < 4; i++)
        h = (h ^ ((index >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
    for (unsigned i = 0; i < 6; i++)
        mac[i] = (uint8_t)(h >> (8 * i));
    mac[0] = (uint8_t)((mac[0] & 0xfc) | 0x02); /* unicast, locally administered */
}

uint64_t net_host_features(unsigned caps)
{
    uint64_t f = BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_NET_F_MTU) |
                 BIT(VIRTIO_NET_F_MRG_RXBUF);
    if (!(caps & NET_OFFLOAD_CSUM))
        return f;
    f |= BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM);
    if (caps & NET_OFFLOAD_TSO4)
        f |= BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO4);
    if (caps & NET_OFFLOAD_TSO6)
        f |= BIT(VIRTIO_NET_F_HOST_TSO6) | BIT(VIRTIO_NET_F_GUEST_TSO6);
    if ((caps & NET_OFFLOAD_ECN) && (caps & (NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6)))
        f |= BIT(VIRTIO_NET_F_HOST_ECN) | BIT(VIRTIO_NET_F_GUEST_ECN);
    return f;
}

bool net_features_valid(uint64_t f)
{
    uint64_t guest_gso = BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6) |
                         BIT(VIRTIO_NET_F_GUEST_ECN) | BIT(VIRTIO_NET_F_GUEST_UFO);
    uint64_t host_gso = BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6) |
                        BIT(VIRTIO_NET_F_HOST_ECN) | BIT(VIRTIO_NET_F_HOST_UFO);
    if ((f & guest_gso) && !(f & BIT(VIRTIO_NET_F_GUEST_CSUM)))
        return false;
    if ((f & host_gso) && !(f & BIT(VIRTIO_NET_F_CSUM)))
        return false;
    if ((f & BIT(VIRTIO_NET_F_GUEST_ECN)) &&
        !(f & (BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6))))
        return false;
    if ((f & BIT(VIRTIO_NET_F_HOST_ECN)) &&
        !(f & (BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6))))
        return false;
    if ((f & BIT(VIRTIO_NET_F_GUEST_ANNOUNCE)) && !(f & BIT(VIRTIO_NET_F_CTRL_VQ)))
        return false; /* the acknowledgement goes through the control queue */
    return true;
}

unsigned net_guest_offloads(uint64_t f)
{
    unsigned o = 0;
    if (!(f & BIT(VIRTIO_NET_F_GUEST_CSUM)))
        return 0;
    o |= NET_OFFLOAD_CSUM;
    o |= (f & BIT(VIRTIO_NET_F_GUEST_TSO4)) ? NET_OFFLOAD_TSO4 : 0;
    o |= (f & BIT(VIRTIO_NET_F_GUEST_TSO6)) ? NET_OFFLOAD_TSO6 : 0;
    o |= (f & BIT(VIRTIO_NET_F_GUEST_ECN)) ? NET_OFFLOAD_ECN : 0;
    return o;
}

uint32_t net_tx_limit(uint64_t f)
{
    if (f & (BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6)))
        return NET_MAX_FRAME;
    return NET_MTU + ETH_HLEN_MIN + VLAN_HLEN;
}

/* Whether GSO type T (without the ECN bit) may be used given the feature bits for TSO4/TSO6. */
static bool gso_allowed(uint8_t t, uint64_t f, unsigned tso4, unsigned tso6, unsigned ecn)
{
    if ((t & VIRTIO_NET_HDR_GSO_ECN) && !(f & BIT(ecn)))
        return false;
    switch (t & ~VIRTIO_NET_HDR_GSO_ECN) {
    case VIRTIO_NET_HDR_GSO_NONE:
        return !(t & VIRTIO_NET_HDR_GSO_ECN);
    case VIRTIO_NET_HDR_GSO_TCPV4:
        return f & BIT(tso4);
    case VIRTIO_NET_HDR_GSO_TCPV6:
        return f & BIT(tso6);
    default: /* UFO and anything else were never offered */
        return false;
    }
}

int net_tx_hdr_check(const struct virtio_net_hdr_v1 *h, uint64_t f, size_t frame_len)
{
    if (frame_len < ETH_HLEN_MIN || frame_len > net_tx_limit(f))
        return -EINVAL;
    if (h->flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
        return -EINVAL;
    if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        size_t start = le16toh(h->csum_start), off = le16toh(h->csum_offset);
        if (!(f & BIT(VIRTIO_NET_F_CSUM)) || start + off + 2 > frame_len)
            return -EINVAL;
    }
    if (!gso_allowed(h->gso_type, f, VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_HOST_TSO6,
                     VIRTIO_NET_F_HOST_ECN))
        return -EINVAL;
    if (h->gso_type != VIRTIO_NET_HDR_GSO_NONE &&
        (!le16toh(h->gso_size) || !(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)))
        return -EINVAL;
    return 0;
}

int net_rx_hdr_check(const struct virtio_net_hdr_v1 *h, uint64_t f)
{
    if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !(f & BIT(VIRTIO_NET_F_GUEST_CSUM)))
        return -EINVAL;
    if (!gso_allowed(h->gso_type, f, VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6,
                     VIRTIO_NET_F_GUEST_ECN))
        return -EINVAL;
    return 0;
}

void net_bulk_init(struct net_bulk *b)
{
    b->quiet[0] = b->quiet[1] = NET_BULK_QUIET;
    b->on = false;
}

int net_bulk_frame(struct net_bulk *b, unsigned dir, size_t frame_len, uint8_t gso_type)
{
    dir = dir ? 1 : 0;
    if (gso_type != VIRTIO_NET_HDR_GSO_NONE || frame_len > NET_MTU) {
        b->quiet[dir] = 0;
        if (b->on)
            return 0;
        b->on = true;
        return 1;
    }
    if (b->quiet[dir] < NET_BULK_QUIET)
        b->quiet[dir]++;
    if (!b->on || b->quiet[0] < NET_BULK_QUIET || b->quiet[1] < NET_BULK_QUIET)
        return 0;
    b->on = false;
    return -1;
}

int net_iov_skip(struct iovec *dst, unsigned max, const struct iovec *src, unsigned n, size_t skip)
{
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++) {
        if (skip >= src[i].iov_len) {
            skip -= src[i].iov_len;
            continue;
        }
        if (k == max)
            return -E2BIG;
        dst[k].iov_base = (uint8_t *)src[i].iov_base + skip;
        dst[k++].iov_len = src[i].iov_len - skip;
        skip = 0;
    }
    return skip ? -EINVAL : (int)k;
}
