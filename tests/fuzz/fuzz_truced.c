/* fuzz_truced.c — libFuzzer target: truced's REST routes (path, query and JSON body validation,
 * the per-VM lock, the SQLite store) with requests that never start a process. The input is
 * "METHOD TARGET\n" then the body; every answer must be a known status with an error message. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "manager/routes.h"

struct mgr *g_mgr;
static struct mgr m = {.overcommit = 1.5,
                       .host_mem_mib = 1024,
                       .jail_uid = -1,
                       .jail_gid = -1,
                       .lock = PTHREAD_MUTEX_INITIALIZER};

static void cleanup(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", m.state_dir);
    if (m.state_dir[0] && system(cmd)) {
    }
}

static void init(void)
{
    char tmpl[] = "/tmp/fuzz-truced-XXXXXX", err[256], p[PATH_MAX];
    if (!mkdtemp(tmpl))
        abort();
    snprintf(m.state_dir, sizeof(m.state_dir), "%s", tmpl);
    snprintf(p, sizeof(p), "%s/vms", tmpl);
    mkdir(p, 0700);
    snprintf(m.truce, sizeof(m.truce), "/nonexistent/truce");
    snprintf(m.cg_why, sizeof(m.cg_why), "not in the fuzzer");
    if (db_open(":memory:", &m.db, err, sizeof(err)) < 0)
        abort();
    g_mgr = &m;
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!m.db)
        init();
    const char *nl = memchr(data, '\n', size);
    size_t line = nl ? (size_t)(nl - (const char *)data) : size;
    char head[512], method[16], target[400];
    if (line >= sizeof(head))
        return 0;
    memcpy(head, data, line);
    head[line] = 0;
    if (sscanf(head, "%15s %399s", method, target) != 2)
        return 0;
    /* Starting processes and talking to other truceds is the tests' business (tests/manager),
     * not the fuzzer's. */
    if (strstr(target, "/start") || strstr(target, "/restore") || strstr(target, "/migrat"))
        return 0;
    char *q = strchr(target, '?');
    if (q)
        *q++ = 0;
    const char *body = nl ? nl + 1 : "";
    size_t blen = nl ? size - line - 1 : 0;
    struct answer a = {0};
    route(&m, method, target, q, body, blen, &a);
    static const int ok[] = {200, 201, 204, 400, 404, 405, 409, 502, 507};
    bool known = false;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        known |= a.status == ok[i];
    if (!known)
        __builtin_trap();
    if (a.status >= 400 && !json_is_string(json_object_get(a.body, "error")))
        __builtin_trap();
    json_decref(a.body);
    return 0;
}
