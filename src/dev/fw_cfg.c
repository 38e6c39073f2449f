/* fw_cfg.c — QEMU-compatible fw_cfg: selector/data ports, bounded DMA, the file directory. */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"
#include "dev/fw_cfg.h"
#include "util/state.h"
#include "util/util.h"
#include "vm/vm.h"

#define FW_CFG_STATE_VERSION 1
#define FW_CFG_MAX_ITEMS     (32 + FW_CFG_MAX_FILES)

struct fw_cfg_item {
    uint16_t key;
    uint32_t len;
    uint8_t *data;
    char name[FW_CFG_NAME_MAX];  /* files only */
    fw_cfg_select_fn *on_select; /* files only: refreshes DATA when the guest selects it */
    void *opaque;
};

/* Guest-visible state: what a snapshot holds (the items are rebuilt from the configuration). */
struct fw_cfg_state {
    uint16_t selector; /* as written, write-channel bit included */
    uint32_t offset;   /* into the selected item */
    uint32_t dma_hi;   /* high half of the DMA address, latched */
};

/* On pages of their own (page_zalloc), filled from the front: the table's unused end and the
 * keys seen (written only when firmware reads fw_cfg) stay unbacked. */
struct fw_cfg {
    struct vm *vm;
    pthread_mutex_t lock; /* state; items are only added before the guest runs */
    struct fw_cfg_state s;
    unsigned nitems;
    uint64_t dma_runs, dma_errors; /* counters, for debug logs */
    struct fw_cfg_item items[FW_CFG_MAX_ITEMS];
    unsigned nseen;
    uint16_t seen[FW_CFG_MAX_ITEMS + 32]; /* keys already logged at debug level */
};

/* Log the first selection of each key at debug level: what firmware reads, and what it asks
 * for that truce does not provide (lock held). */
static void fw_cfg_note_select(struct fw_cfg *f, uint16_t key)
{
    key &= (uint16_t)~FW_CFG_WRITE_CHANNEL;
    for (unsigned i = 0; i < f->nseen; i++)
        if (f->seen[i] == key)
            return;
    if (f->nseen < ARRAY_SIZE(f->seen))
        f->seen[f->nseen++] = key;
    const struct fw_cfg_item *it = NULL;
    for (unsigned i = 0; i < f->nitems; i++)
        if (f->items[i].key == key)
            it = &f->items[i];
    if (!it)
        log_debug("fw_cfg: item 0x%x selected: not provided", key);
    else
        log_debug("fw_cfg: item 0x%x%s%s selected", key, it->name[0] ? " " : "", it->name);
}

/* The item KEY selects (write-channel bit ignored), or NULL. */
static struct fw_cfg_item *fw_cfg_item(struct fw_cfg *f, uint16_t key)
{
    key &= (uint16_t)~FW_CFG_WRITE_CHANNEL;
    for (unsigned i = 0; i < f->nitems; i++)
        if (f->items[i].key == key)
            return &f->items[i];
    return NULL;
}

/* The guest selected KEY: note it, and let a file with a refresh hook update its bytes (lock
 * held). */
static void fw_cfg_selected(struct fw_cfg *f, uint16_t key)
{
    fw_cfg_note_select(f, key);
    struct fw_cfg_item *it = fw_cfg_item(f, key);
    if (it && it->on_select)
        it->on_select(it->opaque, it->name, it->data, it->len);
}

/* Give the files keys FW_CFG_FILE_FIRST.. in name order and rewrite the directory item. */
static int fw_cfg_renumber(struct fw_cfg *f)
{
    struct fw_cfg_item *files[FW_CFG_MAX_FILES];
    unsigned n = 0;
    for (unsigned i = 0; i < f->nitems; i++)
        if (f->items[i].name[0])
            files[n++] = &f->items[i];
    for (unsigned i = 1; i < n; i++) { /* insertion sort by name */
        struct fw_cfg_item *e = files[i];
        unsigned j = i;
        for (; j > 0 && strcmp(files[j - 1]->name, e->name) > 0; j--)
            files[j] = files[j - 1];
        files[j] = e;
    }
    size_t len = 4 + n * sizeof(struct fw_cfg_file);
    uint8_t *dir = calloc(1, len);
    if (!dir)
        return -ENOMEM;
    uint32_t count = htobe32(n);
    memcpy(dir, &count, 4);
    for (unsigned i = 0; i < n; i++) {
        struct fw_cfg_file e = {.size = htobe32(files[i]->len),
                                .select = htobe16((uint16_t)(FW_CFG_FILE_FIRST + i))};
        memcpy(e.name, files[i]->name, FW_CFG_NAME_MAX);
        memcpy(dir + 4 + i * sizeof(e), &e, sizeof(e));
        files[i]->key = (uint16_t)(FW_CFG_FILE_FIRST + i);
    }
    return fw_cfg_add_item_owned(f, FW_CFG_FILE_DIR, dir, len);
}

/* Store DATA (owned) as KEY, or as file NAME when NAME is set. */
static int fw_cfg_put(struct fw_cfg *f, uint16_t key, const char *name, void *data, size_t len)
{
    struct fw_cfg_item *it = NULL;
    if (len > UINT32_MAX) {
        free(data);
        return -EINVAL;
    }
    for (unsigned i = 0; name && i < f->nitems; i++)
        if (!strcmp(f->items[i].name, name))
            it = &f->items[i];
    if (!name)
        it = fw_cfg_item(f, key);
    if (!it) {
        unsigned files = 0;
        for (unsigned i = 0; i < f->nitems; i++)
            files += f->items[i].name[0] != 0;
        if (f->nitems == FW_CFG_MAX_ITEMS || (name && files == FW_CFG_MAX_FILES)) {
            free(data);
            return -ENOSPC;
        }
        it = &f->items[f->nitems++];
        *it = (struct fw_cfg_item){.key = key};
        if (name)
            snprintf(it->name, sizeof(it->name), "%s", name);
    }
    free(it->data);
    it->data = data;
    it->len = (uint32_t)len;
    return name ? fw_cfg_renumber(f) : 0;
}

int fw_cfg_add_item_owned(struct fw_cfg *f, uint16_t key, void *data, size_t len)
{
    if ((key & ~FW_CFG_ARCH_LOCAL) >= FW_CFG_FILE_FIRST || (key & FW_CFG_WRITE_CHANNEL)) {
        free(data);
        return -EINVAL;
    }
    return fw_cfg_put(f, key, NULL, data, len);
}

int fw_cfg_add_file_owned(struct fw_cfg *f, const char *name, void *data, size_t len)
{
    size_t n = strnlen(name, FW_CFG_NAME_MAX);
    if (n == 0 || n >= FW_CFG_NAME_MAX) {
        free(data);
        return -EINVAL;
    }
    return fw_cfg_put(f, 0, name, data, len);
}

/* A malloc'd copy of DATA[0..LEN) (a 1-byte buffer for LEN 0), or NULL. */
static void *dup_bytes(const void *data, size_t len)
{
    void *p = malloc(len ? len : 1);
    if (p && len)
        memcpy(p, data, len);
    return p;
}

int fw_cfg_add_item(struct fw_cfg *f, uint16_t key, const void *data, size_t len)
{
    void *p = dup_bytes(data, len);
    return p ? fw_cfg_add_item_owned(f, key, p, len) : -ENOMEM;
}

int fw_cfg_add_file(struct fw_cfg *f, const char *name, const void *data, size_t len)
{
    void *p = dup_bytes(data, len);
    return p ? fw_cfg_add_file_owned(f, name, p, len) : -ENOMEM;
}

int fw_cfg_file_on_select(struct fw_cfg *f, const char *name, fw_cfg_select_fn *fn, void *opaque)
{
    for (unsigned i = 0; i < f->nitems; i++) {
        if (!strcmp(f->items[i].name, name)) {
            f->items[i].on_select = fn;
            f->items[i].opaque = opaque;
            return 0;
        }
    }
    return -ENOENT;
}

int fw_cfg_add_u16(struct fw_cfg *f, uint16_t key, uint16_t v)
{
    v = htole16(v);
    return fw_cfg_add_item(f, key, &v, sizeof(v));
}

int fw_cfg_add_u32(struct fw_cfg *f, uint16_t key, uint32_t v)
{
    v = htole32(v);
    return fw_cfg_add_item(f, key, &v, sizeof(v));
}

int fw_cfg_add_u64(struct fw_cfg *f, uint16_t key, uint64_t v)
{
    v = htole64(v);
    return fw_cfg_add_item(f, key, &v, sizeof(v));
}

/* ---- the guest interface ------------------------------------------------------------------ */

/* Up to N bytes of the selected item from the current offset into DST (NULL: skip); the rest of
 * N is zero-filled. Returns the item bytes consumed. Lock held. */
static uint32_t fw_cfg_take(struct fw_cfg *f, uint8_t *dst, uint32_t n)
{
    const struct fw_cfg_item *it = fw_cfg_item(f, f->s.selector);
    uint32_t avail = it && f->s.offset < it->len ? it->len - f->s.offset : 0;
    uint32_t got = MIN(avail, n);
    if (dst) {
        if (got)
            memcpy(dst, it->data + f->s.offset, got);
        memset(dst + got, 0, n - got);
    }
    f->s.offset += got;
    return got;
}

/* Run the DMA descriptor at guest address GPA. Lock held. */
static void fw_cfg_dma(struct fw_cfg *f, uint64_t gpa)
{
    struct fw_cfg_dma_access d;
    f->dma_runs++;
    if (guest_mem_read(&f->vm->mem, gpa, &d, sizeof(d)) < 0) {
        f->dma_errors++;
        log_debug("fw_cfg: DMA descriptor at 0x%llx is not in guest RAM", (unsigned long long)gpa);
        return; /* nowhere to report it */
    }
    uint32_t control = be32toh(d.control), len = be32toh(d.length);
    uint64_t addr = be64toh(d.address);
    bool error = false;

    if (control & FW_CFG_DMA_SELECT) {
        f->s.selector = (uint16_t)(control >> 16);
        f->s.offset = 0;
        fw_cfg_selected(f, f->s.selector);
    }
    if (control & FW_CFG_DMA_READ) {
        uint8_t *dst = len ? gpa_to_hva(&f->vm->mem, addr, len) : NULL;
        if (len && !dst)
            error = true;
        else if (len)
            fw_cfg_take(f, dst, len);
    } else if (control & FW_CFG_DMA_WRITE) {
        error = true; /* no item is writable */
    } else if (control & FW_CFG_DMA_SKIP) {
        fw_cfg_take(f, NULL, len);
    }
    if (error) {
        f->dma_errors++;
        log_debug("fw_cfg: DMA control 0x%x, %u bytes at 0x%llx refused", control, len,
                  (unsigned long long)addr);
    }
    uint32_t status = htobe32(error ? FW_CFG_DMA_ERROR : 0);
    guest_mem_write(&f->vm->mem, gpa + offsetof(struct fw_cfg_dma_access, control), &status,
                    sizeof(status));
}

static void fw_cfg_port_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct fw_cfg *f = opaque;
    pthread_mutex_lock(&f->lock);
    if (off == 1) /* data port: one item byte per byte read */
        fw_cfg_take(f, data, size);
    else
        memset(data, 0, size); /* the selector does not read back */
    pthread_mutex_unlock(&f->lock);
}

static void fw_cfg_port_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct fw_cfg *f = opaque;
    if (off != 0 || size != 2)
        return; /* data-port writes are ignored, as on QEMU since 2.4 */
    pthread_mutex_lock(&f->lock);
    f->s.selector = (uint16_t)(data[0] | data[1] << 8);
    f->s.offset = 0;
    fw_cfg_selected(f, f->s.selector);
    pthread_mutex_unlock(&f->lock);
}

static void fw_cfg_dma_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    uint64_t sig = htobe64(FW_CFG_DMA_SIGNATURE);
    for (unsigned i = 0; i < size; i++)
        data[i] = off + i < sizeof(sig) ? ((uint8_t *)&sig)[off + i] : 0xff;
}

/* 32-bit writes: the high half at offset 0, the low half at 4 starts the transfer. */
static void fw_cfg_dma_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct fw_cfg *f = opaque;
    uint32_t v;
    if (size != 4 || (off != 0 && off != 4))
        return;
    memcpy(&v, data, 4);
    v = be32toh(v);
    pthread_mutex_lock(&f->lock);
    if (off == 0)
        f->s.dma_hi = v;
    else
        fw_cfg_dma(f, (uint64_t)f->s.dma_hi << 32 | v);
    pthread_mutex_unlock(&f->lock);
}

static const struct io_ops fw_cfg_port_ops = {.read = fw_cfg_port_read, .write = fw_cfg_port_write};
static const struct io_ops fw_cfg_dma_ops = {.read = fw_cfg_dma_read, .write = fw_cfg_dma_write};

/* ---- device contract ---------------------------------------------------------------------- */

static void fw_cfg_state_visit(struct state_visitor *v, struct fw_cfg_state *s)
{
    if (!state_begin(v, "fw_cfg", FW_CFG_STATE_VERSION))
        return;
    STATE_U16(v, s->selector);
    STATE_U32(v, s->offset);
    STATE_U32(v, s->dma_hi);
    state_end(v);
}

static int fw_cfg_save(void *dev, struct state_visitor *v)
{
    struct fw_cfg *f = dev;
    pthread_mutex_lock(&f->lock);
    struct fw_cfg_state s = f->s;
    pthread_mutex_unlock(&f->lock);
    fw_cfg_state_visit(v, &s);
    return state_error(v);
}

/* Any selector and offset are valid (unknown items and offsets past the end read as zeros). */
static int fw_cfg_restore(void *dev, struct state_visitor *v)
{
    struct fw_cfg *f = dev;
    struct fw_cfg_state s = {0};
    fw_cfg_state_visit(v, &s);
    if (!state_error(v)) {
        pthread_mutex_lock(&f->lock);
        f->s = s;
        pthread_mutex_unlock(&f->lock);
    }
    return state_error(v);
}

static void fw_cfg_reset(void *dev)
{
    struct fw_cfg *f = dev;
    pthread_mutex_lock(&f->lock);
    f->s = (struct fw_cfg_state){0};
    pthread_mutex_unlock(&f->lock);
}

static void fw_cfg_destroy(void *dev)
{
    struct fw_cfg *f = dev;
    if (f->dma_runs)
        log_debug("fw_cfg: %llu DMA transfers, %llu refused", (unsigned long long)f->dma_runs,
                  (unsigned long long)f->dma_errors);
    for (unsigned i = 0; i < f->nitems; i++)
        free(f->items[i].data);
    pthread_mutex_destroy(&f->lock);
    page_free(f, sizeof(*f));
}

static const struct device_ops fw_cfg_dev_ops = {
    .name = "fw_cfg",
    .reset = fw_cfg_reset,
    .save = fw_cfg_save,
    .restore = fw_cfg_restore,
    .destroy = fw_cfg_destroy,
};

struct fw_cfg *fw_cfg_find(struct vm *vm)
{
    return device_find(vm, &fw_cfg_dev_ops);
}

/* The items every VM has: signature, interface id, RAM size, CPU counts, no display, no NUMA, no
 * boot menu, and an empty boot order (no device names boot order yet). */
static int fw_cfg_standard_items(struct fw_cfg *f, const struct vm *vm)
{
    uint64_t *numa = calloc(1 + vm->ncpus, sizeof(uint64_t)); /* 0 nodes, CPU -> node */
    int rc = numa ? fw_cfg_add_item_owned(f, FW_CFG_NUMA, numa, (1 + vm->ncpus) * 8) : -ENOMEM;
    if (!rc)
        rc = fw_cfg_add_item(f, FW_CFG_SIGNATURE, "QEMU", 4);
    if (!rc)
        rc = fw_cfg_add_u32(f, FW_CFG_ID, FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA);
    if (!rc)
        rc = fw_cfg_add_u64(f, FW_CFG_RAM_SIZE, vm->cfg.mem_bytes);
    if (!rc)
        rc = fw_cfg_add_u16(f, FW_CFG_NOGRAPHIC, 1);
    if (!rc)
        rc = fw_cfg_add_u16(f, FW_CFG_NB_CPUS, (uint16_t)vm->ncpus);
    if (!rc)
        rc = fw_cfg_add_u16(f, FW_CFG_MAX_CPUS, (uint16_t)vm->ncpus);
    if (!rc)
        rc = fw_cfg_add_u16(f, FW_CFG_BOOT_MENU, 0);
    if (!rc)
        rc = fw_cfg_add_file(f, "bootorder", "", 0);
    return rc;
}

static int fw_cfg_create(struct vm *vm, char *err, size_t errlen)
{
    struct fw_cfg *f = page_zalloc(sizeof(*f));
    if (!f) {
        snprintf(err, errlen, "fw_cfg: out of memory");
        return -ENOMEM;
    }
    f->vm = vm;
    pthread_mutex_init(&f->lock, NULL);
    int rc = fw_cfg_standard_items(f, vm);
    if (rc) {
        snprintf(err, errlen, "fw_cfg: cannot build the items: %s", strerror(-rc));
        fw_cfg_destroy(f);
        return rc;
    }
    rc = io_bus_register(&vm->pio, PORT_FW_CFG + FW_CFG_DMA_OFF, FW_CFG_DMA_LEN, &fw_cfg_dma_ops, f,
                         "fw_cfg-dma");
    if (rc) {
        snprintf(err, errlen, "fw_cfg: cannot register ports 0x%x-0x%x: %s",
                 PORT_FW_CFG + FW_CFG_DMA_OFF, PORT_FW_CFG + FW_CFG_DMA_OFF + FW_CFG_DMA_LEN - 1,
                 strerror(-rc));
        fw_cfg_destroy(f);
        return rc;
    }
    rc = device_add_pio(vm, PORT_FW_CFG, FW_CFG_PORT_LEN, &fw_cfg_port_ops, "fw_cfg",
                        &fw_cfg_dev_ops, f, err, errlen);
    if (rc) {
        io_bus_unregister(&vm->pio, PORT_FW_CFG + FW_CFG_DMA_OFF);
        fw_cfg_destroy(f);
    }
    return rc;
}

static const struct device_class fw_cfg_class = {
    .name = "fw_cfg",
    .order = DEV_ORDER_PLATFORM,
    .create = fw_cfg_create,
};
DEVICE_CLASS(fw_cfg_class);
