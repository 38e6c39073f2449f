/* pflash.h — a CFI parallel flash (Intel/Sharp command set, as QEMU's pflash_cfi01) holding
 * OVMF's UEFI variable store. */
#ifndef TRUCE_PFLASH_H
#define TRUCE_PFLASH_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct pflash;

#define PFLASH_SECTOR 4096 /* erase block, as QEMU's PC flash and OVMF's QEMU_FLASH_BLOCK_SIZE */

/* The device, as OVMF's QemuFlashFvbServicesRuntimeDxe drives it (1 byte wide, 4 KiB blocks):
 * - read-array mode (after reset, 0xFF or 0x00): reads return the contents; the contents are a
 *   read-only KVM memory slot then, so reads run at memory speed and only writes exit;
 * - 0x10/0x40 then a data write: program; 0x20 then 0xD0: erase the block around the address to
 *   0xFF; 0xE8, count - 1, count data bytes, 0xD0: buffered program; 0x60 then 0xD0/0x01:
 *   (un)lock, a no-op; 0x50: clear status (back to read-array); 0x70: read status; 0x90: read
 *   identifier; 0x98: CFI query. In every mode but read-array the slot is removed and reads
 *   exit to the device (status 0x80: ready, no error).
 * A bad second cycle sets the error bits in status and returns to read-array. */

/* Create the flash of SIZE bytes (a multiple of PFLASH_SECTOR) at guest address GPA, KVM
 * memory slot SLOT. FD >= 0: the file is mapped shared, so every program and erase reaches it
 * (persistent variables); FD < 0: a private copy of INIT[0..SIZE). FD is not kept. Returns 0 or
 * -errno with one line in ERR. */
int pflash_create(struct vm *vm, uint64_t gpa, size_t size, unsigned slot, int fd, const void *init,
                  char *err, size_t errlen);

/* For unit tests: the flash of VM (NULL when none) and its contents. */
struct pflash *pflash_find(struct vm *vm);
const uint8_t *pflash_contents(const struct pflash *f);

#endif
