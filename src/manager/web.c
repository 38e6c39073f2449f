/* web.c — the web console's static files: a strict path check, then the file as it is (no build
 * step: HTML, CSS, JavaScript modules and the vendored xterm.js and noVNC). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manager/web.h"

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".map", "application/json"},
    {".md", "text/plain; charset=utf-8"},
};

static const char *type_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].type;
    return NULL;
}

/* Every component: [A-Za-z0-9._-]+, not starting with '.'; no empty components. */
static bool path_ok(const char *p)
{
    if (p[0] != '/')
        return false;
    for (const char *c = p + 1; *c; c++) {
        if (c[-1] == '/' && (*c == '/' || *c == '.')) /* empty or hidden component */
            return false;
        if (!(*c == '/' || *c == '.' || *c == '_' || *c == '-' || (*c >= '0' && *c <= '9') ||
              (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
            return false;
    }
    return true;
}

/* Open PATH (relative, checked) below ROOTFD one component at a time without following links. */
static int open_below(int rootfd, const char *rel)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", rel);
    int dir = dup(rootfd);
    char *save, *comp = strtok_r(buf, "/", &save);
    while (dir >= 0 && comp) {
        char *next = strtok_r(NULL, "/", &save);
        int fd = openat(dir, comp, (next ? O_DIRECTORY : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC);
        close(dir);
        if (!next)
            return fd;
        dir = fd;
        comp = next;
    }
    if (dir >= 0)
        close(dir);
    return -1;
}

void web_file(struct mgr *m, const char *path, struct answer *a)
{
    if (!m->web_root[0]) {
        fail(a, 404, "no such path: %s (the web console is served with truced --web-root DIR)",
             path);
        return;
    }
    if (!strcmp(path, "/"))
        path = "/index.html";
    const char *type = type_of(path);
    if (strlen(path) >= 400 || !path_ok(path)) {
        fail(a, 400, "path: only [A-Za-z0-9._-] components not starting with '.'");
        return;
    }
    int root = open(m->web_root, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    int fd = root >= 0 ? open_below(root, path + 1) : -1;
    if (root >= 0)
        close(root);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !type) {
        fail(a, 404, "no such file: %s", path);
    } else if (st.st_size > WEB_MAX_FILE) {
        fail(a, 500, "%s: larger than %u bytes", path, WEB_MAX_FILE);
    } else if (!(a->raw = malloc(st.st_size ? st.st_size : 1))) {
        fail(a, 500, "out of memory");
    } else {
        size_t got = 0;
        while (got < (size_t)st.st_size) {
            ssize_t r = read(fd, a->raw + got, st.st_size - got);
            if (r <= 0)
                break;
            got += r;
        }
        a->status = 200;
        a->raw_len = got;
        a->ctype = type;
    }
    if (fd >= 0)
        close(fd);
}
