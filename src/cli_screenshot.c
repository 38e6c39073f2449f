/* cli_screenshot.c — `truce screenshot --api-sock S -o F.png`: the screen of a running VM, through
 * its API (GET /display/screenshot). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "util/util.h"
#include "vm/vm.h"

#define SHOT_MAX (64u << 20) /* a response larger than this is not a screenshot */

/* Read the whole response from FD into a malloc'd buffer. Returns its length or -errno. */
static ssize_t read_response(int fd, char **out)
{
    size_t len = 0, cap = 65536;
    char *buf = malloc(cap + 1);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (len == cap) {
            char *n = cap < SHOT_MAX ? realloc(buf, 2 * cap + 1) : NULL;
            if (!n) {
                free(buf);
                return -EFBIG;
            }
            buf = n;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            return -e;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    *out = buf;
    return (ssize_t)len;
}

/* Ask SOCK for the screenshot; on success BODY and BLEN point into RESP (freed by the caller). */
static int fetch(const char *sock, char **resp, const char **body, size_t *blen, char *err,
                 size_t errlen)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(sock) >= sizeof(a.sun_path))
        return snprintf(err, errlen, "--api-sock: path too long"), -EINVAL;
    strcpy(a.sun_path, sock);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        snprintf(err, errlen, "--api-sock %s: %s", sock, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -EIO;
    }
    static const char req[] = "GET /display/screenshot HTTP/1.1\r\nHost: localhost\r\n"
                              "Connection: close\r\n\r\n";
    ssize_t n = write(fd, req, sizeof(req) - 1) == (ssize_t)sizeof(req) - 1
                    ? read_response(fd, resp)
                    : -errno;
    close(fd);
    if (n < 0)
        return snprintf(err, errlen, "%s: %s", sock, strerror((int)-n)), -EIO;
    char *end = strstr(*resp, "\r\n\r\n");
    int status = 0;
    if (!end || sscanf(*resp, "HTTP/1.1 %d", &status) != 1)
        return snprintf(err, errlen, "%s: not an HTTP response", sock), -EIO;
    *body = end + 4;
    *blen = (size_t)n - (size_t)(*body - *resp);
    if (status != 200) {
        const char *m = strstr(*body, "\"fault_message\":\"");
        snprintf(err, errlen, "the API refused: %d %.*s", status,
                 m ? (int)strcspn(m + 17, "\"") : 0, m ? m + 17 : "");
        return -EINVAL;
    }
    if (*blen < 8 || memcmp(*body, "\x89PNG\r\n\x1a\n", 8))
        return snprintf(err, errlen, "%s: the answer is not a PNG", sock), -EIO;
    return 0;
}

/* Write LEN bytes to PATH through a temporary file renamed into place. */
static int write_out(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid()) >= (int)sizeof(tmp))
        return snprintf(err, errlen, "-o: path too long"), -EINVAL;
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return snprintf(err, errlen, "-o %s: %s", path, strerror(errno)), -errno;
    bool ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return snprintf(err, errlen, "-o %s: %s", path, strerror(e)), -e;
    }
    return 0;
}

int cli_screenshot_main(int argc, char **argv)
{
    static const struct option opts[] = {{"api-sock", required_argument, 0, 's'},
                                         {"output", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *sock = NULL, *out = NULL;
    optind = 1;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1;) {
        if (c == 's')
            sock = optarg;
        else if (c == 'o')
            out = optarg;
        else if (c == 'h') {
            printf("usage: truce screenshot --api-sock PATH -o FILE.png\n");
            return 0;
        } else {
            fprintf(stderr, "truce: screenshot: %s: unknown option or missing value\n",
                    argv[optind - 1]);
            return TRUCE_EXIT_USAGE;
        }
    }
    if (!sock || !out || optind < argc) {
        fprintf(stderr, "truce: screenshot: usage: truce screenshot --api-sock PATH -o FILE.png\n");
        return TRUCE_EXIT_USAGE;
    }
    char err[512], *resp = NULL;
    const char *body;
    size_t blen;
    int rc = fetch(sock, &resp, &body, &blen, err, sizeof(err));
    if (!rc)
        rc = write_out(out, body, blen, err, sizeof(err));
    free(resp);
    if (rc) {
        fprintf(stderr, "truce: screenshot: %s\n", err);
        return rc == -EINVAL ? TRUCE_EXIT_USAGE : 1;
    }
    return 0;
}
