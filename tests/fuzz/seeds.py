#!/usr/bin/env python3
"""seeds.py — writes the seed inputs of the fuzz targets under tests/fuzz/corpus/<target>/: the
requests, images and arguments the unit tests use (tests/unit/test_*.c), encoded in each target's
input format. Run it after changing a format. Files named regress-* are inputs that once crashed
or hung truce; the ones a fuzzer found are kept as found and are not written here."""
import os
import struct
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
p8, p16, p32, p64 = (lambda v: struct.pack("<B", v)), (lambda v: struct.pack("<H", v)), \
    (lambda v: struct.pack("<I", v)), (lambda v: struct.pack("<Q", v))


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- fuzz_virtio.h programs -------------------------------------------------------------------
(DESC, DATA, OFFER, AVAIL_IDX, RING_FLAGS, NOTIFY, QUIESCE, DEVCFG, COMMON, BAR, PCICFG, RESET,
 HOST) = range(13)
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4


class Prog:
    """A driver program: every offered feature but bit 63, the device's queue sizes."""

    def __init__(self, mask=0x7FFFFFFFFFFFFFFF, qsize=0):
        self.b = p64(mask) + p8(qsize)

    def desc(self, q, i, addr, length, flags=0, nxt=0):
        self.b += p8(DESC) + p8(q) + p16(i) + p64(addr) + p32(length) + p16(flags) + p16(nxt)
        return self

    def data(self, off, payload):
        for k in range(0, len(payload), 255):
            chunk = payload[k:k + 255]
            self.b += p8(DATA) + p8(0) + struct.pack("<I", off + k)[:3] + p8(len(chunk)) + chunk
        return self

    def offer(self, q, head):
        self.b += p8(OFFER) + p8(q) + p16(head)
        return self

    def quiesce(self):
        self.b += p8(QUIESCE)
        return self

    def devcfg(self, off, width_sel, write=False, value=0):
        self.b += p8(DEVCFG) + p8(off) + p8(width_sel) + p8(int(write)) + p64(value)
        return self

    def host(self, payload):
        self.b += p8(HOST) + p8(len(payload)) + payload
        return self

    def reset(self):
        self.b += p8(RESET)
        return self


def blk_seeds():
    # test_blk.c post(): header, data, status in three descriptors
    def req(kind, sector, dlen, dev_writes, payload=b""):
        p = Prog().data(0, p32(kind) + p32(0) + p64(sector))
        if payload:
            p.data(0x1000, payload)
        p.desc(0, 0, 0, 16, F_NEXT, 1)
        if dlen:
            p.desc(0, 1, 0x1000, dlen, F_NEXT | (F_WRITE if dev_writes else 0), 2)
            p.desc(0, 2, 0x100, 1, F_WRITE)
        else:
            p.desc(0, 1, 0x100, 1, F_WRITE)
        return p.offer(0, 0).quiesce()

    write("fuzz_blk", "read", req(0, 0, 512, True).b)
    write("fuzz_blk", "write", req(1, 8, 1024, False, bytes(range(256)) * 4).b)
    write("fuzz_blk", "flush", req(4, 0, 0, False).b)
    write("fuzz_blk", "get-id", req(8, 0, 20, True).b)
    write("fuzz_blk", "discard", req(11, 0, 16, False, p64(8) + p32(16) + p32(0)).b)
    write("fuzz_blk", "write-zeroes", req(13, 0, 16, False, p64(0) + p32(8) + p32(1)).b)
    # the same read through an indirect table at 0x2000
    p = Prog().data(0, p32(0) + p32(0) + p64(2))
    table = (p64(0x0) + p32(16) + p16(F_NEXT) + p16(1) + p64(0x1000) + p32(512) +
             p16(F_NEXT | F_WRITE) + p16(2) + p64(0x100) + p32(1) + p16(F_WRITE) + p16(0))
    p.data(0x2000, table).desc(0, 0, 0x2000, len(table), F_INDIRECT).offer(0, 0).quiesce()
    write("fuzz_blk", "read-indirect", p.b)
    # config space: capacity, seg_max, blk_size; then a reset with a request in flight
    write("fuzz_blk", "config", Prog().devcfg(0, 3).devcfg(12, 2).devcfg(20, 2).b)
    write("fuzz_blk", "reset-in-flight", req(0, 0, 4096, True).reset().b)


def rng_seeds():
    write("fuzz_rng", "one", Prog().desc(0, 0, 0, 4096, F_WRITE).offer(0, 0).quiesce().b)
    p = Prog().desc(0, 0, 0, 48 * 1024, F_WRITE | F_NEXT, 1).desc(0, 1, 0x10000, 48 * 1024, F_WRITE)
    write("fuzz_rng", "bounded", p.offer(0, 0).quiesce().b)
    write("fuzz_rng", "readable-only", Prog().desc(0, 0, 0, 64).offer(0, 0).quiesce().b)
    p = Prog()
    for i in range(40):
        p.desc(0, i, 64 * i, 32, F_WRITE).offer(0, i)
    write("fuzz_rng", "many", p.quiesce().b)


def balloon_seeds():
    # test_balloon.c: inflate/deflate PFN arrays (the arena starts at 8 MiB: PFN 0x800), bogus
    # PFNs, a statistics buffer, a hint command and its block, a free page report, the config
    pfns = b"".join(p32(0x800 + i) for i in range(16))
    p = Prog().data(0x1000, pfns).desc(0, 0, 0x1000, len(pfns)).offer(0, 0).quiesce()
    write("fuzz_balloon", "inflate", p.desc(1, 0, 0x1000, len(pfns)).offer(1, 0).quiesce().b)
    bogus = p32(0xFFFFFFFF) + p32(0xFEE00) + p32(0xC0000) + p32(0x100000)
    write("fuzz_balloon", "bogus-pfns",
          Prog().data(0, bogus).desc(0, 0, 0, len(bogus)).offer(0, 0).quiesce().b)
    stats = p16(4) + p64(1000) + p16(5) + p64(64 << 20) + p16(42) + p64(7)
    write("fuzz_balloon", "stats",
          Prog().data(0, stats).desc(2, 0, 0, len(stats)).offer(2, 0).quiesce().b)
    p = Prog().devcfg(0, 2).data(0, p32(2)).desc(3, 0, 0, 4).offer(3, 0)
    write("fuzz_balloon", "hint", p.desc(3, 1, 0x10000, 0x20000, F_WRITE).offer(3, 1).quiesce().b)
    p = Prog().desc(4, 0, 0x10000, 0x10000, F_WRITE | F_NEXT, 1).desc(4, 1, 0x40000, 0x10000, F_WRITE)
    write("fuzz_balloon", "report", p.offer(4, 0).quiesce().b)
    write("fuzz_balloon", "config", Prog().devcfg(0, 2).devcfg(4, 2, True, 256).devcfg(8, 2).b)


def pmem_seeds():
    # test_pmem.c request(): the 4-byte request, the 4-byte answer at 0x100
    def flush(kind, out_len=4, in_len=4):
        p = Prog().data(0, p32(kind)).desc(0, 0, 0, out_len, F_NEXT, 1)
        return p.desc(0, 1, 0x100, in_len, F_WRITE).offer(0, 0).quiesce()

    write("fuzz_pmem", "flush", flush(0).b)
    write("fuzz_pmem", "unknown-type", flush(7).b)
    write("fuzz_pmem", "no-room", flush(0, 4, 2).b)
    write("fuzz_pmem", "config", Prog().devcfg(0, 3).devcfg(8, 3).b)


def vmem_seeds():
    # test_virtio_mem.c request_n(): 24-byte request, 10-byte answer at 0x100; the region starts
    # at layout_devmem_base(64 MiB) = 68 GiB in the fuzzer's VM
    base = 68 << 30

    def req(p, i, kind, addr, nb):
        off = 0x200 * i
        p.data(off, p16(kind) + bytes(6) + p64(addr) + p16(nb) + bytes(6))
        p.desc(0, 2 * i, off, 24, F_NEXT, 2 * i + 1).desc(0, 2 * i + 1, off + 0x100, 10, F_WRITE)
        return p.offer(0, 2 * i)

    p = Prog().host(p16(8))
    req(p, 0, 0, base, 4)
    req(p, 1, 3, base, 8)
    req(p, 2, 1, base + (2 << 20), 1)
    req(p, 3, 2, 0, 0)
    write("fuzz_vmem", "plug-state-unplug", p.quiesce().b)
    p = Prog()
    req(p, 0, 0, base - (2 << 20), 1)
    req(p, 1, 0, base + (128 << 20) - (2 << 20), 2)
    req(p, 2, 3, (1 << 64) - (2 << 20), 65535)
    write("fuzz_vmem", "bad-ranges", p.quiesce().b)
    write("fuzz_vmem", "config", Prog().devcfg(0, 3).devcfg(16, 3).devcfg(48, 3).b)


def console_seeds():
    # test_console.c: guest output on the transmit queue, host input into receive buffers
    p = Prog().data(0, b"hello from the guest\n").desc(1, 0, 0, 21).offer(1, 0).quiesce()
    write("fuzz_console", "tx", p.b)
    p = Prog().desc(0, 0, 0x1000, 64, F_WRITE).offer(0, 0).host(b"typed on the host").quiesce()
    write("fuzz_console", "rx", p.b)
    p = Prog().host(b"early input").quiesce().desc(0, 0, 0x1000, 4, F_WRITE).offer(0, 0).quiesce()
    write("fuzz_console", "rx-later-small", p.b)
    write("fuzz_console", "emerg-wr", Prog().devcfg(8, 2, True, ord("!")).devcfg(0, 2).b)


def eth_arp():
    # netframes.h nf_arp_request: who-has 10.0.2.2 tell 10.0.2.15
    mac = bytes([0x52, 0x54, 0, 0x12, 0x34, 0x56])
    return (b"\xff" * 6 + mac + b"\x08\x06" + p16(0x0100) + b"\x08\x00\x06\x04\x00\x01" + mac +
            bytes([10, 0, 2, 15]) + b"\x00" * 6 + bytes([10, 0, 2, 2]))


def tcp4_frame(payload_len):
    mac = bytes([0x52, 0x54, 0, 0x12, 0x34, 0x56])
    ip = (b"\x45\x00" + struct.pack(">H", 40 + payload_len) + b"\x00\x01\x40\x00\x40\x06\x00\x00" +
          bytes([10, 0, 2, 15, 10, 0, 2, 2]))
    tcp = struct.pack(">HHIIBBHHH", 40000, 80, 1, 0, 0x50, 0x18, 65535, 0, 0)
    return b"\xff" * 6 + mac + b"\x08\x00" + ip + tcp + bytes(payload_len)


def vnet_hdr(flags=0, gso=0, hdr_len=0, gso_size=0, csum_start=0, csum_off=0):
    return struct.pack("<BBHHHHH", flags, gso, hdr_len, gso_size, csum_start, csum_off, 0)


def net_seeds():
    # test_net_hdr.c tx_frame(): header and frame in two descriptors on the transmit queue (1)
    def tx(hdr, frame):
        p = Prog().data(0, hdr).data(0x100, frame)
        return p.desc(1, 0, 0, 12, F_NEXT, 1).desc(1, 1, 0x100, len(frame)).offer(1, 0).quiesce()

    write("fuzz_net", "tx-arp", tx(vnet_hdr(), eth_arp()).b)
    frame = tcp4_frame(3000)
    write("fuzz_net", "tx-tso4", tx(vnet_hdr(1, 1, 54, 1448, 34, 16), frame).b)
    write("fuzz_net", "tx-csum", tx(vnet_hdr(1, 0, 0, 0, 34, 16), tcp4_frame(100)).b)
    # receive: buffers on queue 0, then frames arriving from the host side
    p = Prog()
    for i in range(4):
        p.desc(0, i, 0x10000 + 0x1000 * i, 0x1000, F_WRITE).offer(0, i)
    p.host(b"\x01" + vnet_hdr() + eth_arp()).quiesce()
    write("fuzz_net", "rx-mergeable", p.b)
    p = Prog(mask=0x7FFFFFFFFFFFFFFF & ~(1 << 15))  # no MRG_RXBUF: big buffers
    p.desc(0, 0, 0x10000, 0x10000, F_WRITE).offer(0, 0)
    p.host(b"\x01" + vnet_hdr() + eth_arp()).quiesce()
    write("fuzz_net", "rx-big", p.b)
    p = Prog().host(b"\x02").data(0, vnet_hdr()).data(0x100, eth_arp())
    p.desc(1, 0, 0, 12, F_NEXT, 1).desc(1, 1, 0x100, 42).offer(1, 0).quiesce().host(b"\x04")
    write("fuzz_net", "tx-backpressure", p.quiesce().b)
    write("fuzz_net", "config", Prog().devcfg(0, 0).devcfg(6, 1).devcfg(8, 1).b)


def vsock_hdr(op, src_port=1000, dst_port=1234, length=0, flags=0, buf_alloc=65536, fwd=0,
              src_cid=3, dst_cid=2, typ=1):
    return struct.pack("<QQIIIHHIII", src_cid, dst_cid, src_port, dst_port, length, typ, op,
                       flags, buf_alloc, fwd)


def vsock_seeds():
    REQUEST, RESPONSE, RST, SHUTDOWN, RW, CREDIT_UPDATE, CREDIT_REQUEST = 1, 2, 3, 4, 5, 6, 7

    def rx_buffers(p, n=4, size=4096):
        for i in range(n):
            p.desc(0, i, 0x40000 + size * i, size, F_WRITE).offer(0, i)
        return p

    # test_vsock.c: the guest connects to the host listener on port 1234, sends, shuts down
    p = rx_buffers(Prog())
    p.data(0, vsock_hdr(REQUEST)).desc(1, 0, 0, 44).offer(1, 0).quiesce()
    p.host(b"\x01pong")
    p.data(0x100, vsock_hdr(RW, length=5) + b"hello")
    p.desc(1, 1, 0x100, 44, F_NEXT, 2).desc(1, 2, 0x100 + 44, 5).offer(1, 1).quiesce()
    p.data(0x200, vsock_hdr(SHUTDOWN, flags=3)).desc(1, 3, 0x200, 44).offer(1, 3).quiesce()
    write("fuzz_vsock_dev", "guest-connect", p.b)
    # a host program connects through the UDS to guest port 52
    p = rx_buffers(Prog()).host(b"\x00CONNECT 52\n").quiesce()
    p.data(0, vsock_hdr(RESPONSE, src_port=52, dst_port=1073741824))
    p.desc(1, 0, 0, 44).offer(1, 0).quiesce().host(b"\x01data from the host").quiesce()
    write("fuzz_vsock_dev", "host-connect", p.b)
    # receive buffers of exactly the header size while the host has data (issue 9, defect 2)
    p = rx_buffers(Prog(), 8, 44)
    p.data(0, vsock_hdr(REQUEST)).desc(1, 0, 0, 44).offer(1, 0).quiesce()
    p.host(b"\x01" + b"x" * 200).quiesce()
    write("fuzz_vsock_dev", "regress-header-only-rx", p.b)  # hung the I/O thread before 7fd5308
    p = Prog().data(0, vsock_hdr(CREDIT_REQUEST)).desc(1, 0, 0, 44).offer(1, 0)
    p.data(0x100, vsock_hdr(RST)).desc(1, 1, 0x100, 44).offer(1, 1).devcfg(0, 3).quiesce()
    write("fuzz_vsock_dev", "credit-rst-cid", p.b)


# ---- fuzz_legacy, fuzz_pci ----------------------------------------------------------------------
def legacy_seeds():
    # every registered range: read each port at each width, then write and read back
    p = b""
    for r in range(12):
        for off in range(8):
            p += bytes([r, off, 0]) + p32(0)
            p += bytes([r, off, 0x80]) + p32(0x5A)
            p += bytes([r, off, 1]) + p32(0)
    write("fuzz_legacy", "sweep", p)
    p = b""
    for r in range(12):
        for off in range(4):
            p += bytes([r, off, 0x82]) + p32(0xFFFFFFFF) + bytes([r, off, 2]) + p32(0)
            p += bytes([r, off, 0x40]) + p32(0)
    write("fuzz_legacy", "wide", p)


def pci_seeds():
    def op(kind, slot, off, width_sel, write=False, value=0):
        return bytes([kind | slot << 3]) + p16(off) + bytes([width_sel | (0x80 if write else 0)]) \
            + p64(value)

    # test_pci.c: read every function's config header, size BARs 0-1, move BAR 0
    p = b""
    for slot in range(4):
        for off in range(0, 0x100, 4):
            p += op(1, slot, off, 2)
    write("fuzz_pci", "config-headers", p)
    p = op(1, 1, 4, 1, True, 0)
    for bar in (0x10, 0x14, 0x18, 0x1C, 0x30):
        p += op(1, 1, bar, 2, True, 0xFFFFFFFF) + op(1, 1, bar, 2)
    p += op(1, 1, 0x10, 2, True, 0xC0000004) + op(1, 1, 0x14, 2, True, 0) + op(1, 1, 4, 1, True, 6)
    p += op(2, 1, 0, 2) + op(2, 1, 0x1000, 0)
    write("fuzz_pci", "bar-sizing", p)
    # mechanism #1: address latch 0x80000000 | slot << 11 | off, data port read
    p = b""
    for slot in range(3):
        for off in range(0, 0x40, 4):
            p += op(0, 0, 0, 2, False, 0x80000000 | slot << 11 | off)
    write("fuzz_pci", "cf8-cfc", p)
    # MSI-X: enable through the capability list, program and mask vectors, raise them
    p = b""
    for off in range(0x40, 0x100, 4):
        p += op(1, 1, off, 2)
    for cap in range(0x40, 0x100, 4):
        p += op(1, 1, cap + 2, 1, True, 0x8000)
    for v in range(4):
        p += op(3, 1, 16 * v, 2, True, 0xFEE00000) + op(3, 1, 16 * v + 8, 2, True, 0x40 + v)
        p += op(3, 1, 16 * v + 12, 2, True, v & 1) + op(4, 1, v, 0)
    p += op(3, 1, 0x1000, 3) + op(3, 1, 12, 2, True, 0) + op(4, 1, 1, 0)
    write("fuzz_pci", "msix", p)


def mmio_seeds():
    # test_virtio_mmio.c: a Linux driver's probe and one request on queue 0 of each device
    def reg(dev, off, value=0, write=False, width_sel=0):
        return bytes([dev << 2]) + p16(off) + bytes([width_sel | (0x80 if write else 0)]) \
            + p32(value)

    def ram(off, value):
        return bytes([1]) + p16(off // 4) + b"\0" + p32(value)

    mib = 1 << 20
    for dev, name, flags in ((0, "rng", 2), (1, "console", 0)):
        p = b"".join(reg(dev, o) for o in (0x000, 0x004, 0x008, 0x00C))
        p += reg(dev, 0x070, 0, True) + reg(dev, 0x070, 1, True) + reg(dev, 0x070, 3, True)
        p += reg(dev, 0x014, 0, True) + reg(dev, 0x010) + reg(dev, 0x014, 1, True) + reg(dev, 0x010)
        p += reg(dev, 0x024, 1, True) + reg(dev, 0x020, 1, True) + reg(dev, 0x070, 0xB, True)
        p += reg(dev, 0x070)
        p += reg(dev, 0x030, 1 if dev else 0, True) + reg(dev, 0x034) + reg(dev, 0x038, 8, True)
        p += reg(dev, 0x080, mib, True) + reg(dev, 0x084, 0, True)
        p += reg(dev, 0x090, mib + 0x1000, True) + reg(dev, 0x094, 0, True)
        p += reg(dev, 0x0A0, mib + 0x2000, True) + reg(dev, 0x0A4, 0, True)
        p += reg(dev, 0x044, 1, True) + reg(dev, 0x070, 0xF, True)
        # descriptor 0: 64 bytes at 1 MiB + 0x4000 (device-writable for rng, readable output
        # "virt" for the console's transmit queue), offered in avail ring entry 0
        p += ram(0, mib + 0x4000) + ram(4, 0) + ram(8, 64) + ram(12, flags)
        p += ram(0x4000, 0x74726976) + ram(0x1000, 1 << 16) + ram(0x1004, 0)
        p += reg(dev, 0x050, 1 if dev else 0, True) + bytes([2]) + b"\0" * 7
        p += reg(dev, 0x060) + reg(dev, 0x064, 1, True) + reg(dev, 0x100) + reg(dev, 0x0FC)
        write("fuzz_mmio", "probe-" + name, p)


# ---- fuzz_boot, fuzz_cli ----------------------------------------------------------------------
def bzimage(ksize=4096, version=0x020F, xlf=3):
    # test_boot.c make_bz() with bz_default()
    setup_sects = 4
    img = bytearray((setup_sects + 1) * 512 + ksize)
    struct.pack_into("<B", img, 0x1F1, setup_sects)
    struct.pack_into("<I", img, 0x1F4, ksize // 16)
    struct.pack_into("<H", img, 0x1FE, 0xAA55)
    struct.pack_into("<H", img, 0x200, 0xEB | (0x26C - 0x202) << 8)
    struct.pack_into("<I", img, 0x202, 0x53726448)
    struct.pack_into("<H", img, 0x206, version)
    struct.pack_into("<B", img, 0x211, 0x01)
    struct.pack_into("<I", img, 0x22C, 0x7FFFFFFF)
    struct.pack_into("<I", img, 0x230, 2 << 20)
    struct.pack_into("<B", img, 0x234, 1)
    struct.pack_into("<H", img, 0x236, xlf)
    struct.pack_into("<I", img, 0x238, 2047)
    struct.pack_into("<Q", img, 0x258, 16 << 20)
    struct.pack_into("<I", img, 0x260, 8 << 20)
    base = (setup_sects + 1) * 512
    for i in range(ksize):
        img[base + i] = (i * 7 + 3) & 0xFF
    return bytes(img)


def note(name, typ, desc):
    n = name + b"\0"
    pad = lambda b: b + b"\0" * (-len(b) % 4)
    return struct.pack("<III", len(n), len(desc), typ) + pad(n) + pad(desc)


def pvh_elf(filesz=2048, memsz=12288, paddr=2 << 20, pvh=True):
    # test_pvh.c make_elf() with el_default(): PT_NOTE + PT_LOAD, the PVH entry note
    notes = note(b"GNU", 3, b"\x01\x02\x03\x04")
    if pvh:
        notes += note(b"Xen", 18, p64(paddr + 0x40))
    img = bytearray(0x1000 + filesz)
    img[0x200:0x200 + len(notes)] = notes
    for i in range(filesz):
        img[0x1000 + i] = (i * 13 + 1) & 0xFF
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, paddr + 0x40, 64, 0, 0, 64, 56, 2,
                                 64, 0, 0)
    img[0:64] = ehdr
    ph = struct.pack("<IIQQQQQQ", 4, 0, 0x200, 0, 0, len(notes), len(notes), 4)
    ph += struct.pack("<IIQQQQQQ", 1, 0, 0x1000, paddr, paddr, filesz, memsz, 0)
    img[64:64 + len(ph)] = ph
    return bytes(img)


MB_MAGIC, MB_PAGE_ALIGN, MB_MEMORY, MB_AOUT = 0x1BADB002, 1, 2, 0x10000


def multiboot_aout():
    # test_multiboot.c make_aout() with aout_default(): a flat image loading at 2 MiB
    load, hdr_off, file_len = 2 << 20, 0x40, 0x3000
    img = bytearray((i * 7 + 3) & 0xFF for i in range(file_len))
    flags = MB_AOUT | MB_PAGE_ALIGN | MB_MEMORY
    h = struct.pack("<IIIIIIII", MB_MAGIC, flags, (-(MB_MAGIC + flags)) & 0xFFFFFFFF,
                    load + hdr_off, load, load + file_len, load + file_len + 0x2000, load + 0x100)
    img[hdr_off:hdr_off + len(h)] = h
    return bytes(img)


def multiboot_elf():
    # an ELF without a PVH note whose first 8 KiB hold a multiboot header (test_multiboot.c)
    img = bytearray(pvh_elf(pvh=False))
    mh = struct.pack("<III", MB_MAGIC, MB_PAGE_ALIGN, (-(MB_MAGIC + MB_PAGE_ALIGN)) & 0xFFFFFFFF)
    img[0x1000:0x1000 + len(mh)] = mh
    return bytes(img)


def boot_seeds():
    write("fuzz_boot", "bzimage", bytes([0x02, 0]) + bzimage())
    write("fuzz_boot", "bzimage-initrd", bytes([0x0A, 75]) + bzimage())
    write("fuzz_boot", "bzimage-old", bytes([0x02, 0]) + bzimage(version=0x0206, xlf=0))
    write("fuzz_boot", "pvh", bytes([0x02, 0]) + pvh_elf())
    write("fuzz_boot", "pvh-initrd-high", bytes([0x06, 16]) + pvh_elf())
    write("fuzz_boot", "multiboot-aout", bytes([0x02, 0]) + multiboot_aout())
    write("fuzz_boot", "multiboot-elf", bytes([0x02, 4]) + multiboot_elf())
    write("fuzz_boot", "firmware", bytes([0x03, 0]) + b"\xf4" * 4096)


def cli_seeds():
    k = "/etc/hostname"
    cases = {
        "good": ["--kernel", k, "--cpus", "4", "--memory", "2G", "--cmdline",
                 "console=ttyS0 quiet", "--console", "none"],
        "devices": ["--kernel", k, "--disk", "path=/etc/hostname,readonly=on,serial=abc",
                    "--net", "user,hostfwd=tcp::8080-:80,mac=02:00:00:00:00:01", "--vsock",
                    "cid=3,uds=/tmp/v.sock", "--rng"],
        "tap": ["--kernel", k, "--net", "tap=tap0", "--console", "virtio", "--memory", "64G"],
        "bad-mac": ["--kernel", k, "--net", "user,mac=2:00:00:00:00:01:"],
        "firmware": ["--firmware", k, "--initrd", "/nonexistent", "--log-level", "debug"],
        "help": ["--help"],
    }
    # test_jail.c good_flags(): the Firecracker jailer's flags, then truce's own after `--`
    jail = ["jail", "--id", "vm-1", "--exec-file", "/bin/sh", "--uid", "123", "--gid", "100"]
    cases["jail"] = jail + ["--cgroup", "memory.max=64M", "--cgroup", "cpu.max=50000 100000",
                            "--resource-limit", "fsize=1000,no-file=64", "--new-pid-ns",
                            "--daemonize", "--cgroup-version", "2", "--parent-cgroup", "vms/ext",
                            "--netns", "/proc/self/ns/net", "--", "run", "--kernel", "/k"]
    cases["jail-short"] = ["jail", "--id", "a" * 64, "--exec-file=/bin/sh", "--uid=0", "--gid=0",
                           "--resource-limit", "fsize=5", "--chroot-base-dir", "/var/jail"]
    cases["jail-cleanup"] = ["jail", "--cleanup", "--id", "x", "--exec-file", "/bin/sh"]
    for name, args in cases.items():
        write("fuzz_cli", name, b"\0".join(a.encode() for a in args))


def snapshot_seeds():
    # a real saved payload: the target itself saves the platform's devices (needs the build)
    exe = os.path.join(ROOT, "..", "..", "..", "build", "fuzz", "fuzz_snapshot")
    d = os.path.join(ROOT, "fuzz_snapshot")
    if not os.access(exe, os.X_OK):
        print("seeds.py: build/fuzz/fuzz_snapshot is not built; fuzz_snapshot seed unchanged")
        return
    if os.path.exists(os.path.join(d, "saved")):
        return  # the saved state holds the clock: rewrite it only when removed
    os.makedirs(d, exist_ok=True)
    subprocess.run([exe], env=dict(os.environ, FUZZ_SEED_DIR=d), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def mmds_seeds():
    """fuzz_mmds programs (tests/fuzz/fuzz_mmds.c): handshakes, canned requests, acks."""
    def seg(port, flags, mode, wnd=0xff, payload=b""):
        return bytes([0, port, flags, mode, wnd, len(payload)]) + payload
    syn = lambda port: seg(port, 0x02, 0, payload=p32(1000 + port)[::-1])  # noqa: E731
    drain = bytes([3, 64])
    for v in (0, 1, 3):
        prog = bytes([v]) + bytes([1]) + drain
        for port in range(3):
            prog += syn(port) + drain + seg(port, 0x10, 3)
            prog += seg(port, 0x18, 7, payload=bytes([port * 2 + 1])) + drain
            prog += seg(port, 0x10, 3) + drain + seg(port, 0x11, 3) + drain
        prog += bytes([4, 30]) + seg(0, 0x18, 7, payload=bytes([3])) + drain
        write("fuzz_mmds", f"session-v{v}", prog)


def ahci_seeds():
    # fuzz_ahci.c: [kind][offset(2)][value(4)][port]; the slots start valid (test_ahci.c's reads)
    def op(kind, off=0, value=0, port=0):
        return p8(kind) + p16(off) + p32(value) + p8(port)
    def ram(off, value):  # a byte-wise patch of the lists' window (a 4-byte little-endian write)
        return op(2, off, value)
    tbl = lambda port, slot: 0x8000 * port + 0x1000 + 0x200 * slot
    write("fuzz_ahci", "read-disk", op(3, 0, 1) + op(3, 0, 0xffffffff))
    write("fuzz_ahci", "inquiry-cd", op(3, 0, 1, 1) + op(1, 0x100 + 0x80 + 0x10))
    write("fuzz_ahci", "identify", ram(tbl(0, 0), 0x00ec8027) + op(3, 0, 1))
    write("fuzz_ahci", "ncq", ram(tbl(0, 2), 0x08608027) + ram(tbl(0, 2) + 12, 0x10) +
          op(3, 0, 4, 2))
    write("fuzz_ahci", "read10-cd", ram(tbl(1, 0) + 0x40, 0x00000028) + ram(tbl(1, 0) + 0x44,
          0x00000010) + ram(tbl(1, 0) + 0x48, 0x00000001) + op(3, 0, 1, 1))
    write("fuzz_ahci", "media", op(4, 0, 0, 0) + op(3, 0, 1, 1) + op(4, 0, 0, 2) +
          op(3, 0, 3, 1))
    write("fuzz_ahci", "comreset", op(0, 0x12c, 1) + op(0, 0x12c, 0) + op(3, 0, 1))


def pflash_seeds():
    # fuzz_pflash.c: [state length N][N state bytes][ops: offset(2) mode value(3)]; mode bit 7 a
    # write, bits 0-1 the width, bit 6 a reset, bit 5 a snapshot into a fresh flash
    def w(off, val, width=0):
        return p16(off) + p8(0x80 | width) + bytes([val, 0, 0])
    def r(off, width=0):
        return p16(off) + p8(width) + bytes(3)
    probe = w(0x100, 0x50) + r(0x100) + w(0x100, 0x70) + r(0x100) + w(0x100, 0xff) + r(0x100)
    write("fuzz_pflash", "ovmf-probe", p8(0) + probe + w(0, 0x98) + r(0x10) + r(0x27))
    write("fuzz_pflash", "program-erase", p8(0) + w(5, 0x10) + w(5, 0x5a) + r(0x300) +
          w(0x1007, 0x20) + w(0x1007, 0xd0) + w(0, 0xff))
    buf = w(0x40, 0xe8) + w(0x40, 3) + b"".join(w(0x40 + i, 0xa0 + i) for i in range(4))
    write("fuzz_pflash", "buffer", p8(0) + buf + w(0x40, 0xd0) + w(0x40, 0xff))
    snap = p16(0) + p8(0x20) + bytes(3)
    write("fuzz_pflash", "snapshot-mid-buffer", p8(0) + w(0x40, 0xe8) + snap + w(0x40, 0) +
          w(0x40, 0x77) + w(0x40, 0xd0) + r(0x40))
    write("fuzz_pflash", "wide-bad", p8(0) + w(0x3ffe, 0x20, 3) + w(0x3ffe, 0x11, 2) +
          w(0x4008, 0x40, 1) + r(0x4008, 3) + p16(0) + p8(0x40) + bytes(3))


def main():
    for fn in (blk_seeds, rng_seeds, balloon_seeds, pmem_seeds, vmem_seeds, console_seeds,
               net_seeds, vsock_seeds, legacy_seeds,
               pci_seeds, mmio_seeds, boot_seeds, cli_seeds, snapshot_seeds, mmds_seeds,
               ahci_seeds, pflash_seeds):
        fn()
    return 0


if __name__ == "__main__":
    sys.exit(main())
