/* vnctool.c — a small VNC client for the display tests, on Debian's libvncclient: reads the screen
 * into a PPM, types text, moves the pointer. ADDR is a UNIX socket path or HOST:PORT.
 *   vnctool ADDR [-p PASSWORD] snap OUT.ppm
 *   vnctool ADDR [-p PASSWORD] type TEXT        ('\n' is Return)
 *   vnctool ADDR [-p PASSWORD] move DX DY N     (N relative moves of DX, DY)
 *   vnctool ADDR [-p PASSWORD] click X Y        (left button pressed and released at X, Y;
 *                                                negative X or Y count from the right/bottom)
 *   vnctool stat IMAGE X Y W H                  (no server: a region of a PNG or PPM image)
 * stat prints "WxH RRGGBB N TOTAL": the image's size, the most common colour of the region
 * (X, Y, W x H; negative X/Y count from the right/bottom, W/H 0 run to the edge), how many of
 * its TOTAL pixels have it.
 * Exit status 0, or 1 with one line on stderr. */
#include <png.h>
#include <rfb/rfbclient.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *password;
static int frames;

static char *get_password(rfbClient *cl)
{
    return password ? strdup(password) : NULL;
}

static void frame_done(rfbClient *cl)
{
    frames++;
}

/* Pixels of rectangles received (an update that only announces the screen size carries none). */
static long long covered;

static void got_pixels(rfbClient *cl, int x, int y, int w, int h)
{
    covered += (long long)w * h;
}

static void quiet(const char *fmt, ...)
{
}

/* Handle what the server sent for up to MS milliseconds. Returns 0 or -1 (connection lost). */
static int pump(rfbClient *cl, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        int n = WaitForMessage(cl, 10000);
        if (n < 0 || (n > 0 && !HandleRFBServerMessage(cl)))
            return -1;
    }
    return 0;
}

static int snap(rfbClient *cl, const char *out)
{
    for (int i = 0; i < 1000 && frames == 0; i++)
        if (pump(cl, 10) < 0)
            return fprintf(stderr, "vnctool: connection lost\n"), 1;
    if (!frames)
        return fprintf(stderr, "vnctool: no screen update in 10 s\n"), 1;
    /* the first updates may only announce the size (a server answers each full-screen request of
     * a client with the desktop-size extension that way first): ask for the whole screen and
     * wait until that many pixels came */
    covered = 0;
    if (!SendFramebufferUpdateRequest(cl, 0, 0, cl->width, cl->height, FALSE))
        return fprintf(stderr, "vnctool: connection lost\n"), 1;
    for (int i = 0; i < 1000 && covered < (long long)cl->width * cl->height; i++)
        if (pump(cl, 10) < 0)
            return fprintf(stderr, "vnctool: connection lost\n"), 1;
    if (covered < (long long)cl->width * cl->height)
        return fprintf(stderr, "vnctool: the whole screen did not come in 10 s\n"), 1;
    FILE *f = fopen(out, "wb");
    if (!f)
        return perror(out), 1;
    fprintf(f, "P6\n%d %d\n255\n", cl->width, cl->height);
    for (int i = 0; i < cl->width * cl->height; i++)
        fwrite(cl->frameBuffer + 4 * i, 1, 3, f); /* R, G, B of the client's 32-bit format */
    return fclose(f) ? 1 : 0;
}

static int type(rfbClient *cl, const char *text)
{
    for (const char *p = text; *p; p++) {
        uint32_t sym = *p == '\n' ? 0xff0d : (unsigned char)*p;
        if (!SendKeyEvent(cl, sym, TRUE) || !SendKeyEvent(cl, sym, FALSE))
            return fprintf(stderr, "vnctool: connection lost\n"), 1;
        if (pump(cl, 50) < 0)
            return fprintf(stderr, "vnctool: connection lost\n"), 1;
    }
    return 0;
}

static int move(rfbClient *cl, int dx, int dy, int n)
{
    int x = cl->width / 2, y = cl->height / 2;
    for (int i = 0; i < n; i++) {
        x += dx;
        y += dy;
        if (!SendPointerEvent(cl, x, y, 0) || pump(cl, 20) < 0)
            return fprintf(stderr, "vnctool: connection lost\n"), 1;
    }
    return 0;
}

static int click(rfbClient *cl, int x, int y)
{
    for (int i = 0; i < 1000 && frames == 0; i++) /* the screen size comes with the first update */
        if (pump(cl, 10) < 0)
            return fprintf(stderr, "vnctool: connection lost\n"), 1;
    x = x < 0 ? cl->width + x : x;
    y = y < 0 ? cl->height + y : y;
    if (!SendPointerEvent(cl, x, y, 1) || pump(cl, 50) < 0 || !SendPointerEvent(cl, x, y, 0) ||
        pump(cl, 50) < 0)
        return fprintf(stderr, "vnctool: connection lost\n"), 1;
    printf("click %d %d of %dx%d\n", x, y, cl->width, cl->height);
    return 0;
}

/* IMAGE (PNG or binary PPM) as 0xRRGGBB pixels into *PX (malloc'd), size *W x *H. Returns 0 or
 * -1 with one line on stderr. */
static int load_image(const char *path, uint32_t **px, int *w, int *h)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return perror(path), -1;
    unsigned char sig[8] = {0};
    size_t n = fread(sig, 1, 8, f);
    rewind(f);
    int rc = -1;
    if (n == 8 && !png_sig_cmp(sig, 0, 8)) {
        png_image img = {.version = PNG_IMAGE_VERSION};
        if (png_image_begin_read_from_stdio(&img, f)) {
            img.format = PNG_FORMAT_RGB;
            unsigned char *rgb = malloc(PNG_IMAGE_SIZE(img));
            if (rgb && png_image_finish_read(&img, NULL, rgb, 0, NULL)) {
                *w = (int)img.width;
                *h = (int)img.height;
                *px = malloc(sizeof(uint32_t) * img.width * img.height);
                for (size_t i = 0; *px && i < (size_t)img.width * img.height; i++)
                    (*px)[i] = (uint32_t)rgb[3 * i] << 16 | rgb[3 * i + 1] << 8 | rgb[3 * i + 2];
                rc = *px ? 0 : -1;
            }
            free(rgb);
        }
        if (rc)
            fprintf(stderr, "vnctool: %s: %s\n", path, img.message);
        png_image_free(&img);
    } else {
        int maxval;
        if (fscanf(f, "P6 %d %d %d", w, h, &maxval) == 3 && maxval == 255 && fgetc(f) != EOF &&
            *w > 0 && *h > 0 && *w <= 16384 && *h <= 16384) {
            *px = malloc(sizeof(uint32_t) * *w * *h);
            unsigned char rgb[3];
            rc = *px ? 0 : -1;
            for (int i = 0; !rc && i < *w * *h; i++) {
                if (fread(rgb, 1, 3, f) != 3)
                    rc = -1;
                else
                    (*px)[i] = (uint32_t)rgb[0] << 16 | rgb[1] << 8 | rgb[2];
            }
        }
        if (rc)
            fprintf(stderr, "vnctool: %s: not a PNG or a binary PPM image\n", path);
    }
    fclose(f);
    return rc;
}

static int stat_region(char **argv)
{
    uint32_t *px = NULL;
    int w, h;
    if (load_image(argv[2], &px, &w, &h) < 0)
        return 1;
    int x = atoi(argv[3]), y = atoi(argv[4]), rw = atoi(argv[5]), rh = atoi(argv[6]);
    x = x < 0 ? w + x : x;
    y = y < 0 ? h + y : y;
    rw = rw <= 0 ? w - x : rw;
    rh = rh <= 0 ? h - y : rh;
    if (x < 0 || y < 0 || x + rw > w || y + rh > h || rw <= 0 || rh <= 0) {
        free(px);
        return fprintf(stderr, "vnctool: region outside the %dx%d image\n", w, h), 1;
    }
    /* the most common colour: a small open-addressing count table */
    enum { SLOTS = 1 << 16 };
    uint32_t *key = calloc(SLOTS, sizeof(uint32_t)), *cnt = calloc(SLOTS, sizeof(uint32_t));
    uint32_t best = 0, bestn = 0, used = 0;
    for (int j = y; key && cnt && j < y + rh; j++)
        for (int i = x; i < x + rw; i++) {
            uint32_t c = px[(size_t)j * w + i], k = (c * 2654435761u) >> 16;
            while (cnt[k] && key[k] != c)
                k = (k + 1) % SLOTS; /* ends: the table is never full (below) */
            if (!cnt[k] && used == SLOTS / 2)
                continue; /* too many colours: the rare ones are not counted */
            used += !cnt[k];
            key[k] = c;
            if (++cnt[k] > bestn) {
                bestn = cnt[k];
                best = c;
            }
        }
    printf("%dx%d %06x %u %d\n", w, h, best, bestn, rw * rh);
    free(key);
    free(cnt);
    free(px);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 7 && !strcmp(argv[1], "stat"))
        return stat_region(argv);
    int a = 2;
    if (argc > 3 && !strcmp(argv[2], "-p")) {
        password = argv[3];
        a = 4;
    }
    if (argc < a + 2) {
        fprintf(stderr, "usage: vnctool ADDR [-p PASSWORD] snap OUT | type TEXT | move DX DY N | "
                        "click X Y\n");
        return 2;
    }
    if (!getenv("VNCTOOL_DEBUG"))
        rfbClientLog = rfbClientErr = quiet;
    rfbClient *cl = rfbGetClient(8, 3, 4);
    char *host = strdup(argv[1]), *colon = strrchr(host, ':');
    cl->serverPort = 0;
    if (colon && host[0] != '/') {
        *colon = '\0';
        cl->serverPort = atoi(colon + 1);
    }
    cl->serverHost = host;
    cl->GetPassword = get_password;
    cl->FinishedFrameBufferUpdate = frame_done;
    cl->GotFrameBufferUpdate = got_pixels;
    cl->canHandleNewFBSize = TRUE;
    if (!rfbInitClient(cl, NULL, NULL)) /* frees CL on failure */
        return fprintf(stderr, "vnctool: cannot connect to %s\n", argv[1]), 1;
    int rc = 1;
    if (!strcmp(argv[a], "snap"))
        rc = snap(cl, argv[a + 1]);
    else if (!strcmp(argv[a], "type"))
        rc = type(cl, argv[a + 1]);
    else if (!strcmp(argv[a], "click") && argc > a + 2)
        rc = click(cl, atoi(argv[a + 1]), atoi(argv[a + 2]));
    else if (!strcmp(argv[a], "move") && argc > a + 3)
        rc = move(cl, atoi(argv[a + 1]), atoi(argv[a + 2]), atoi(argv[a + 3]));
    else
        fprintf(stderr, "vnctool: unknown command %s\n", argv[a]);
    rfbClientCleanup(cl);
    return rc;
}
