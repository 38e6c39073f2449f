/* display_config.c — the --display option (and PUT /display): parsing and validation. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform/config.h"
#include "util/util.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)

/* "unix:PATH" or "[IPv4]:PORT" into D. */
static int parse_vnc_addr(struct display_config *d, const char *v, char *err, size_t errlen)
{
    if (!strncmp(v, "unix:", 5)) {
        if (!v[5] || strlen(v + 5) >= sizeof(d->vnc_path))
            return ERR("--display: vnc=unix:PATH: a path of 1 to %zu characters",
                       sizeof(d->vnc_path) - 1);
        d->vnc_unix = true;
        snprintf(d->vnc_path, sizeof(d->vnc_path), "%s", v + 5);
        return 0;
    }
    const char *colon = strrchr(v, ':');
    if (!colon)
        return ERR("--display: vnc=%s: expected unix:PATH or [IP]:PORT", v);
    char host[INET_ADDRSTRLEN] = "127.0.0.1";
    size_t hl = (size_t)(colon - v);
    if (hl >= sizeof(host))
        return ERR("--display: vnc=%s: the address is not a numeric IPv4 address", v);
    if (hl) {
        memcpy(host, v, hl);
        host[hl] = '\0';
    }
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) != 1)
        return ERR("--display: vnc=%s: '%s' is not a numeric IPv4 address", v, host);
    uint64_t port;
    if (parse_uint(colon + 1, 1, 65535, &port))
        return ERR("--display: vnc=%s: the port must be a number from 1 to 65535", v);
    d->vnc_unix = false;
    d->vnc_ip = ntohl(a.s_addr);
    d->vnc_port = (uint16_t)port;
    return 0;
}

static int parse_item(struct display_config *d, const char *key, const char *val, char *err,
                      size_t errlen)
{
    uint64_t n;
    if (!strcmp(key, "none") || !strcmp(key, "std")) {
        if (*val)
            return ERR("--display: '%s' takes no value", key);
        d->kind = strcmp(key, "none") ? DISPLAY_STD : DISPLAY_NONE;
        return 0;
    }
    if (!strcmp(key, "vnc")) {
        d->kind = DISPLAY_VNC;
        return parse_vnc_addr(d, val, err, errlen);
    }
    if (!strcmp(key, "password")) {
        if (!*val || str_copy(d->password_file, sizeof(d->password_file), val))
            return ERR("--display: password=FILE: a path of 1 to %d characters", PATH_MAX - 1);
        return 0;
    }
    if (!strcmp(key, "vram")) {
        if (parse_uint(val, CFG_VRAM_MIN_MIB, CFG_VRAM_MAX_MIB, &n) || (n & (n - 1)))
            return ERR("--display: vram=%s: expected 4, 8, 16, 32 or 64 (MiB)", val);
        d->vram_mib = (unsigned)n;
        return 0;
    }
    if (!strcmp(key, "input")) {
        if (strcmp(val, "ps2") && strcmp(val, "virtio"))
            return ERR("--display: input=%s: expected ps2 or virtio", val);
        d->input = strcmp(val, "ps2") ? DISPLAY_INPUT_VIRTIO : DISPLAY_INPUT_PS2;
        return 0;
    }
    return ERR("--display: unknown item '%s' (expected none, std, vnc=, password=, vram=, "
               "input=)",
               key);
}

int config_parse_display(struct display_config *d, const char *spec, char *err, size_t errlen)
{
    struct display_config nd = {.vram_mib = CFG_VRAM_DEFAULT_MIB};
    char buf[PATH_MAX + 256];
    if (str_copy(buf, sizeof(buf), spec))
        return ERR("--display: value too long");
    if (!*buf)
        return ERR("--display: empty (expected none, std or vnc=ADDRESS)");
    char *save = NULL;
    bool first = true;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        const char *val = "";
        if (eq) {
            *eq = '\0';
            val = eq + 1;
        }
        bool kind = !strcmp(tok, "none") || !strcmp(tok, "std") || !strcmp(tok, "vnc");
        if (kind != first)
            return ERR(first ? "--display: starts with none, std or vnc=ADDRESS, not '%s'"
                             : "--display: '%s' must come first",
                       tok);
        int rc = parse_item(&nd, tok, val, err, errlen);
        if (rc)
            return rc;
        first = false;
    }
    if (nd.password_file[0] && nd.kind != DISPLAY_VNC)
        return ERR("--display: password= needs vnc=");
    if (nd.kind == DISPLAY_NONE && nd.vram_mib != CFG_VRAM_DEFAULT_MIB)
        return ERR("--display: vram= needs std or vnc=");
    if (nd.kind == DISPLAY_NONE && nd.input != DISPLAY_INPUT_PS2)
        return ERR("--display: input= needs std or vnc=");
    *d = nd;
    return 0;
}

int config_validate_display(const struct display_config *d, char *err, size_t errlen)
{
    if (d->kind == DISPLAY_NONE)
        return 0;
    unsigned v = d->vram_mib;
    if (v < CFG_VRAM_MIN_MIB || v > CFG_VRAM_MAX_MIB || (v & (v - 1)))
        return ERR("display: vram %u MiB: expected 4, 8, 16, 32 or 64", v);
    if (d->input != DISPLAY_INPUT_PS2 && d->input != DISPLAY_INPUT_VIRTIO)
        return ERR("display: input: expected ps2 or virtio");
    if (d->kind == DISPLAY_VNC && !d->vnc_unix && !d->vnc_port)
        return ERR("display: vnc: no port");
    if (d->password_file[0]) {
        struct stat st;
        if (stat(d->password_file, &st) < 0 || access(d->password_file, R_OK) < 0)
            return ERR("--display: password=%s: %s", d->password_file, strerror(errno));
        if (!S_ISREG(st.st_mode) || st.st_size == 0)
            return ERR("--display: password=%s: not a non-empty regular file", d->password_file);
    }
    return 0;
}
