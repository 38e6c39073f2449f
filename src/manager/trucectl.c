/* trucectl.c — the command-line client of truced: tables for people, --json for scripts. */
#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manager/ctlconsole.h"
#include "manager/hclient.h"

static const char USAGE[] =
    "usage: trucectl [--sock PATH | --addr tcp:HOST:PORT --token-file F] [--json] COMMAND\n"
    "  create FILE [--name N] [--autostart]   define a VM from truce's --config-file JSON\n"
    "  list | get NAME | metrics NAME | events [SINCE]\n"
    "  start NAME | stop NAME [--force] [--timeout MS] | pause NAME | resume NAME | delete NAME\n"
    "  snapshot NAME DIR | restore NAME DIR\n"
    "  console NAME [--timeout MS]   the serial console (Ctrl-] detaches; without a terminal,\n"
    "                                stdin's end is followed by MS of output, default 1000)\n"
    "  screenshot NAME FILE.png      the screen of a VM with a display\n"
    "  migrate NAME --to ADDR [--to-token-file F] [--listen URL] [--max-downtime MS]\n"
    "                                move a running VM to the truced at ADDR (/PATH or\n"
    "                                tcp:HOST:PORT); its receiver listens on URL there\n";

static int usage(void)
{
    fputs(USAGE, stderr);
    return 2;
}

static void print_table(json_t *vms)
{
    printf("%-20s %-9s %-8s %8s %10s %6s  %s\n", "NAME", "STATE", "PID", "MEM_MIB", "RSS_MIB",
           "EXIT", "REASON");
    size_t i;
    json_t *v;
    json_array_foreach(vms, i, v)
    {
        json_t *met = json_object_get(v, "metrics"), *rss = json_object_get(met, "rss_bytes");
        json_t *cur = json_object_get(met, "memory_current"),
               *ex = json_object_get(v, "exit_status");
        json_t *mem = json_is_integer(cur) ? cur : rss;
        char memtxt[32] = "-", extxt[16] = "-";
        if (json_is_integer(mem))
            snprintf(memtxt, sizeof(memtxt), "%.1f", json_integer_value(mem) / 1048576.0);
        if (json_is_integer(ex))
            snprintf(extxt, sizeof(extxt), "%lld", (long long)json_integer_value(ex));
        printf("%-20s %-9s %-8lld %8lld %10s %6s  %s\n",
               json_string_value(json_object_get(v, "name")),
               json_string_value(json_object_get(v, "state")),
               (long long)json_integer_value(json_object_get(v, "pid")),
               (long long)json_integer_value(json_object_get(v, "mem_size_mib")), memtxt, extxt,
               json_string_value(json_object_get(v, "reason")));
    }
}

static void print_events(json_t *ev)
{
    size_t i;
    json_t *e;
    json_array_foreach(ev, i, e) printf(
        "%6lld %-20s %-9s %s\n", (long long)json_integer_value(json_object_get(e, "id")),
        json_string_value(json_object_get(e, "vm")), json_string_value(json_object_get(e, "state")),
        json_string_value(json_object_get(e, "detail")));
}

/* Print the answer: the table form of the VM(s), or the JSON itself. */
static void show(json_t *j, bool as_json)
{
    if (as_json || !json_is_object(j)) {
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
        if (s)
            puts(s);
        free(s);
    } else if (json_object_get(j, "vms")) {
        print_table(json_object_get(j, "vms"));
    } else if (json_object_get(j, "events")) {
        print_events(json_object_get(j, "events"));
    } else if (json_object_get(j, "state") && json_object_get(j, "name")) {
        json_t *a = json_array();
        json_array_append(a, j);
        print_table(a);
        json_decref(a);
    } else {
        show(j, true);
    }
}

static char *make_create(const char *file, const char *name, bool autostart)
{
    json_error_t e;
    json_t *cfg = json_load_file(file, 0, &e);
    if (!cfg) {
        fprintf(stderr, "trucectl: %s: line %d: %s\n", file, e.line, e.text);
        return NULL;
    }
    char base[256];
    if (!name) {
        char tmp[256];
        snprintf(tmp, sizeof(tmp), "%s", file);
        snprintf(base, sizeof(base), "%s", basename(tmp));
        char *dot = strrchr(base, '.');
        if (dot)
            *dot = 0;
        name = base;
    }
    json_t *b = json_pack("{s:s, s:o, s:b}", "name", name, "config", cfg, "autostart", autostart);
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    return s;
}

static int screenshot(const char *addr, const char *token, const char *name, const char *file)
{
    char path[512];
    struct hc_reply r = {0};
    snprintf(path, sizeof(path), "/v1/vms/%s/screenshot", name);
    int rc = hc_request(addr, "GET", path, NULL, token, 30000, &r);
    if (rc < 0)
        return fprintf(stderr, "trucectl: %s: %s\n", addr, strerror(-rc)), 3;
    if (r.status != 200) {
        json_t *j = json_loads(r.body, 0, NULL);
        const char *msg = json_string_value(json_object_get(j, "error"));
        fprintf(stderr, "trucectl: %d: %s\n", r.status, msg ? msg : r.body);
        json_decref(j);
        free(r.body);
        return 1;
    }
    FILE *f = fopen(file, "we");
    rc = !f || fwrite(r.body, 1, r.len, f) != r.len;
    if (f && fclose(f))
        rc = 1;
    if (rc)
        fprintf(stderr, "trucectl: %s: %s\n", file, strerror(errno));
    free(r.body);
    return rc ? 2 : 0;
}

int main(int argc, char **argv)
{
    const char *addr = getenv("TRUCED_SOCK") ? getenv("TRUCED_SOCK") : "/run/truced.sock";
    const char *token_file = NULL, *name_opt = NULL, *timeout = NULL, *to = NULL, *to_tf = NULL;
    const char *listen = NULL, *downtime = NULL;
    bool as_json = false, force = false, autostart = false;
    char *args[4];
    int nargs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if ((!strcmp(a, "--sock") || !strcmp(a, "--addr")) && more)
            addr = argv[++i];
        else if (!strcmp(a, "--token-file") && more)
            token_file = argv[++i];
        else if (!strcmp(a, "--name") && more)
            name_opt = argv[++i];
        else if (!strcmp(a, "--timeout") && more)
            timeout = argv[++i];
        else if (!strcmp(a, "--to") && more)
            to = argv[++i];
        else if (!strcmp(a, "--to-token-file") && more)
            to_tf = argv[++i];
        else if (!strcmp(a, "--listen") && more)
            listen = argv[++i];
        else if (!strcmp(a, "--max-downtime") && more)
            downtime = argv[++i];
        else if (!strcmp(a, "--json"))
            as_json = true;
        else if (!strcmp(a, "--force"))
            force = true;
        else if (!strcmp(a, "--autostart"))
            autostart = true;
        else if (a[0] == '-' && a[1])
            return fprintf(stderr, "trucectl: unknown option %s\n", a), usage();
        else if (nargs < 4)
            args[nargs++] = argv[i];
        else
            return usage();
    }
    if (!nargs)
        return usage();
    char token[256] = "";
    if (token_file) {
        FILE *f = fopen(token_file, "re");
        if (!f || !fgets(token, sizeof(token), f))
            return fprintf(stderr, "trucectl: --token-file %s: unreadable\n", token_file), 2;
        fclose(f);
        token[strcspn(token, "\r\n")] = 0;
    }
    const char *cmd = args[0], *method = "GET";
    if (!strcmp(cmd, "console") && nargs == 2)
        return ctl_console(addr, token[0] ? token : NULL, args[1], timeout ? atoi(timeout) : 1000);
    if (!strcmp(cmd, "screenshot") && nargs == 3)
        return screenshot(addr, token[0] ? token : NULL, args[1], args[2]);
    char path[512], *body = NULL;
    bool one = nargs >= 2;
    if (!strcmp(cmd, "list") && nargs == 1)
        snprintf(path, sizeof(path), "/v1/vms");
    else if (!strcmp(cmd, "events") && nargs <= 2)
        snprintf(path, sizeof(path), "/v1/events%s%s", one ? "?since=" : "", one ? args[1] : "");
    else if (!strcmp(cmd, "create") && nargs == 2) {
        method = "POST";
        snprintf(path, sizeof(path), "/v1/vms");
        if (!(body = make_create(args[1], name_opt, autostart)))
            return 2;
    } else if ((!strcmp(cmd, "get") || !strcmp(cmd, "metrics")) && nargs == 2)
        snprintf(path, sizeof(path), "/v1/vms/%s%s", args[1], cmd[0] == 'm' ? "/metrics" : "");
    else if (!strcmp(cmd, "delete") && nargs == 2) {
        method = "DELETE";
        snprintf(path, sizeof(path), "/v1/vms/%s", args[1]);
    } else if ((!strcmp(cmd, "start") || !strcmp(cmd, "pause") || !strcmp(cmd, "resume")) &&
               nargs == 2) {
        method = "POST";
        snprintf(path, sizeof(path), "/v1/vms/%s/%s", args[1], cmd);
    } else if (!strcmp(cmd, "stop") && nargs == 2) {
        method = "POST";
        snprintf(path, sizeof(path), "/v1/vms/%s/stop", args[1]);
        if (asprintf(&body, "{\"force\": %s%s%s}", force ? "true" : "false",
                     timeout ? ", \"timeout_ms\": " : "", timeout ? timeout : "") < 0)
            return 4;
    } else if ((!strcmp(cmd, "snapshot") || !strcmp(cmd, "restore")) && nargs == 3) {
        method = "POST";
        snprintf(path, sizeof(path), "/v1/vms/%s/%s", args[1], cmd);
        char dir[4096], cwd[2048];
        if (args[2][0] != '/' && getcwd(cwd, sizeof(cwd)))
            snprintf(dir, sizeof(dir), "%s/%s", cwd, args[2]);
        else
            snprintf(dir, sizeof(dir), "%s", args[2]);
        json_t *b = json_pack("{s:s}", "dir", dir);
        body = json_dumps(b, JSON_COMPACT);
        json_decref(b);
    } else if (!strcmp(cmd, "migrate") && nargs == 2 && to) {
        method = "POST";
        snprintf(path, sizeof(path), "/v1/vms/%s/migrate", args[1]);
        json_t *b = json_pack("{s:s}", "to", to);
        char tt[256] = "";
        FILE *f = to_tf ? fopen(to_tf, "re") : NULL;
        if (to_tf && (!f || !fgets(tt, sizeof(tt), f)))
            return fprintf(stderr, "trucectl: --to-token-file %s: unreadable\n", to_tf), 2;
        if (f)
            fclose(f);
        tt[strcspn(tt, "\r\n")] = 0;
        if (tt[0])
            json_object_set_new(b, "token", json_string(tt));
        if (listen)
            json_object_set_new(b, "listen", json_string(listen));
        if (downtime)
            json_object_set_new(b, "max_downtime_ms", json_integer(atoll(downtime)));
        body = json_dumps(b, JSON_COMPACT);
        json_decref(b);
    } else
        return usage();
    struct hc_reply r = {0};
    int rc = hc_request(addr, method, path, body, token[0] ? token : NULL, 120000, &r);
    free(body);
    if (rc < 0) {
        fprintf(stderr, "trucectl: %s: %s\n", addr, strerror(-rc));
        return 3;
    }
    json_t *j = r.len ? json_loads(r.body, 0, NULL) : NULL;
    if (r.status >= 300) {
        const char *msg = json_string_value(json_object_get(j, "error"));
        fprintf(stderr, "trucectl: %d: %s\n", r.status, msg ? msg : r.body);
        rc = 1;
    } else if (j)
        show(j, as_json);
    json_decref(j);
    free(r.body);
    return rc;
}
