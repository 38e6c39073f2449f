#!/usr/bin/env python3
"""mbr.py — make a raw disk BIOS-bootable with GRUB and give it its one partition, as
grub-bios-setup would for a disk whose core.img is embedded after the MBR (grub-bios-setup is not
in grub-pc-bin and wants a device). Usage: mbr.py DISK BOOT.IMG CORE.IMG ESP_MIB

Writes boot.img's code (the first 440 bytes) into sector 0 with the LBA of core.img (1) and the
drive check turned into NOPs, one MBR partition entry (active, type 0xEF: an EFI system
partition, which UEFI firmware also boots from) from 1 MiB for ESP_MIB MiB, and core.img from
sector 1 with the blocklist in its first sector naming the sectors that follow it."""
import struct
import sys

SECTOR = 512
KERNEL_SECTOR_OFF = 0x5C  # boot.img: LBA of core.img's first sector (u64)
DRIVE_CHECK_OFF = 0x66  # boot.img: a jump that trusts only DL=0x8x; NOPs as grub-bios-setup does
BLOCKLIST_OFF = SECTOR - 12  # diskboot.img: {u64 start, u16 len, u16 segment} at the sector end


def main():
    disk, boot_img, core_img, esp_mib = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    boot = bytearray(open(boot_img, "rb").read())
    core = bytearray(open(core_img, "rb").read())
    if len(boot) != SECTOR:
        sys.exit(f"mbr.py: {boot_img}: {len(boot)} bytes, want {SECTOR}")
    nsec = (len(core) + SECTOR - 1) // SECTOR
    first_lba = 2048
    if nsec + 1 > first_lba:
        sys.exit(f"mbr.py: {core_img}: {nsec} sectors do not fit before sector {first_lba}")
    core += bytes(nsec * SECTOR - len(core))
    start, length, seg = struct.unpack_from("<QHH", core, BLOCKLIST_OFF)
    if start != 2 or seg != 0x820:
        sys.exit(f"mbr.py: {core_img}: no default blocklist at its first sector's end")
    struct.pack_into("<QHH", core, BLOCKLIST_OFF, 2, nsec - 1, seg)

    struct.pack_into("<Q", boot, KERNEL_SECTOR_OFF, 1)
    boot[DRIVE_CHECK_OFF:DRIVE_CHECK_OFF + 2] = b"\x90\x90"
    mbr = bytearray(SECTOR)
    mbr[:440] = boot[:440]
    mbr[440:444] = struct.pack("<I", 0x7275CE01)  # disk signature
    count = esp_mib * 2048
    # CHS fields 0xFE/0xFF/0xFF: "use LBA"; the firmware and GRUB read the LBA fields.
    mbr[446:462] = struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0xEF, b"\xfe\xff\xff",
                               first_lba, count)
    mbr[510:512] = b"\x55\xaa"
    with open(disk, "r+b") as f:
        f.seek(0, 2)
        if f.tell() < (first_lba + count) * SECTOR:
            sys.exit(f"mbr.py: {disk}: smaller than its partition")
        f.seek(0)
        f.write(mbr)
        f.write(core)


main()
