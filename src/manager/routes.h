/* routes.h — truced's REST API dispatch. */
#ifndef TRUCE_MANAGER_ROUTES_H
#define TRUCE_MANAGER_ROUTES_H

#include <stddef.h>

#include "manager/mgr.h"

/* Answer one request: METHOD PATH?QUERY with body RAW (RAW_LEN bytes, maybe 0) into A. */
void route(struct mgr *m, const char *method, const char *path, const char *query, const char *raw,
           size_t raw_len, struct answer *a);

/* POST /v1/vms: define a VM from BODY {name, config, autostart, limits} (201 with the VM). */
int route_create(struct mgr *m, json_t *body, struct answer *a);

#endif
