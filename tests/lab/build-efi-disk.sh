#!/bin/bash
# build-efi-disk.sh — build (or find in the cache) the UEFI scenarios' disk: an 8 MiB raw image
# with a GPT (written here: protective MBR, header, one entry, backup) whose single partition is
# an EFI system partition (FAT made with mtools, no loop mount) holding \EFI\BOOT\BOOTX64.EFI, a
# GRUB made with grub-mkimage from grub-efi-amd64-bin whose embedded configuration prints
# TRUCE-GRUB-EFI and powers off, and Debian's memtest86+x64.efi. When a second disk is there,
# GRUB first runs its first sector as a script (ovmf-memtest starts memtest86+ that way).
# Prints the directory holding efi-disk.img on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -d /usr/lib/grub/x86_64-efi ] || lab_die "apt-get install grub-efi-amd64-bin"
command -v mformat >/dev/null || lab_die "apt-get install mtools"
# without memtest86+ (apt offline) the disk is still built: only ovmf-memtest then fails
memtest=$(lab_memtest) && memtest=${memtest%.bin}.efi ||
    { memtest= && lab_log "no memtest86+ (apt-get download memtest86+ failed): the EFI disk goes without"; }
tools=$(dpkg-query -W -f '${Version} ' grub-efi-amd64-bin mtools 2>/dev/null || true)
key=$(lab_hash "$0" ${memtest:+"$memtest"} -- "$tools")
out=$LAB_CACHE/efi-disk/$key
if [ -f "$out/efi-disk.img" ]; then
    echo "$out"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
lab_log "building the UEFI scenarios' GPT disk"
# (the embedded configuration runs before normal mode: no `if`, so the choice is a script)
cat >"$work/grub.cfg" <<'CFG'
source (hd1)+1
echo TRUCE-GRUB-EFI
halt
CFG
grub-mkimage -O x86_64-efi -p /EFI/BOOT -c "$work/grub.cfg" -o "$work/BOOTX64.EFI" \
    normal echo halt reboot part_gpt fat configfile chain
esp_lba=2048 disk_mib=8
esp_sectors=$((disk_mib * 2048 - esp_lba - 34))
truncate -s $((esp_sectors * 512)) "$work/esp.img"
mformat -i "$work/esp.img" -v TRUCE_ESP ::
mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT
mcopy -i "$work/esp.img" "$work/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
[ -z "$memtest" ] || mcopy -i "$work/esp.img" "$memtest" ::/memtest86+x64.efi
truncate -s ${disk_mib}M "$work/efi-disk.img"
dd if="$work/esp.img" of="$work/efi-disk.img" bs=512 seek=$esp_lba conv=notrunc status=none
python3 - "$work/efi-disk.img" "$esp_lba" "$esp_sectors" <<'PY'
import struct, sys, uuid, zlib
path, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
f = open(path, "r+b")
f.seek(0, 2)
lbas = f.tell() // 512
esp_type = uuid.UUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b").bytes_le
disk_guid = uuid.UUID("6a1c2f4e-9b3d-4e5f-8a7b-0c1d2e3f4a5c").bytes_le
part_guid = uuid.UUID("6a1c2f4e-9b3d-4e5f-8a7b-0c1d2e3f4a5d").bytes_le
entry = struct.pack("<16s16sQQQ72s", esp_type, part_guid, first, first + count - 1, 0,
                    "EFI system partition".encode("utf-16-le"))
entries = entry + bytes(128 * 128 - len(entry))
def header(me, alt, entries_lba):
    h = struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x10000, 92, 0, 0, me, alt, 34,
                    lbas - 34, disk_guid, entries_lba, 128, 128, zlib.crc32(entries))
    h = h[:16] + struct.pack("<I", zlib.crc32(h)) + h[20:]
    return h + bytes(512 - len(h))
mbr = bytearray(512)  # protective MBR: one 0xEE partition over the disk
mbr[446:462] = struct.pack("<BBBBBBBBII", 0, 0, 2, 0, 0xEE, 0xFF, 0xFF, 0xFF, 1,
                           min(lbas - 1, 0xFFFFFFFF))
mbr[510:512] = b"\x55\xaa"
for off, data in ((0, bytes(mbr)), (512, header(1, lbas - 1, 2)), (1024, entries),
                  ((lbas - 33) * 512, entries), ((lbas - 1) * 512, header(lbas - 1, 1, lbas - 33))):
    f.seek(off)
    f.write(data)
PY
mkdir -p "$out"
cp "$work/efi-disk.img" "$out/"
echo "$out"
