/* fuzz_net_ctrl.c — libFuzzer target: virtio-net's control-queue parser (net_ctrl_parse) on
 * arbitrary command bytes. Byte 0 picks the device's pair count (1..8) and whether the command is
 * cut at NET_CTRL_MAX_DATA like the device reads it; the rest is the command. A command is
 * accepted only as VQ_PAIRS_SET with a count inside 1..pairs or as ANNOUNCE_ACK without data,
 * and the parser reads nothing past what it is given (ASan). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size)
        return 0;
    unsigned max_pairs = 1 + (data[0] & 7);
    size_t total = size - 1, len = total;
    if (data[0] & 8 && len > NET_CTRL_MAX_DATA)
        len = NET_CTRL_MAX_DATA;
    uint8_t *cmd = malloc(len ? len : 1); /* exactly LEN bytes: ASan catches any over-read */
    if (!cmd)
        return 0;
    memcpy(cmd, data + 1, len);
    struct net_ctrl_cmd c;
    uint8_t ack = net_ctrl_parse(cmd, len, total, max_pairs, &c);
    if (ack != VIRTIO_NET_OK && ack != VIRTIO_NET_ERR)
        abort();
    bool pairs_set = c.cls == VIRTIO_NET_CTRL_MQ && c.cmd == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET &&
                     c.pairs >= 1 && c.pairs <= max_pairs && total == 4;
    bool announce_ack = c.cls == VIRTIO_NET_CTRL_ANNOUNCE &&
                        c.cmd == VIRTIO_NET_CTRL_ANNOUNCE_ACK && total == 2 && len == 2;
    if (ack == VIRTIO_NET_OK && !pairs_set && !announce_ack)
        abort();
    free(cmd);
    return 0;
}
