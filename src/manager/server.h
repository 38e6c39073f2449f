/* server.h — truced's API listeners. */
#ifndef TRUCE_MANAGER_SERVER_H
#define TRUCE_MANAGER_SERVER_H

#include <stddef.h>

#include "manager/mgr.h"

/* Serve the API on a UNIX socket at PATH (mode 0600) from a new thread. 0 or -errno + ERR. */
int server_unix(struct mgr *m, const char *path, char *err, size_t errlen);
/* Serve it on TCP HOST:PORT; every request must carry "Authorization: Bearer TOKEN". */
int server_tcp(struct mgr *m, const char *hostport, const char *token, char *err, size_t errlen);

#endif
