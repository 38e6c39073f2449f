/* modlist.c — parsing the --initrd module list of multiboot kernels (see modlist.h). */
#include <errno.h>
#include <string.h>

#include "util/modlist.h"

int modlist_next(const char **cursor, char *item, size_t len)
{
    const char *p = *cursor;
    size_t n = 0;

    if (!*p)
        return 0;
    for (; *p; p++) {
        if (*p == ',') {
            if (p[1] != ',')
                break;
            p++; /* ",," is one literal comma */
        }
        if (n + 1 >= len)
            return -ENAMETOOLONG;
        item[n++] = *p;
    }
    item[n] = 0;
    if (*p == ',')
        p++;
    *cursor = p;
    return n == 0 || item[0] == ' ' ? -EINVAL : 1;
}

int modlist_path(const char *item, char *path, size_t len)
{
    size_t n = strcspn(item, " ");
    if (n >= len)
        return -ENAMETOOLONG;
    memcpy(path, item, n);
    path[n] = 0;
    return 0;
}

bool modlist_is_list(const char *spec)
{
    for (const char *p = spec; *p; p++) {
        if (*p == ' ')
            return true;
        if (*p == ',') {
            if (p[1] != ',')
                return true;
            p++;
        }
    }
    return false;
}
