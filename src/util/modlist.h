/* modlist.h — the --initrd module list: "PATH [ARGS],PATH [ARGS]" with ",," for a literal comma. */
#ifndef TRUCE_MODLIST_H
#define TRUCE_MODLIST_H

#include <stdbool.h>
#include <stddef.h>

#define MODLIST_MAX 32 /* modules a multiboot kernel can be given */

/* Take the next item of the list at *CURSOR into ITEM (room for LEN bytes, NUL-terminated, ",,"
 * unescaped) and advance *CURSOR past it and its separating comma. Returns 1 for an item, 0 at
 * the end of the list, -EINVAL for an empty item, -ENAMETOOLONG when it does not fit in ITEM. */
int modlist_next(const char **cursor, char *item, size_t len);

/* The path of ITEM: everything before its first space, copied into PATH (room for LEN bytes).
 * Returns 0, or -ENAMETOOLONG. */
int modlist_path(const char *item, char *path, size_t len);

/* Is SPEC a list of more than one module, or one module with arguments? (False for a plain
 * path, which is how a Linux initrd is given.) */
bool modlist_is_list(const char *spec);

#endif
