/* aml.c — ACPI Machine Language encoder: package lengths, names, data objects, resources. */
#include <string.h>

#include "boot/aml.h"

/* AML opcodes and prefixes (ACPI 6.5 section 20.3). */
#define AML_ZERO        0x00
#define AML_ONE         0x01
#define AML_NAME_OP     0x08
#define AML_BYTE_PFX    0x0a
#define AML_WORD_PFX    0x0b
#define AML_DWORD_PFX   0x0c
#define AML_STRING_PFX  0x0d
#define AML_QWORD_PFX   0x0e
#define AML_SCOPE_OP    0x10
#define AML_BUFFER_OP   0x11
#define AML_PACKAGE_OP  0x12
#define AML_DUAL_PFX    0x2e
#define AML_MULTI_PFX   0x2f
#define AML_EXT_PFX     0x5b
#define AML_DEVICE_OP   0x82 /* after AML_EXT_PFX */
#define AML_ROOT_CHAR   0x5c
#define AML_PARENT_CHAR 0x5e
#define AML_ONES        0xff

/* Resource descriptor tags (ACPI 6.5 section 6.4). */
#define RES_IO        0x47 /* small item 0x08, length 7 */
#define RES_IRQ       0x22 /* small item 0x04, length 2 */
#define RES_END       0x79 /* small item 0x0f, length 1 */
#define RES_MEM32FIX  0x86
#define RES_DWORD     0x87
#define RES_WORD      0x88
#define RES_QWORD     0x8a
#define RES_EXT_IRQ   0x89
#define RES_TYPE_MEM  0
#define RES_TYPE_IO   1
#define RES_TYPE_BUS  2
#define RES_GEN_FIXED 0x0c /* producer, positive decode, MinFixed, MaxFixed */

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
    memset(a, 0, sizeof(*a));
    a->buf = buf;
    a->cap = cap;
}

bool aml_ok(const struct aml *a)
{
    return !a->overflow && a->depth == 0;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
    if (a->overflow || n > a->cap - a->len) {
        a->overflow = true;
        return;
    }
    memcpy(a->buf + a->len, p, n);
    a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
    aml_bytes(a, &b, 1);
}

/* Append V as N little-endian bytes. */
static void put_le(struct aml *a, uint64_t v, unsigned n)
{
    uint8_t b[8];
    for (unsigned i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    aml_bytes(a, b, n);
}

/* Insert N bytes from P at offset POS, moving what follows. */
static void insert_at(struct aml *a, size_t pos, const uint8_t *p, size_t n)
{
    if (a->overflow || pos > a->len || n > a->cap - a->len) {
        a->overflow = true;
        return;
    }
    memmove(a->buf + pos + n, a->buf + pos, a->len - pos);
    memcpy(a->buf + pos, p, n);
    a->len += n;
}

unsigned aml_pkglen_encode(size_t body, uint8_t out[4])
{
    for (unsigned n = 1; n <= 4; n++) {
        size_t v = body + n; /* the PkgLength counts its own bytes */
        if (n == 1 && v <= 0x3f) {
            out[0] = (uint8_t)v;
            return 1;
        }
        if (n > 1 && v < (1ULL << (4 + 8 * (n - 1)))) {
            out[0] = (uint8_t)(((n - 1) << 6) | (v & 0x0f));
            for (unsigned i = 1; i < n; i++)
                out[i] = (uint8_t)(v >> (4 + 8 * (i - 1)));
            return n;
        }
    }
    return 0;
}

/* Append one 4-character name segment from S (LEN 1-4 characters, padded with '_'). */
static void put_nameseg(struct aml *a, const char *s, size_t len)
{
    char seg[4] = {'_', '_', '_', '_'};
    if (len == 0 || len > 4 || (s[0] >= '0' && s[0] <= '9')) {
        a->overflow = true;
        return;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
            a->overflow = true;
            return;
        }
        seg[i] = c;
    }
    aml_bytes(a, seg, 4);
}

void aml_namestring(struct aml *a, const char *path)
{
    const char *p = path;
    if (*p == '\\') {
        aml_byte(a, AML_ROOT_CHAR);
        p++;
    } else {
        while (*p == '^') {
            aml_byte(a, AML_PARENT_CHAR);
            p++;
        }
    }
    unsigned nseg = *p ? 1 : 0;
    for (const char *q = p; *q; q++)
        nseg += *q == '.';
    if (nseg == 0) {
        aml_byte(a, AML_ZERO); /* NullName */
        return;
    }
    if (nseg == 2) {
        aml_byte(a, AML_DUAL_PFX);
    } else if (nseg > 2) {
        if (nseg > 255) {
            a->overflow = true;
            return;
        }
        aml_byte(a, AML_MULTI_PFX);
        aml_byte(a, (uint8_t)nseg);
    }
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        put_nameseg(a, p, len);
        p += len + (dot ? 1 : 0);
        if (dot && !*p)
            a->overflow = true; /* trailing dot */
    }
}

void aml_integer(struct aml *a, uint64_t v)
{
    if (v == 0) {
        aml_byte(a, AML_ZERO);
    } else if (v == 1) {
        aml_byte(a, AML_ONE);
    } else if (v == UINT64_MAX) {
        aml_byte(a, AML_ONES);
    } else if (v <= 0xff) {
        aml_byte(a, AML_BYTE_PFX);
        put_le(a, v, 1);
    } else if (v <= 0xffff) {
        aml_byte(a, AML_WORD_PFX);
        put_le(a, v, 2);
    } else if (v <= 0xffffffff) {
        aml_byte(a, AML_DWORD_PFX);
        put_le(a, v, 4);
    } else {
        aml_byte(a, AML_QWORD_PFX);
        put_le(a, v, 8);
    }
}

void aml_dword(struct aml *a, uint32_t v)
{
    aml_byte(a, AML_DWORD_PFX);
    put_le(a, v, 4);
}

void aml_string(struct aml *a, const char *s)
{
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p > 0x7f) {
            a->overflow = true;
            return;
        }
    }
    aml_byte(a, AML_STRING_PFX);
    aml_bytes(a, s, strlen(s) + 1);
}

/* Value of hex digit C, or -1. */
static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

uint32_t aml_eisaid_value(const char *s)
{
    uint32_t v = 0;
    if (strlen(s) != 7)
        return 0;
    for (int i = 0; i < 3; i++) {
        if (s[i] < 'A' || s[i] > 'Z')
            return 0;
        v |= (uint32_t)(s[i] - 0x40) << (26 - 5 * i);
    }
    for (int i = 3; i < 7; i++) {
        int h = hexval(s[i]);
        if (h < 0)
            return 0;
        v |= (uint32_t)h << (4 * (6 - i));
    }
    return __builtin_bswap32(v); /* stored most significant byte first */
}

void aml_eisaid(struct aml *a, const char *s)
{
    uint32_t v = aml_eisaid_value(s);
    if (!v)
        a->overflow = true;
    aml_dword(a, v);
}

void aml_name(struct aml *a, const char *path)
{
    aml_byte(a, AML_NAME_OP);
    aml_namestring(a, path);
}

/* Record that an object whose PkgLength belongs at the current position is open. */
static void push_open(struct aml *a, bool is_buffer)
{
    if (a->depth >= AML_MAX_DEPTH) {
        a->overflow = true;
        return;
    }
    a->mark[a->depth] = a->len;
    a->is_buffer[a->depth] = is_buffer;
    a->depth++;
}

void aml_scope_open(struct aml *a, const char *path)
{
    aml_byte(a, AML_SCOPE_OP);
    push_open(a, false);
    aml_namestring(a, path);
}

void aml_device_open(struct aml *a, const char *path)
{
    aml_byte(a, AML_EXT_PFX);
    aml_byte(a, AML_DEVICE_OP);
    push_open(a, false);
    aml_namestring(a, path);
}

void aml_package_open(struct aml *a, unsigned nelem)
{
    if (nelem > 255)
        a->overflow = true;
    aml_byte(a, AML_PACKAGE_OP);
    push_open(a, false);
    aml_byte(a, (uint8_t)nelem);
}

void aml_buffer_open(struct aml *a)
{
    aml_byte(a, AML_BUFFER_OP);
    push_open(a, true);
}

void aml_close(struct aml *a)
{
    if (a->depth == 0) {
        a->overflow = true;
        return;
    }
    a->depth--;
    if (a->overflow)
        return;
    size_t mark = a->mark[a->depth];
    if (a->is_buffer[a->depth]) {
        /* BufferSize goes before the byte list: encode it in a scratch aml and insert it. */
        uint8_t tmp[9];
        struct aml t;
        aml_init(&t, tmp, sizeof(tmp));
        aml_integer(&t, a->len - mark);
        insert_at(a, mark, tmp, t.len);
    }
    uint8_t pl[4];
    unsigned n = aml_pkglen_encode(a->len - mark, pl);
    if (!n) {
        a->overflow = true;
        return;
    }
    insert_at(a, mark, pl, n);
}

void aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
    aml_byte(a, RES_IO);
    aml_byte(a, 1); /* 16-bit decode */
    put_le(a, min, 2);
    put_le(a, max, 2);
    aml_byte(a, align);
    aml_byte(a, len);
}

void aml_res_irq(struct aml *a, unsigned irq)
{
    if (irq > 15) {
        a->overflow = true;
        return;
    }
    aml_byte(a, RES_IRQ);
    put_le(a, 1u << irq, 2);
}

/* Header of a Word/DWord/QWord address space descriptor. */
static void addr_head(struct aml *a, uint8_t tag, uint16_t len, uint8_t type, uint8_t tflags)
{
    aml_byte(a, tag);
    put_le(a, len, 2);
    aml_byte(a, type);
    aml_byte(a, RES_GEN_FIXED);
    aml_byte(a, tflags);
}

/* The granularity, min, max, translation, length fields of an address space descriptor. */
static void addr_body(struct aml *a, uint64_t min, uint64_t max, unsigned width)
{
    if (max < min)
        a->overflow = true;
    put_le(a, 0, width); /* granularity */
    put_le(a, min, width);
    put_le(a, max, width);
    put_le(a, 0, width); /* translation offset */
    put_le(a, max - min + 1, width);
}

void aml_res_word_bus(struct aml *a, uint16_t min, uint16_t max)
{
    addr_head(a, RES_WORD, 0x0d, RES_TYPE_BUS, 0);
    addr_body(a, min, max, 2);
}

void aml_res_word_io(struct aml *a, uint16_t min, uint16_t max)
{
    addr_head(a, RES_WORD, 0x0d, RES_TYPE_IO, 3 /* EntireRange */);
    addr_body(a, min, max, 2);
}

void aml_res_dword_mem(struct aml *a, uint32_t min, uint32_t max, unsigned cache)
{
    addr_head(a, RES_DWORD, 0x17, RES_TYPE_MEM, (uint8_t)(1 | (cache & 3) << 1));
    addr_body(a, min, max, 4);
}

void aml_res_qword_mem(struct aml *a, uint64_t min, uint64_t max, unsigned cache)
{
    addr_head(a, RES_QWORD, 0x2b, RES_TYPE_MEM, (uint8_t)(1 | (cache & 3) << 1));
    addr_body(a, min, max, 8);
}

void aml_res_mem32_fixed(struct aml *a, uint32_t base, uint32_t len)
{
    aml_byte(a, RES_MEM32FIX);
    put_le(a, 9, 2);
    aml_byte(a, 1); /* read/write */
    put_le(a, base, 4);
    put_le(a, len, 4);
}

void aml_res_ext_irq_level(struct aml *a, uint32_t gsi)
{
    aml_byte(a, RES_EXT_IRQ);
    put_le(a, 6, 2);
    aml_byte(a, 0x01); /* consumer; level (bit 1 clear), active high, exclusive */
    aml_byte(a, 1);    /* one interrupt */
    put_le(a, gsi, 4);
}

void aml_res_end(struct aml *a)
{
    aml_byte(a, RES_END);
    aml_byte(a, 0);
}
