/*
 * gguf.h - GGUF v2/v3 files: a validating reader over mmap and a writer.
 *
 * The reader checks everything before anything is handed out: magic,
 * version, counts against the file size, string and array lengths, tensor
 * dims (no overflow of element count or byte size), known type ids, rows
 * that are whole blocks, data offsets aligned and inside the file, tensors
 * that do not overlap. After gguf_open succeeds every pointer the API returns
 * is in bounds. Strings point into the mapping and are not NUL-terminated.
 *
 * The writer produces GGUF v3 as llama.cpp lays it out: header, key-values in
 * the order they were set, tensor infos, then each tensor's data at the next
 * multiple of general.alignment (32 unless set), zero-padded, including after
 * the last tensor. Output goes to a temporary file beside the destination and
 * is renamed into place only when complete; on any failure the temporary file
 * is removed and the destination is left as it was.
 */
#ifndef QL_GGUF_GGUF_H
#define QL_GGUF_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"
#include "../quant/quant.h"

#define GGUF_MAGIC             0x46554747u /* "GGUF" little-endian */
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS          4
#define GGUF_MAX_ARRAY_DEPTH   8
#define GGUF_MAX_NAME          64 /* llama.cpp's tensor name buffer, NUL included */

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
    const uint8_t *raw; /* the value's encoded bytes as stored (after its type id) */
    uint64_t raw_size;
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
/*
 * Parses a caller-owned buffer with the same checks as gguf_open (no mmap, no
 * copy: the buffer must outlive the gguf_file). name stands for the path in
 * error messages and gguf_path; NULL means "<memory>". Meant for fuzzing and
 * for tests.
 */
ql_status gguf_open_memory(const void *data, size_t size, const char *name, gguf_file **out,
                           ql_error *err);
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
bool gguf_value_as_i64(const gguf_value *v, int64_t *out);  /* any integer that fits */
bool gguf_value_as_f64(const gguf_value *v, double *out);   /* any number */

bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
bool gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out);
bool gguf_get_i64(const gguf_file *f, const char *key, int64_t *out);
bool gguf_get_f32(const gguf_file *f, const char *key, float *out);
bool gguf_get_bool(const gguf_file *f, const char *key, bool *out);
bool gguf_get_str(const gguf_file *f, const char *key, gguf_str *out);
/* An array value (any element type); NULL if absent or not an array. */
const gguf_value *gguf_get_arr(const gguf_file *f, const char *key);

/* Element i of any array as a value of its element type; false if out of range. */
bool gguf_arr_get(const gguf_value *arr, uint64_t i, gguf_value *out);
/* Element i of a scalar array as a number; false if out of range or not numeric. */
bool gguf_arr_get_i64(const gguf_value *arr, uint64_t i, int64_t *out);
bool gguf_arr_get_f64(const gguf_value *arr, uint64_t i, double *out);

/* Size in bytes of one element of a scalar GGUF type; 0 for STRING/ARRAY. */
size_t gguf_type_size(gguf_type t);
const char *gguf_type_name(gguf_type t);

/*
 * llama.cpp's name for a general.file_type value (its llama_ftype enum without
 * the LLAMA_FTYPE_ prefix): 1 "MOSTLY_F16", 15 "MOSTLY_Q4_K_M". NULL for a
 * value llama.cpp does not define.
 */
const char *gguf_file_type_name(uint32_t file_type);

/* ------------------------------------------------------------------------ */
/* Writer                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct gguf_writer gguf_writer;

ql_status gguf_writer_create(gguf_writer **out, ql_error *err);
/* Frees the writer; if a file was begun and not finished, its temporary file is removed. */
void gguf_writer_free(gguf_writer *w);

/*
 * Key-values. A set_* call on a key that is already present replaces its
 * value where it stands (the key keeps its place in the order); otherwise the
 * key is appended. Keys must be non-empty. general.alignment must be a u32
 * power of two (llama.cpp refuses anything else). Values are copied.
 * Key-values can change until gguf_writer_begin.
 */
ql_status gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v, ql_error *err);
ql_status gguf_writer_set_i8(gguf_writer *w, const char *key, int8_t v, ql_error *err);
ql_status gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v, ql_error *err);
ql_status gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v, ql_error *err);
ql_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v, ql_error *err);
ql_status gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v, ql_error *err);
ql_status gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v, ql_error *err);
ql_status gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v, ql_error *err);
ql_status gguf_writer_set_f32(gguf_writer *w, const char *key, float v, ql_error *err);
ql_status gguf_writer_set_f64(gguf_writer *w, const char *key, double v, ql_error *err);
ql_status gguf_writer_set_bool(gguf_writer *w, const char *key, bool v, ql_error *err);
/* A NUL-terminated string value. */
ql_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *v, ql_error *err);
/* A string value of len bytes (may hold any bytes, NUL included). */
ql_status gguf_writer_set_str_n(gguf_writer *w, const char *key, const char *v, uint64_t len,
                                ql_error *err);
/* An array of n scalars of elem_type, given as a C array of the host's native type. */
ql_status gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_type elem_type,
                              const void *data, uint64_t n, ql_error *err);
/* An array of n NUL-terminated strings. */
ql_status gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                                  uint64_t n, ql_error *err);
/*
 * Any value, nested arrays included, in the reader's representation: scalar
 * arrays in arr.data (little-endian, as the reader hands them out), string and
 * array elements in arr.items (each of type arr.elem_type). FLOAT32 values
 * are stored from f64 rounded to float.
 */
ql_status gguf_writer_set_value(gguf_writer *w, const char *key, const gguf_value *v,
                                ql_error *err);
/* Removes a key; false when it was not present. */
bool gguf_writer_remove(gguf_writer *w, const char *key);
/*
 * Copies every key-value of src, in src's order and byte for byte, except the
 * n_skip keys listed in skip (NULL when n_skip is 0). Each goes through the
 * same rule as set_*: a key already present is replaced in place.
 */
ql_status gguf_writer_copy_kvs(gguf_writer *w, const gguf_file *src, const char *const *skip,
                               size_t n_skip, ql_error *err);
int64_t gguf_writer_n_kv(const gguf_writer *w);

/*
 * Tensors, in file order. name: non-empty, no NUL, shorter than
 * GGUF_MAX_NAME bytes (llama.cpp's limit), unique. n_dims 0..4, ne[0] first,
 * every ne >= 0, ne[0] a multiple of the type's block size. data: the
 * tensor's bytes (exactly its size), kept by pointer until they are written;
 * NULL when the bytes will be streamed with gguf_writer_write_data.
 */
ql_status gguf_writer_add_tensor(gguf_writer *w, const char *name, ql_type type, uint32_t n_dims,
                                 const int64_t *ne, const void *data, ql_error *err);
/* The same for a tensor named and shaped like src (from a gguf_file), stored as type. */
ql_status gguf_writer_add_tensor_like(gguf_writer *w, const gguf_tensor *src, ql_type type,
                                      const void *data, ql_error *err);
int64_t gguf_writer_n_tensors(const gguf_writer *w);
/* Exact byte size of tensor i's data; 0 if i is out of range. */
uint64_t gguf_writer_tensor_size(const gguf_writer *w, int64_t i);

/*
 * Writing a file in one go: every tensor must have been given its data.
 * Equivalent to begin + finish.
 */
ql_status gguf_writer_write_file(gguf_writer *w, const char *path, ql_error *err);

/*
 * Streaming, for outputs larger than memory:
 *   gguf_writer_begin(w, path)      header and tensor infos go to a temporary file
 *   gguf_writer_write_data(w, p, n) appends n bytes to the current tensor, any
 *                                   number of calls per tensor, tensors in order
 *   gguf_writer_finish(w)           checks every tensor is complete, renames into place
 * Tensors added with a data pointer are written by the writer itself when
 * their turn comes; only those added with NULL are streamed. Bytes beyond the
 * current tensor's size are an error, not spill-over into the next. After any
 * error the temporary file is gone and every later call fails.
 */
ql_status gguf_writer_begin(gguf_writer *w, const char *path, ql_error *err);
ql_status gguf_writer_write_data(gguf_writer *w, const void *data, size_t n, ql_error *err);
ql_status gguf_writer_finish(gguf_writer *w, ql_error *err);

#endif
