/* jail.c — `truce jail` flags (Firecracker jailer's), their validation, the jail's paths and argv.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "sandbox/jail.h"
#include "util/util.h"

enum {
    OPT_ID = 256,
    OPT_EXEC_FILE,
    OPT_UID,
    OPT_GID,
    OPT_CHROOT_BASE,
    OPT_NETNS,
    OPT_DAEMONIZE,
    OPT_NEW_PID_NS,
    OPT_CGROUP_VERSION,
    OPT_CGROUP,
    OPT_PARENT_CGROUP,
    OPT_RESOURCE_LIMIT,
    OPT_CLEANUP,
    OPT_HELP,
};

static const struct option jail_opts[] = {
    {"id", required_argument, 0, OPT_ID},
    {"exec-file", required_argument, 0, OPT_EXEC_FILE},
    {"uid", required_argument, 0, OPT_UID},
    {"gid", required_argument, 0, OPT_GID},
    {"chroot-base-dir", required_argument, 0, OPT_CHROOT_BASE},
    {"netns", required_argument, 0, OPT_NETNS},
    {"daemonize", no_argument, 0, OPT_DAEMONIZE},
    {"new-pid-ns", no_argument, 0, OPT_NEW_PID_NS},
    {"cgroup-version", required_argument, 0, OPT_CGROUP_VERSION},
    {"cgroup", required_argument, 0, OPT_CGROUP},
    {"parent-cgroup", required_argument, 0, OPT_PARENT_CGROUP},
    {"resource-limit", required_argument, 0, OPT_RESOURCE_LIMIT},
    {"cleanup", no_argument, 0, OPT_CLEANUP},
    {"help", no_argument, 0, OPT_HELP},
    {0, 0, 0, 0},
};

static void jail_usage(FILE *out)
{
    fprintf(out,
            "usage: truce jail --id ID --exec-file PATH --uid UID --gid GID [options] [-- ARGS]\n"
            "       truce jail --cleanup --id ID --exec-file PATH [--chroot-base-dir DIR]\n"
            "                  [--parent-cgroup PATH]\n"
            "Builds <chroot-base-dir>/<exec-file name>/<ID>/root as Firecracker's jailer does,\n"
            "enters it and execs the binary there as UID:GID with no capabilities.\n"
            "  --id ID                 letters, digits and '-', 1 to %d characters\n"
            "  --exec-file PATH        the binary to run (copied into the jail)\n"
            "  --uid UID, --gid GID    numeric ids the binary runs as\n"
            "  --chroot-base-dir DIR   absolute (default %s)\n"
            "  --netns PATH            network namespace to join (e.g. /var/run/netns/NAME)\n"
            "  --daemonize             setsid, standard I/O to /dev/null\n"
            "  --new-pid-ns            run the binary as pid 1 of a new pid namespace\n"
            "  --cgroup-version 2      only cgroup v2 is supported\n"
            "  --cgroup FILE=VALUE     cgroup v2 file to write, e.g. memory.max=256M (repeat)\n"
            "  --parent-cgroup PATH    relative parent of the VM's cgroup (default exec name)\n"
            "  --resource-limit R=N    fsize=BYTES, no-file=N (default %d); comma lists or repeat\n"
            "  --cleanup               remove the jail directory and the cgroup, run nothing\n"
            "Arguments after `--` go to the binary, after --id=ID (and, for `run`, after it).\n",
            JAIL_ID_MAX, JAIL_DEFAULT_BASE, JAIL_DEFAULT_NOFILE);
}

#define FAIL(...) return snprintf(err, errlen, __VA_ARGS__), -EINVAL

static bool id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > JAIL_ID_MAX)
        return false;
    for (const char *p = id; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-')
            return false;
    return true;
}

/* A relative cgroup path: components of [A-Za-z0-9._-], none "." or "..", no empty ones. */
static bool cgroup_rel_valid(const char *s)
{
    if (!*s || *s == '/' || strlen(s) >= PATH_MAX / 2)
        return false;
    const char *c = s;
    while (*c) {
        size_t n = strcspn(c, "/");
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!isalnum((unsigned char)c[i]) && !strchr("._-", c[i]))
                return false;
        c += n;
        if (*c == '/')
            c++;
        if (!*c && c[-1] == '/')
            return false;
    }
    return true;
}

static int parse_cgroup(struct jail_config *jc, const char *arg, char *err, size_t errlen)
{
    const char *eq = strchr(arg, '=');
    if (jc->n_cgroups >= JAIL_MAX_CGROUPS)
        FAIL("--cgroup: more than %d given", JAIL_MAX_CGROUPS);
    if (!eq || eq == arg)
        FAIL("--cgroup: '%s' is not FILE=VALUE (e.g. memory.max=256M)", arg);
    struct jail_cgroup_kv *kv = &jc->cgroups[jc->n_cgroups];
    size_t klen = eq - arg;
    const char *dot = memchr(arg, '.', klen);
    if (klen >= sizeof(kv->key) || !dot || dot == arg || dot == eq - 1)
        FAIL("--cgroup: '%.*s' is not a cgroup file name CONTROLLER.FILE", (int)klen, arg);
    for (size_t i = 0; i < klen; i++)
        if (!isalnum((unsigned char)arg[i]) && !strchr("._", arg[i]))
            FAIL("--cgroup: '%.*s' is not a cgroup file name CONTROLLER.FILE", (int)klen, arg);
    if (!strncmp(arg, "cgroup.procs", klen) || !strncmp(arg, "cgroup.threads", klen) ||
        !strncmp(arg, "cgroup.subtree_control", klen))
        FAIL("--cgroup: %.*s is managed by the jail itself", (int)klen, arg);
    if (!eq[1] || strlen(eq + 1) >= sizeof(kv->value) || strchr(eq + 1, '\n'))
        FAIL("--cgroup: %.*s: empty or too long value", (int)klen, arg);
    memcpy(kv->key, arg, klen);
    kv->key[klen] = 0;
    strcpy(kv->value, eq + 1);
    jc->n_cgroups++;
    return 0;
}

/* "fsize=N,no-file=N" (either, in any order, comma separated; the flag may repeat). */
static int parse_rlimits(struct jail_config *jc, const char *arg, char *err, size_t errlen)
{
    char buf[256];
    if (str_copy(buf, sizeof(buf), arg))
        FAIL("--resource-limit: too long");
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        uint64_t v;
        if (!eq)
            FAIL("--resource-limit: '%s' is not RESOURCE=VALUE (fsize=, no-file=)", tok);
        *eq = 0;
        if (parse_uint(eq + 1, 0, UINT64_MAX - 1, &v))
            FAIL("--resource-limit: %s: '%s' is not a number", tok, eq + 1);
        if (!strcmp(tok, "fsize")) {
            jc->fsize = v;
            jc->fsize_set = true;
        } else if (!strcmp(tok, "no-file")) {
            if (v < 4 || v > (1u << 20))
                FAIL("--resource-limit: no-file=%s: must be 4 to %u", eq + 1, 1u << 20);
            jc->nofile = v;
        } else {
            FAIL("--resource-limit: unknown resource '%s' (fsize, no-file)", tok);
        }
    }
    return 0;
}

static int parse_id_num(const char *flag, const char *arg, uint32_t *out, char *err, size_t errlen)
{
    uint64_t v;
    if (parse_uint(arg, 0, UINT32_MAX - 1, &v))
        FAIL("--%s: '%s' is not a number from 0 to %u", flag, arg, UINT32_MAX - 1);
    *out = v;
    return 0;
}

static int parse_one(struct jail_config *jc, int opt, const char *arg, char *err, size_t errlen)
{
    uint64_t v;
    switch (opt) {
    case OPT_ID:
        if (!id_valid(arg))
            FAIL("--id: '%s': letters, digits and '-' only, 1 to %d characters", arg, JAIL_ID_MAX);
        strcpy(jc->id, arg);
        return 0;
    case OPT_EXEC_FILE:
        if (str_copy(jc->exec_file, sizeof(jc->exec_file), arg))
            FAIL("--exec-file: path too long");
        return 0;
    case OPT_UID:
        return parse_id_num("uid", arg, &jc->uid, err, errlen);
    case OPT_GID:
        return parse_id_num("gid", arg, &jc->gid, err, errlen);
    case OPT_CHROOT_BASE:
        if (arg[0] != '/' || str_copy(jc->chroot_base, sizeof(jc->chroot_base) - 200, arg))
            FAIL("--chroot-base-dir: '%s' is not an absolute path (or is too long)", arg);
        return 0;
    case OPT_NETNS:
        if (str_copy(jc->netns, sizeof(jc->netns), arg))
            FAIL("--netns: path too long");
        return 0;
    case OPT_DAEMONIZE:
        jc->daemonize = true;
        return 0;
    case OPT_NEW_PID_NS:
        jc->new_pid_ns = true;
        return 0;
    case OPT_CLEANUP:
        jc->cleanup = true;
        return 0;
    case OPT_CGROUP_VERSION:
        if (parse_uint(arg, 1, 2, &v) || v != 2)
            FAIL("--cgroup-version: '%s': only 2 (cgroup v2) is supported", arg);
        jc->cgroup_version = v;
        return 0;
    case OPT_CGROUP:
        return parse_cgroup(jc, arg, err, errlen);
    case OPT_PARENT_CGROUP:
        if (!cgroup_rel_valid(arg))
            FAIL("--parent-cgroup: '%s' is not a relative cgroup path (no '..', no leading /)",
                 arg);
        strcpy(jc->parent_cgroup, arg);
        return 0;
    case OPT_RESOURCE_LIMIT:
        return parse_rlimits(jc, arg, err, errlen);
    }
    return -EINVAL;
}

/* The checks that need every flag (and the file system). */
static int validate(struct jail_config *jc, bool seen_uid, bool seen_gid, char *err, size_t errlen)
{
    struct stat st;
    if (!jc->id[0])
        FAIL("--id: required");
    if (!jc->exec_file[0])
        FAIL("--exec-file: required");
    if (stat(jc->exec_file, &st) < 0)
        FAIL("--exec-file: %s: %s", jc->exec_file, strerror(errno));
    if (!S_ISREG(st.st_mode))
        FAIL("--exec-file: %s: not a regular file", jc->exec_file);
    const char *slash = strrchr(jc->exec_file, '/');
    const char *name = slash ? slash + 1 : jc->exec_file;
    if (!*name || str_copy(jc->exec_name, sizeof(jc->exec_name), name) || !cgroup_rel_valid(name))
        FAIL("--exec-file: %s: its file name must be of letters, digits, '.', '_', '-'",
             jc->exec_file);
    if (jc->cleanup)
        return 0;
    if (!(st.st_mode & 0111))
        FAIL("--exec-file: %s: not executable", jc->exec_file);
    if (!seen_uid)
        FAIL("--uid: required");
    if (!seen_gid)
        FAIL("--gid: required");
    if (jc->netns[0]) {
        if (stat(jc->netns, &st) < 0)
            FAIL("--netns: %s: %s", jc->netns, strerror(errno));
        if (S_ISDIR(st.st_mode))
            FAIL("--netns: %s: a directory, not a network namespace file", jc->netns);
    }
    return 0;
}

int jail_parse(int argc, char **argv, struct jail_config *jc, char *err, size_t errlen)
{
    bool seen_uid = false, seen_gid = false;
    memset(jc, 0, sizeof(*jc));
    strcpy(jc->chroot_base, JAIL_DEFAULT_BASE);
    jc->cgroup_version = 2;
    jc->nofile = JAIL_DEFAULT_NOFILE;
    optind = 1;
    opterr = 0;
    for (;;) {
        int prev = optind;
        int opt = getopt_long(argc, argv, "+", jail_opts, NULL);
        if (opt == -1)
            break;
        if (opt == OPT_HELP)
            return 1;
        if (opt == '?' || opt == ':') {
            const char *bad = prev < argc ? argv[prev] : "?";
            if (optopt)
                FAIL("%s: missing value", bad);
            FAIL("%s: unknown option (see truce jail --help)", bad);
        }
        seen_uid |= opt == OPT_UID;
        seen_gid |= opt == OPT_GID;
        int rc = parse_one(jc, opt, optarg, err, errlen);
        if (rc)
            return rc;
    }
    /* getopt stops at `--` (consumed) or at the first non-option */
    if (optind < argc && strcmp(argv[optind - 1], "--"))
        FAIL("%s: unexpected argument (arguments for the binary go after --)", argv[optind]);
    jc->exec_argc = argc - optind;
    jc->exec_argv = argv + optind;
    return validate(jc, seen_uid, seen_gid, err, errlen);
}

int jail_dir_path(const struct jail_config *jc, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s/%s/%s", jc->chroot_base, jc->exec_name, jc->id);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

int jail_root_path(const struct jail_config *jc, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s/%s/%s/root", jc->chroot_base, jc->exec_name, jc->id);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

int jail_cgroup_path(const struct jail_config *jc, const char *mount, char *out, size_t outlen)
{
    const char *parent = jc->parent_cgroup[0] ? jc->parent_cgroup : jc->exec_name;
    int n = snprintf(out, outlen, "%s/%s/%s", mount, parent, jc->id);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static uint64_t clock_us(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char **jail_exec_argv(const struct jail_config *jc, char times[2][24])
{
    static char path[NAME_MAX + 2], idarg[JAIL_ID_MAX + 8];
    char **v = calloc(jc->exec_argc + 6, sizeof(*v));
    int n = 0, i = 0;
    if (!v)
        return NULL;
    snprintf(path, sizeof(path), "/%s", jc->exec_name);
    snprintf(idarg, sizeof(idarg), "--id=%s", jc->id);
    snprintf(times[0], 24, "%llu", (unsigned long long)clock_us(CLOCK_MONOTONIC));
    snprintf(times[1], 24, "%llu", (unsigned long long)clock_us(CLOCK_PROCESS_CPUTIME_ID));
    v[n++] = path;
    if (jc->exec_argc > 0 && !strcmp(jc->exec_argv[0], "run")) {
        v[n++] = jc->exec_argv[i++];
        v[n++] = idarg;
    } else {
        /* Firecracker's convention; truce's API mode takes these flags as Firecracker does */
        static char st[40], ct[48];
        v[n++] = idarg;
        snprintf(st, sizeof(st), "--start-time-us=%s", times[0]);
        snprintf(ct, sizeof(ct), "--start-time-cpu-us=%s", times[1]);
        v[n++] = st;
        v[n++] = ct;
    }
    for (; i < jc->exec_argc; i++)
        v[n++] = jc->exec_argv[i];
    v[n] = NULL;
    return v;
}

int jail_main(int argc, char **argv)
{
    struct jail_config *jc = calloc(1, sizeof(*jc));
    char err[512];
    int status = 2;
    if (!jc)
        return 4;
    int rc = jail_parse(argc, argv, jc, err, sizeof(err));
    if (rc == 1) {
        jail_usage(stdout);
        status = 0;
    } else if (rc) {
        fprintf(stderr, "truce jail: %s\n", err);
    } else {
        status = jc->cleanup ? jail_cleanup(jc) : jail_run(jc);
    }
    free(jc);
    return status;
}
