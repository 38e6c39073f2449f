/* evloop.c — epoll event loop run by one I/O thread; safe add/del from any thread. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/util.h"

struct ev_entry {
    int fd;
    evloop_cb cb;
    void *opaque;
    bool dead;
    struct ev_entry *next; /* live list, or the graveyard */
};

struct ev_call {
    void (*fn)(void *);
    void *opaque;
    struct ev_call *next;
};

struct evloop {
    int epfd;
    int wakefd;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct ev_entry *live;
    struct ev_entry *grave; /* deleted, freed at the end of the current iteration */
    struct ev_call *calls, **calls_tail;
    bool stop;
    bool running;
    pthread_t thread;
    uint64_t iter; /* completed dispatch iterations */
    bool in_dispatch;
};

struct evloop *evloop_new(void)
{
    struct evloop *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->epfd < 0 || l->wakefd < 0)
        goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) < 0)
        goto fail;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->cond, NULL);
    l->calls_tail = &l->calls;
    return l;
fail:
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->wakefd >= 0)
        close(l->wakefd);
    free(l);
    return NULL;
}

static void free_list(struct ev_entry *e)
{
    while (e) {
        struct ev_entry *n = e->next;
        free(e);
        e = n;
    }
}

void evloop_free(struct evloop *l)
{
    if (!l)
        return;
    free_list(l->live);
    free_list(l->grave);
    for (struct ev_call *c = l->calls, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    close(l->epfd);
    close(l->wakefd);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->cond);
    free(l);
}

static void wake(struct evloop *l)
{
    uint64_t one = 1;
    if (write(l->wakefd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is saturated, the loop is awake anyway */
    }
}

int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_cb cb, void *opaque)
{
    struct ev_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->fd = fd;
    e->cb = cb;
    e->opaque = opaque;
    struct epoll_event ev = {.events = events, .data.ptr = e};
    pthread_mutex_lock(&l->lock);
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int rc = -errno;
        pthread_mutex_unlock(&l->lock);
        free(e);
        return rc;
    }
    e->next = l->live;
    l->live = e;
    pthread_mutex_unlock(&l->lock);
    return 0;
}

static struct ev_entry *find_live(struct evloop *l, int fd, struct ev_entry ***link)
{
    for (struct ev_entry **pp = &l->live; *pp; pp = &(*pp)->next) {
        if ((*pp)->fd == fd) {
            if (link)
                *link = pp;
            return *pp;
        }
    }
    return NULL;
}

int evloop_mod(struct evloop *l, int fd, uint32_t events)
{
    pthread_mutex_lock(&l->lock);
    struct ev_entry *e = find_live(l, fd, NULL);
    int rc = -ENOENT;
    if (e) {
        struct epoll_event ev = {.events = events, .data.ptr = e};
        rc = epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
    }
    pthread_mutex_unlock(&l->lock);
    return rc;
}

int evloop_del(struct evloop *l, int fd)
{
    struct ev_entry **link;
    pthread_mutex_lock(&l->lock);
    struct ev_entry *e = find_live(l, fd, &link);
    if (!e) {
        pthread_mutex_unlock(&l->lock);
        return -ENOENT;
    }
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    *link = e->next;
    e->dead = true;
    e->next = l->grave;
    l->grave = e;
    /* From another thread: wait until the iteration that may be running e->cb is over. */
    if (l->running && !pthread_equal(pthread_self(), l->thread) && l->in_dispatch) {
        uint64_t it = l->iter;
        while (l->running && l->in_dispatch && l->iter == it)
            pthread_cond_wait(&l->cond, &l->lock);
    }
    pthread_mutex_unlock(&l->lock);
    return 0;
}

int evloop_call(struct evloop *l, void (*fn)(void *), void *opaque)
{
    struct ev_call *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->fn = fn;
    c->opaque = opaque;
    pthread_mutex_lock(&l->lock);
    *l->calls_tail = c;
    l->calls_tail = &c->next;
    pthread_mutex_unlock(&l->lock);
    wake(l);
    return 0;
}

void evloop_stop(struct evloop *l)
{
    pthread_mutex_lock(&l->lock);
    l->stop = true;
    pthread_mutex_unlock(&l->lock);
    wake(l);
}

static void run_calls(struct evloop *l)
{
    uint64_t v;
    if (read(l->wakefd, &v, sizeof(v)) < 0) {
        /* EAGAIN: nothing pending */
    }
    pthread_mutex_lock(&l->lock);
    struct ev_call *c = l->calls;
    l->calls = NULL;
    l->calls_tail = &l->calls;
    pthread_mutex_unlock(&l->lock);
    while (c) {
        struct ev_call *n = c->next;
        c->fn(c->opaque);
        free(c);
        c = n;
    }
}

int evloop_run(struct evloop *l)
{
    struct epoll_event evs[32];
    pthread_mutex_lock(&l->lock);
    l->thread = pthread_self();
    l->running = true;
    pthread_mutex_unlock(&l->lock);
    int rc = 0;
    for (;;) {
        pthread_mutex_lock(&l->lock);
        bool stop = l->stop;
        pthread_mutex_unlock(&l->lock);
        if (stop)
            break;
        int n = epoll_wait(l->epfd, evs, ARRAY_SIZE(evs), -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        pthread_mutex_lock(&l->lock);
        l->in_dispatch = true;
        pthread_mutex_unlock(&l->lock);
        for (int i = 0; i < n; i++) {
            struct ev_entry *e = evs[i].data.ptr;
            if (!e) {
                run_calls(l);
                continue;
            }
            pthread_mutex_lock(&l->lock);
            bool dead = e->dead;
            pthread_mutex_unlock(&l->lock);
            if (!dead)
                e->cb(e->opaque, evs[i].events);
        }
        pthread_mutex_lock(&l->lock);
        l->in_dispatch = false;
        l->iter++;
        struct ev_entry *grave = l->grave;
        l->grave = NULL;
        pthread_cond_broadcast(&l->cond);
        pthread_mutex_unlock(&l->lock);
        free_list(grave);
    }
    pthread_mutex_lock(&l->lock);
    l->running = false;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->lock);
    return rc;
}
