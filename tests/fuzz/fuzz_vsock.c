/* fuzz_vsock.c — libFuzzer target: arbitrary guest packet streams into the vsock engine.
 * Input: records of [1 byte: action][44-byte header][2 bytes: payload length][payload]. Action
 * bit 0 asks for packets to the guest after the record (into a buffer whose size comes from the
 * action byte), bit 1 polls the host side. The guest CID is honoured in most records so
 * connection state is reached; a listener on "<uds>_1234" accepts guest connections. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "virtio/vsock_proto.h"

static struct vsock_engine *eng;
static int lfd = -1;
static char dir[] = "/tmp/fuzz-vsock-XXXXXX", lpath[128];

static void cleanup(void)
{
    vsock_engine_free(eng); /* unlinks its socket */
    unlink(lpath);
    rmdir(dir);
}

static void setup(void)
{
    char path[128];
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof(path), "%s/v", dir);
    if (vsock_engine_new(3, path, &eng))
        abort();
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(lpath, sizeof(lpath), "%s_1234", path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", lpath);
    atexit(cleanup);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 4096))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t payload[VSOCK_MAX_PKT + 16], rx[4096];
    if (!eng)
        setup();
    while (size >= 1 + sizeof(struct vsock_hdr) + 2) {
        uint8_t action = data[0];
        struct vsock_hdr h;
        memcpy(&h, data + 1, sizeof(h));
        size_t plen = (size_t)data[1 + sizeof(h)] | (size_t)data[2 + sizeof(h)] << 8;
        data += 3 + sizeof(h);
        size -= 3 + sizeof(h);
        plen = plen < size ? plen : size;
        memcpy(payload, data, plen);
        data += plen;
        size -= plen;
        if (action & 4) /* keep most packets addressed right so connections form */
            h.src_cid = 3, h.dst_cid = 2;
        struct iovec v = {payload, plen};
        vsock_engine_guest_tx(eng, &h, &v, 1, plen);
        if (action & 2)
            vsock_engine_poll(eng);
        for (int i = 0; (action & 1) && i < 64 && vsock_engine_has_rx(eng); i++) {
            struct vsock_hdr out;
            struct iovec r = {rx, (size_t)(action >> 3) * 128};
            vsock_engine_guest_rx(eng, &out, &r, 1, r.iov_len);
        }
    }
    for (int c; (c = accept(lfd, NULL, NULL)) >= 0;)
        close(c); /* the host side of guest connections goes away: EOF/EPIPE paths */
    vsock_engine_poll(eng);
    while (vsock_engine_has_rx(eng)) {
        struct vsock_hdr out;
        struct iovec r = {rx, sizeof(rx)};
        if (!vsock_engine_guest_rx(eng, &out, &r, 1, sizeof(rx)))
            break;
    }
    vsock_engine_reset(eng); /* every input starts from an empty table */
    return 0;
}
