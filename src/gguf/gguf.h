/*
 * gguf.h - GGUF v2/v3 files: a validating reader over mmap and a writer.
 *
 * The reader checks everything before anything is handed out: magic,
 * version, counts against the file size, string and array lengths, tensor
 * dims (no overflow of element count or byte size), known type ids, rows
 * that are whole blocks, data offsets aligned and inside the file, tensors
 * that do not overlap. After gguf_open succeeds every pointer the API returns
 * is in bounds. Strings point into the mapping and are not NUL-terminated.
 */
#ifndef QL_GGUF_GGUF_H
#define QL_GGUF_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"
#include "../quant/quant.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_ARRAY_DEPTH 8

typedef enum {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
} gguf_type;

typedef struct {
    uint64_t len;
    const char *ptr; /* not NUL-terminated */
} gguf_str;

typedef struct gguf_value gguf_value;

struct gguf_value {
    gguf_type type;
    union {
        uint64_t u64; /* UINT8/16/32/64 */
        int64_t i64;  /* INT8/16/32/64 */
        double f64;   /* FLOAT32/64 */
        bool b;
        gguf_str str;
        struct {
            gguf_type elem_type;
            uint64_t n;
            const uint8_t *data; /* raw little-endian elements (scalar element types) */
            gguf_value *items;   /* decoded elements for STRING and ARRAY element types */
        } arr;
    };
};

typedef struct {
    gguf_str key;
    gguf_value value;
} gguf_kv;

typedef struct {
    gguf_str name;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the row length; unused dims are 1 */
    ql_type type;
    uint64_t offset;  /* relative to the data section */
    uint64_t n_bytes; /* exact size of the tensor's data */
    const void *data; /* into the mapping */
} gguf_tensor;

typedef struct gguf_file gguf_file;

ql_status gguf_open(const char *path, gguf_file **out, ql_error *err);
void gguf_close(gguf_file *f);

const char *gguf_path(const gguf_file *f);
uint32_t gguf_version(const gguf_file *f);
uint64_t gguf_file_size(const gguf_file *f);
uint64_t gguf_alignment(const gguf_file *f);
uint64_t gguf_data_offset(const gguf_file *f); /* absolute offset of the data section */

int64_t gguf_n_kv(const gguf_file *f);
const gguf_kv *gguf_kv_at(const gguf_file *f, int64_t i);
const gguf_value *gguf_find(const gguf_file *f, const char *key); /* NULL if absent */

int64_t gguf_n_tensors(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, int64_t i);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Element count of a tensor (product of its dims). */
int64_t gguf_tensor_nelements(const gguf_tensor *t);

/* --- typed accessors: false when the key is absent or has an incompatible type --- */
bool gguf_str_eq(gguf_str s, const char *c);
/* Copies s into buf (truncating, always NUL-terminated); returns buf. */
char *gguf_str_copy(gguf_str s, char *buf, size_t size);

bool gguf_value_as_u64(const gguf_value *v, uint64_t *out); /* any non-negative integer */
bool gguf_value_as_i64(const gguf_value *v, int64_t *out); /* any integer that fits */
bool gguf_value_as_f64(const gguf_value *v, double *out);  /* any number */

bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
bool gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out);
bool gguf_get_i64(const gguf_file *f, const char *key, int64_t *out);
bool gguf_get_f32(const gguf_file *f, const char *key, float *out);
bool gguf_get_bool(const gguf_file *f, const char *key, bool *out);
bool gguf_get_str(const gguf_file *f, const char *key, gguf_str *out);
/* An array value (any element type); NULL if absent or not an array. */
const gguf_value *gguf_get_arr(const gguf_file *f, const char *key);

/* Element i of a scalar array as a number; false if out of range or not numeric. */
bool gguf_arr_get_i64(const gguf_value *arr, uint64_t i, int64_t *out);
bool gguf_arr_get_f64(const gguf_value *arr, uint64_t i, double *out);

/* Size in bytes of one element of a scalar GGUF type; 0 for STRING/ARRAY. */
size_t gguf_type_size(gguf_type t);
const char *gguf_type_name(gguf_type t);

#endif
