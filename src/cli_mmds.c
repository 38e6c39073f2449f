/* cli_mmds.c — `truce run --mmds SPEC`: the metadata service on every --net interface. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mmds/mmds.h"
#include "util/util.h"

/* One KEY=VALUE item of SPEC into M. Returns 0 or -EINVAL with ERR. */
static int mmds_item(struct mmds_config *m, const char *key, const char *val, char *err,
                     size_t errlen)
{
    if (!strcmp(key, "version")) {
        if (strcmp(val, "V1") && strcmp(val, "V2"))
            return snprintf(err, errlen, "--mmds: version '%s': expected V1 or V2", val), -EINVAL;
        m->version = val[1] == '2' ? 2 : 1;
    } else if (!strcmp(key, "ipv4")) {
        struct in_addr in;
        uint32_t a = inet_pton(AF_INET, val, &in) == 1 ? ntohl(in.s_addr) : 0;
        uint8_t third = (uint8_t)(a >> 8);
        if ((a >> 16) != 0xa9fe || third == 0 || third == 255)
            return snprintf(err, errlen,
                            "--mmds: ipv4 '%s': not a link-local address from 169.254.1.0 to "
                            "169.254.254.255",
                            val),
                   -EINVAL;
        m->ipv4 = a;
    } else if (!strcmp(key, "imds_compat")) {
        if (strcmp(val, "on") && strcmp(val, "off"))
            return snprintf(err, errlen, "--mmds: imds_compat '%s': expected on or off", val),
                   -EINVAL;
        m->imds_compat = !strcmp(val, "on");
    } else if (!strcmp(key, "data")) {
        if (!*val || str_copy(m->cli_data, sizeof(m->cli_data), val))
            return snprintf(err, errlen, "--mmds: data: a path of 1 to %d bytes", PATH_MAX - 1),
                   -EINVAL;
    } else {
        return snprintf(err, errlen, "--mmds: unknown key '%s' (version, ipv4, imds_compat, data)",
                        key),
               -EINVAL;
    }
    return 0;
}

int cli_parse_mmds(struct vm_config *cfg, const char *spec, char *err, size_t errlen)
{
    struct mmds_config *m = &cfg->mmds;
    char buf[PATH_MAX + 64];
    if (str_copy(buf, sizeof(buf), spec))
        return snprintf(err, errlen, "--mmds: too long"), -EINVAL;
    m->enabled = true;
    m->version = m->version ? m->version : 1;
    m->ipv4 = m->ipv4 ? m->ipv4 : MMDS_DEFAULT_IPV4;
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq)
            return snprintf(err, errlen, "--mmds: '%s': expected KEY=VALUE", item), -EINVAL;
        *eq = 0;
        if (mmds_item(m, item, eq + 1, err, errlen) < 0)
            return -EINVAL;
    }
    return 0;
}

struct mmds *cli_mmds_open(const struct mmds_config *m, char *err, size_t errlen)
{
    struct mmds *s = mmds_new(0);
    if (!s)
        return snprintf(err, errlen, "out of memory"), NULL;
    if (!m->cli_data[0])
        return s;
    uint8_t *buf;
    size_t len;
    int rc = read_file(m->cli_data, 16 << 20, &buf, &len);
    if (rc < 0) {
        snprintf(err, errlen, "--mmds: data %s: %s", m->cli_data, strerror(-rc));
        mmds_free(s);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    char why[128];
    rc = -EINVAL;
    if (!j)
        snprintf(err, errlen, "--mmds: data %s: invalid JSON: %s (line %d)", m->cli_data, je.text,
                 je.line);
    else if ((rc = mmds_put(s, j, why, sizeof(why))) < 0)
        snprintf(err, errlen, "--mmds: data %s: %s", m->cli_data, why);
    json_decref(j);
    if (rc < 0) {
        mmds_free(s);
        return NULL;
    }
    return s;
}
