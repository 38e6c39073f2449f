/* truced.c — the manager of many VMs on one host: options, start-up, re-adoption, signals. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manager/mgr.h"
#include "manager/server.h"

struct mgr *g_mgr;

static const char USAGE[] =
    "usage: truced [--sock PATH] [--state-dir DIR] [--truce PATH] [--overcommit-ratio R]\n"
    "              [--listen HOST:PORT --token-file FILE] [--cgroup-parent NAME]\n"
    "              [--jail-uid U --jail-gid G] [--web-root DIR]\n"
    "  --sock PATH         the API's UNIX socket (default /run/truced.sock)\n"
    "  --state-dir DIR     database, definitions, API sockets, logs (default /var/lib/truced)\n"
    "  --truce PATH        the truce binary (default: truce next to truced)\n"
    "  --overcommit-ratio R  admission: guest memory <= R x host memory (default 1.5;\n"
    "                      --overcommit is the same)\n"
    "  --listen HOST:PORT  also serve TCP; requires --token-file (bearer token)\n"
    "  --cgroup-parent N   the cgroup v2 parent for the VMs (default truced)\n"
    "  --jail-uid U --jail-gid G   run every VM under `truce jail` as U:G (root only)\n"
    "  --web-root DIR      serve the web console's files from DIR (e.g. share/truce/web)\n";

static uint64_t host_mem_mib(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    unsigned long long kb = 0;
    char line[128];
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "MemTotal: %llu", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb / 1024;
}

static int read_token(const char *path, char *out, size_t n)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    if (!fgets(out, n, f))
        out[0] = 0;
    fclose(f);
    out[strcspn(out, "\r\n")] = 0;
    return strlen(out) >= 16 ? 0 : -EINVAL;
}

static volatile sig_atomic_t quit;
static void on_signal(int sig)
{
    (void)sig;
    quit = 1;
}

int main(int argc, char **argv)
{
    static struct mgr m = {
        .overcommit = 1.5, .jail_uid = -1, .jail_gid = -1, .lock = PTHREAD_MUTEX_INITIALIZER};
    const char *sock = "/run/truced.sock", *listen_at = NULL, *token_file = NULL;
    const char *cg_name = "truced";
    static char token[256];
    snprintf(m.state_dir, sizeof(m.state_dir), "/var/lib/truced");
    crash_init();
    char self[PATH_MAX];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[sl > 0 ? sl : 0] = 0;
    char *slash = strrchr(self, '/');
    snprintf(m.truce, sizeof(m.truce), "%.*s/truce", slash ? (int)(slash - self) : 1,
             slash ? self : ".");
    static const struct option opts[] = {{"sock", 1, 0, 's'},
                                         {"state-dir", 1, 0, 'd'},
                                         {"truce", 1, 0, 't'},
                                         {"overcommit", 1, 0, 'o'},
                                         {"overcommit-ratio", 1, 0, 'o'},
                                         {"listen", 1, 0, 'l'},
                                         {"token-file", 1, 0, 'k'},
                                         {"cgroup-parent", 1, 0, 'c'},
                                         {"help", 0, 0, 'h'},
                                         {"jail-uid", 1, 0, 'u'},
                                         {"jail-gid", 1, 0, 'g'},
                                         {"web-root", 1, 0, 'w'},
                                         {0, 0, 0, 0}};
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            sock = optarg;
            break;
        case 'd':
            snprintf(m.state_dir, sizeof(m.state_dir), "%s", optarg);
            break;
        case 't':
            snprintf(m.truce, sizeof(m.truce), "%s", optarg);
            break;
        case 'o':
            m.overcommit = strtod(optarg, &end);
            if (*end || m.overcommit <= 0 || m.overcommit > 100) {
                fprintf(stderr, "truced: --overcommit-ratio %s: want a ratio in (0, 100]\n",
                        optarg);
                return 2;
            }
            break;
        case 'l':
            listen_at = optarg;
            break;
        case 'k':
            token_file = optarg;
            break;
        case 'c':
            cg_name = optarg;
            break;
        case 'u':
        case 'g': {
            long id = strtol(optarg, &end, 10);
            if (*end || id < 0 || id > 0x7fffffff) {
                fprintf(stderr, "truced: --jail-%cid %s: not a uid/gid number\n", c, optarg);
                return 2;
            }
            *(c == 'u' ? &m.jail_uid : &m.jail_gid) = (int)id;
            break;
        }
        case 'w':
            if (access(optarg, R_OK | X_OK) < 0 || !realpath(optarg, m.web_root)) {
                fprintf(stderr, "truced: --web-root %s: %s\n", optarg, strerror(errno));
                return 2;
            }
            break;
        case 'h':
            fputs(USAGE, stdout);
            return 0;
        default:
            fputs(USAGE, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "truced: unexpected argument '%s'\n%s", argv[optind], USAGE);
        return 2;
    }
    if (listen_at && !token_file) {
        fprintf(stderr,
                "truced: --listen %s needs --token-file: TCP is never served without a "
                "bearer token\n",
                listen_at);
        return 2;
    }
    if ((m.jail_uid >= 0) != (m.jail_gid >= 0) || (m.jail_uid >= 0 && geteuid() != 0)) {
        fprintf(stderr, "truced: --jail-uid and --jail-gid go together, and need root\n");
        return 2;
    }
    int rc;
    if (token_file && (rc = read_token(token_file, token, sizeof(token))) < 0) {
        fprintf(stderr, "truced: --token-file %s: %s\n", token_file,
                rc == -EINVAL ? "the token must be at least 16 characters" : strerror(-rc));
        return 2;
    }
    if (access(m.truce, X_OK) < 0) {
        fprintf(stderr, "truced: --truce %s: %s\n", m.truce, strerror(errno));
        return 2;
    }
    char p[PATH_MAX + 32], err[512];
    snprintf(p, sizeof(p), "%s/vms", m.state_dir);
    if ((mkdir(m.state_dir, 0750) < 0 && errno != EEXIST) ||
        (mkdir(p, 0750) < 0 && errno != EEXIST)) {
        fprintf(stderr, "truced: --state-dir %s: %s\n", m.state_dir, strerror(errno));
        return 2;
    }
    snprintf(p, sizeof(p), "%s/truced.db", m.state_dir);
    if (db_open(p, &m.db, err, sizeof(err)) < 0) {
        fprintf(stderr, "truced: database %s\n", err);
        return 4;
    }
    m.host_mem_mib = host_mem_mib();
    cg_setup(&m, cg_name);
    g_mgr = &m;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_t mon;
    pthread_create(&mon, NULL, vm_monitor, &m);
    vm_adopt_all(&m);
    if (server_unix(&m, sock, err, sizeof(err)) < 0 ||
        (listen_at && server_tcp(&m, listen_at, token, err, sizeof(err)) < 0)) {
        fprintf(stderr, "truced: %s\n", err);
        return 2;
    }
    fprintf(stderr,
            "truced: serving %s%s%s; state in %s; cgroup %s%s; host memory %llu MiB x %.2f\n", sock,
            listen_at ? " and tcp " : "", listen_at ? listen_at : "", m.state_dir,
            m.cg_parent[0] ? m.cg_parent : "none: ", m.cg_parent[0] ? "" : m.cg_why,
            (unsigned long long)m.host_mem_mib, m.overcommit);
    while (!quit)
        pause();
    /* The VMs keep running: a new truced re-adopts them. */
    fprintf(stderr, "truced: stopping; the VMs keep running\n");
    unlink(sock);
    return 0;
}
