/* mmds_api.c — the MMDS endpoints: PUT/PATCH/GET /mmds, PUT /mmds/config, the config's export. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "mmds/mmds.h"

static const char *const versions[] = {"V1", "V2", NULL};

struct iface_arg {
    const struct api *api;
    uint32_t mask;
};

/* One element of network_interfaces: the id of an interface configured already. */
static int iface_one(void *arg, struct jctx *ec, const json_t *e)
{
    struct iface_arg *a = arg;
    if (!json_is_string(e))
        return jfail(ec, NULL, "must be a string");
    for (unsigned i = 0; i < a->api->cfg.nnets; i++)
        if (!strcmp(a->api->cfg.nets[i].id, json_string_value(e))) {
            a->mask |= 1u << i;
            return 0;
        }
    return jfail(ec, NULL,
                 "'%s': The list of network interface IDs provided contains at least one ID "
                 "that does not correspond to any existing network interface.",
                 json_string_value(e));
}

int api_put_mmds_config(struct api *api, const json_t *o, struct jctx *c)
{
    static const char *const fields[] = {"version", "network_interfaces", "ipv4_address",
                                         "imds_compat", NULL};
    struct mmds_config m = {.enabled = true, .version = 1, .ipv4 = MMDS_DEFAULT_IPV4};
    struct iface_arg ia = {.api = api};
    char addr[32];
    bool have_addr = false;
    int v = 0;
    json_t *ifs = json_object_get(o, "network_interfaces");
    if (jobject(c, o, fields) < 0 || jenum(c, o, "version", false, versions, &v, NULL) < 0 ||
        jbool(c, o, "imds_compat", false, &m.imds_compat, NULL) < 0 ||
        jstring(c, o, "ipv4_address", false, addr, sizeof(addr), &have_addr) < 0)
        return -EINVAL;
    if (!ifs || json_is_null(ifs))
        return jfail(c, "network_interfaces", "missing");
    if (jeach(c, o, "network_interfaces", iface_one, &ia) < 0)
        return -EINVAL;
    if (!ia.mask)
        return jfail(c, "network_interfaces",
                     "The list of network interface IDs that allow forwarding MMDS requests is "
                     "empty.");
    if (have_addr) {
        struct in_addr in;
        if (inet_pton(AF_INET, addr, &in) != 1)
            return jfail(c, "ipv4_address", "'%s' is not an IPv4 address", addr);
        uint32_t a = ntohl(in.s_addr);
        uint8_t third = (uint8_t)(a >> 8);
        if ((a >> 16) != 0xa9fe || third == 0 || third == 255)
            return jfail(c, "ipv4_address",
                         "'%s': The MMDS IPv4 address is not link local (169.254.1.0 to "
                         "169.254.254.255).",
                         addr);
        m.ipv4 = a;
    }
    m.version = (uint8_t)(v + 1);
    m.iface_mask = ia.mask;
    api->cfg.mmds = m;
    return 0;
}

json_t *api_export_mmds_config(const struct api *api)
{
    const struct mmds_config *m = &api->cfg.mmds;
    json_t *ifs = json_array();
    for (unsigned i = 0; i < api->cfg.nnets; i++)
        if (m->iface_mask & (1u << i))
            json_array_append_new(ifs, json_string(api->cfg.nets[i].id));
    char addr[INET_ADDRSTRLEN];
    struct in_addr in = {.s_addr = htonl(m->ipv4)};
    inet_ntop(AF_INET, &in, addr, sizeof(addr));
    return json_pack("{s:s, s:o, s:s, s:b}", "version", versions[m->version == 2],
                     "network_interfaces", ifs, "ipv4_address", addr, "imds_compat",
                     m->imds_compat);
}

int api_put_mmds(struct api *api, json_t *body, bool patch, char *err, size_t errlen)
{
    return patch ? mmds_patch(api->mmds, body, err, errlen)
                 : mmds_put(api->mmds, body, err, errlen);
}

json_t *api_get_mmds(struct api *api)
{
    return mmds_get_all(api->mmds);
}

json_t *api_mmds_metrics(struct api *api)
{
    struct mmds_counters c;
    mmds_counters(api->mmds, &c);
    json_t *j = json_object();
#define F(name) json_object_set_new(j, #name, json_integer((json_int_t)c.name))
    F(rx_accepted);
    F(rx_accepted_err);
    F(rx_count);
    F(rx_no_token);
    F(rx_invalid_token);
    F(tx_frames);
    F(tx_bytes);
    F(connections_created);
    F(connections_destroyed);
    F(tokens_issued);
    F(connections_evicted);
#undef F
    return j;
}
