/* web.h — the web console's static files, served by truced from --web-root. */
#ifndef TRUCE_MANAGER_WEB_H
#define TRUCE_MANAGER_WEB_H

#include "manager/mgr.h"

#define WEB_MAX_FILE (16u << 20) /* a larger file is refused (500) */

/* Answer GET PATH from M->web_root into A ("/" is index.html): the file's bytes with their type,
 * 404 when there is no such file or no web root, 400 for a path with "..", a hidden name or a
 * character outside [A-Za-z0-9._/-], never a file outside the root (symlinks are not followed). */
void web_file(struct mgr *m, const char *path, struct answer *a);

#endif
