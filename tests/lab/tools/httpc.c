/* httpc.c — lab helper: a tiny HTTP/1.1 client (static; a guest carries it for the MMDS scenario,
 * where busybox wget cannot PUT or send headers).
 *   httpc [-X METHOD] [-H 'Name: value']... [-t SECONDS] http://IPV4[:PORT]/PATH
 * Prints the status code on the first line, then the body exactly; exits 0 when a response came,
 * 1 (with one line on stderr) when none did within SECONDS (default 10). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HEADERS 8
#define MAX_RESP    (1 << 20)

static int die(const char *what)
{
    fprintf(stderr, "httpc: %s\n", what);
    return 1;
}

int main(int argc, char **argv)
{
    const char *method = "GET", *hdr[MAX_HEADERS];
    int nh = 0, opt, secs = 10;
    while ((opt = getopt(argc, argv, "X:H:t:")) != -1) {
        if (opt == 'X')
            method = optarg;
        else if (opt == 'H' && nh < MAX_HEADERS)
            hdr[nh++] = optarg;
        else if (opt == 't')
            secs = atoi(optarg);
        else
            return die("usage: httpc [-X METHOD] [-H 'Name: value']... [-t S] http://IP[:PORT]/P");
    }
    if (optind != argc - 1 || strncmp(argv[optind], "http://", 7))
        return die("one http:// URL expected");
    char host[64];
    const char *u = argv[optind] + 7, *path = strchr(u, '/');
    size_t hl = path ? (size_t)(path - u) : strlen(u);
    if (hl >= sizeof(host))
        return die("host too long");
    memcpy(host, u, hl);
    host[hl] = 0;
    int port = 80;
    char *colon = strchr(host, ':');
    if (colon) {
        *colon = 0;
        port = atoi(colon + 1);
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return die("the host must be an IPv4 address");
    alarm((unsigned)secs); /* SIGALRM ends a hung exchange */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return die("connect failed");
    char req[2048];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n",
                     method, path ? path : "/", host);
    for (int i = 0; i < nh && n < (int)sizeof(req); i++)
        n += snprintf(req + n, sizeof(req) - (size_t)n, "%s\r\n", hdr[i]);
    if (n + 3 > (int)sizeof(req))
        return die("request too long");
    n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
    if (write(s, req, (size_t)n) != n)
        return die("write failed");
    static char resp[MAX_RESP + 1];
    size_t got = 0;
    ssize_t r;
    while (got < MAX_RESP && (r = read(s, resp + got, MAX_RESP - got)) > 0)
        got += (size_t)r;
    resp[got] = 0;
    char *body = strstr(resp, "\r\n\r\n");
    if (got < 12 || strncmp(resp, "HTTP/1.", 7) || !body)
        return die("no HTTP response");
    printf("%d\n", atoi(resp + 9));
    body += 4;
    fwrite(body, 1, got - (size_t)(body - resp), stdout);
    return 0;
}
