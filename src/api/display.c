/* display.c — the display's API (truce extensions): PUT /display, GET /display/screenshot. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "ui/ui.h"

int api_put_display(struct api *api, const json_t *o, struct jctx *c)
{
    static const char *const fields[] = {"kind", "vnc", "password_file", "vram_mib", "input", NULL};
    static const char *const kinds[] = {"none", "std", "vnc", NULL};
    static const char *const inputs[] = {"ps2", "virtio", NULL};
    char vnc[CFG_VNC_ADDR_LEN + 8] = "", pw[PATH_MAX] = "", spec[PATH_MAX + 256], why[API_ERR_LEN];
    int kind = 0, input = 0;
    uint64_t vram = CFG_VRAM_DEFAULT_MIB;
    bool have_vnc, have_pw;
    if (jobject(c, o, fields) < 0 || jenum(c, o, "kind", true, kinds, &kind, NULL) < 0 ||
        jstring(c, o, "vnc", false, vnc, sizeof(vnc), &have_vnc) < 0 ||
        jstring(c, o, "password_file", false, pw, sizeof(pw), &have_pw) < 0 ||
        juint(c, o, "vram_mib", false, CFG_VRAM_MIN_MIB, CFG_VRAM_MAX_MIB, &vram, NULL) < 0 ||
        jenum(c, o, "input", false, inputs, &input, NULL) < 0)
        return -EINVAL;
    if (have_vnc != (kind == 2))
        return jfail(c, "vnc",
                     kind == 2 ? "required with kind vnc (unix:PATH or IP:PORT)"
                               : "only with kind vnc");
    if (have_pw && kind != 2)
        return jfail(c, "password_file", "only with kind vnc");
    if (kind == 0) {
        memset(&api->cfg.display, 0, sizeof(api->cfg.display));
        return 0;
    }
    int n = snprintf(spec, sizeof(spec), "%s%s", kind == 2 ? "vnc=" : "std", vnc);
    if (have_pw)
        n += snprintf(spec + n, sizeof(spec) - n, ",password=%s", pw);
    snprintf(spec + n, sizeof(spec) - n, ",vram=%llu,input=%s", (unsigned long long)vram,
             inputs[input]);
    struct display_config d;
    if (config_parse_display(&d, spec, why, sizeof(why)) < 0 ||
        config_validate_display(&d, why, sizeof(why)) < 0) {
        const char *msg = strncmp(why, "--display: ", 11) ? why : why + 11;
        return jfail(c, NULL, "%s", msg);
    }
    api->cfg.display = d;
    return 0;
}

int api_screenshot(struct api *api, struct api_reply *out, char *err, size_t errlen)
{
    uint8_t *png;
    size_t len;
    int rc = ui_screenshot_png(api->vm, &png, &len, err, errlen);
    if (rc < 0)
        return rc;
    out->status = 200;
    out->body = (char *)png;
    out->body_len = len;
    out->content_type = "image/png";
    return 0;
}
