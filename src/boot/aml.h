/* aml.h — a small ACPI Machine Language byte encoder for the DSDT truce generates. */
#ifndef TRUCE_AML_H
#define TRUCE_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Output buffer with a fixed capacity. Writes past CAP set OVERFLOW and are dropped, so a
 * builder checks aml_ok() once at the end instead of after every call. */
#define AML_MAX_DEPTH 16
struct aml {
    uint8_t *buf;
    size_t cap;
    size_t len;
    bool overflow;              /* capacity exceeded or a malformed argument was given */
    unsigned depth;             /* open objects */
    size_t mark[AML_MAX_DEPTH]; /* where each open object's PkgLength goes */
    bool is_buffer[AML_MAX_DEPTH];
};

/* Resource descriptor flags used by the DSDT (ACPI 6.5 section 6.4). */
#define AML_MEM_CACHEABLE    1 /* memory range type-specific flags: MEM = 01b */
#define AML_MEM_NONCACHEABLE 0

void aml_init(struct aml *a, uint8_t *buf, size_t cap);
/* True when nothing overflowed and every open object was closed by the caller. */
bool aml_ok(const struct aml *a);

void aml_byte(struct aml *a, uint8_t b);
void aml_bytes(struct aml *a, const void *p, size_t n);

/* Encode a PkgLength for a package whose body (everything after the PkgLength) is BODY bytes.
 * Writes 1-4 bytes into OUT and returns the count, or 0 when the length cannot be encoded. */
unsigned aml_pkglen_encode(size_t body, uint8_t out[4]);

/* NameString from a path like "\\_SB_.PCI0", "_HID", "^FOO" or "PCI0.COM1": segments shorter
 * than 4 characters are padded with '_'. A malformed path sets overflow. */
void aml_namestring(struct aml *a, const char *path);
/* Integer data object, shortest encoding (Zero, One, Ones, Byte/Word/DWord/QWordPrefix). */
void aml_integer(struct aml *a, uint64_t v);
/* Integer with a fixed DWordPrefix encoding (as ASL compilers emit EisaId). */
void aml_dword(struct aml *a, uint32_t v);
/* String data object (StringPrefix, ASCII, NUL). */
void aml_string(struct aml *a, const char *s);
/* EISA id "PNP0A03" compressed into its 32-bit form (EisaId() in ASL). Returns 0 when S is not
 * three upper-case letters followed by four hex digits. */
uint32_t aml_eisaid_value(const char *s);
void aml_eisaid(struct aml *a, const char *s);

/* Name(PATH, ...): emits NameOp and the name; the caller emits the value next. */
void aml_name(struct aml *a, const char *path);

/* Objects with a PkgLength: open one, emit its body, then aml_close() the innermost open one.
 * At most AML_MAX_DEPTH may be open at once. */
void aml_scope_open(struct aml *a, const char *path);
void aml_device_open(struct aml *a, const char *path);
/* Package with NELEM elements (<= 255). */
void aml_package_open(struct aml *a, unsigned nelem);
/* Buffer: the byte count (BufferSize) is computed at close from the body. */
void aml_buffer_open(struct aml *a);
void aml_close(struct aml *a);

/* ---- resource template descriptors (inside aml_buffer_open / aml_close) --------------------- */
/* IO(Decode16, MIN, MAX, ALIGN, LEN) */
void aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
/* IRQNoFlags() { irq }: edge triggered, active high, exclusive. */
void aml_res_irq(struct aml *a, unsigned irq);
/* WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, MIN, MAX, 0, MAX-MIN+1) */
void aml_res_word_bus(struct aml *a, uint16_t min, uint16_t max);
/* WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, MIN, MAX, 0, len) */
void aml_res_word_io(struct aml *a, uint16_t min, uint16_t max);
/* DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, CACHE, ReadWrite, ...) */
void aml_res_dword_mem(struct aml *a, uint32_t min, uint32_t max, unsigned cache);
/* QWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, CACHE, ReadWrite, ...) */
void aml_res_qword_mem(struct aml *a, uint64_t min, uint64_t max, unsigned cache);
/* Memory32Fixed(ReadWrite, BASE, LEN) */
void aml_res_mem32_fixed(struct aml *a, uint32_t base, uint32_t len);
/* Interrupt(ResourceConsumer, Level, ActiveHigh, Exclusive) {GSI}: the extended descriptor */
void aml_res_ext_irq_level(struct aml *a, uint32_t gsi);
/* EndTag with checksum 0 ("treat as valid"). */
void aml_res_end(struct aml *a);

#endif
