/*
 * gguf_write.c - the GGUF v3 writer.
 *
 * Key-values are encoded to their file bytes the moment they are set, so a
 * copy from another file is a byte copy, replacing a value is swapping one
 * buffer, and writing the header is concatenation. Tensor infos are kept until
 * gguf_writer_begin, when their offsets are fixed: llama.cpp accepts only the
 * layout it writes itself (each tensor at the next multiple of the alignment
 * after the previous one, in info order), so that is the only layout produced.
 *
 * Everything goes to a temporary file beside the destination (see
 * core/outfile.h for its name and what an output may replace) and is renamed
 * onto it after the last byte is written and synced; every failure path
 * unlinks the temporary file, so no caller can observe a half-written output.
 */
#include "gguf.h"

#include "../core/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { OUT_BUF_SIZE = 1 << 20 };

/* A growable byte string; alloc failure is remembered and reported once. */
typedef struct {
    uint8_t *p;
    size_t len, cap;
    bool oom;
} bytes;

static void bytes_reserve(bytes *b, size_t extra) {
    if (b->oom) return;
    if (extra > SIZE_MAX - b->len) {
        b->oom = true;
        return;
    }
    size_t need = b->len + extra;
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void put_raw(bytes *b, const void *src, size_t n) {
    bytes_reserve(b, n);
    if (b->oom || n == 0) return;
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

/* Little-endian whatever the host is: the format fixes the byte order. */
static void put_le(bytes *b, uint64_t v, size_t n) {
    uint8_t tmp[8];
    for (size_t i = 0; i < n; i++) tmp[i] = (uint8_t)(v >> (8 * i));
    put_raw(b, tmp, n);
}

static void put_u32(bytes *b, uint32_t v) {
    put_le(b, v, 4);
}
static void put_u64(bytes *b, uint64_t v) {
    put_le(b, v, 8);
}

static void put_str(bytes *b, const char *s, uint64_t len) {
    if (len > SIZE_MAX) {
        b->oom = true;
        return;
    }
    put_u64(b, len);
    put_raw(b, s, (size_t)len);
}

typedef struct {
    char *key;
    size_t key_len;
    gguf_type type;
    uint8_t *value; /* encoded bytes after the type id */
    size_t value_len;
} writer_kv;

typedef struct {
    char name[GGUF_MAX_NAME];
    size_t name_len;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    ql_type type;
    uint64_t n_bytes;
    uint64_t offset; /* fixed by gguf_writer_begin */
    const void *data;
} writer_tensor;

/* Open-addressing hash of names to array indices (slot holds index + 1). */
typedef struct {
    int64_t *slot;
    size_t cap; /* a power of two, or 0 */
} name_index;

typedef enum { STATE_BUILDING, STATE_STREAMING, STATE_DONE, STATE_FAILED } writer_state;

struct gguf_writer {
    writer_kv *kvs;
    int64_t n_kv, cap_kv;
    name_index kv_index;

    writer_tensor *tensors;
    int64_t n_tensors, cap_tensors;
    name_index tensor_index;

    uint32_t alignment;
    writer_state state;

    /* streaming */
    char *path, *target, *tmp_path; /* as given, the file it replaces, the file written */
    int fd;
    uint8_t *out;
    size_t out_len;
    uint64_t written; /* bytes handed to the file so far, buffered ones included */
    uint64_t data_start;
    int64_t cur;       /* tensor whose bytes come next */
    uint64_t cur_done; /* bytes of it written */
};

/* ---- names ---- */

static uint64_t hash_name(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

static bool same_name(const char *a, size_t na, const char *b, size_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

static void kv_name(const gguf_writer *w, int64_t i, const char **p, size_t *n) {
    *p = w->kvs[i].key;
    *n = w->kvs[i].key_len;
}

static void tensor_name(const gguf_writer *w, int64_t i, const char **p, size_t *n) {
    *p = w->tensors[i].name;
    *n = w->tensors[i].name_len;
}

typedef void (*name_of_fn)(const gguf_writer *w, int64_t i, const char **p, size_t *n);

/* Index of the entry named (p, n), or -1. */
static int64_t index_find(const gguf_writer *w, const name_index *ix, name_of_fn name_of,
                          const char *p, size_t n) {
    if (ix->cap == 0) return -1;
    size_t mask = ix->cap - 1;
    for (size_t h = (size_t)hash_name(p, n) & mask;; h = (h + 1) & mask) {
        int64_t s = ix->slot[h];
        if (s == 0) return -1;
        const char *q;
        size_t m;
        name_of(w, s - 1, &q, &m);
        if (same_name(p, n, q, m)) return s - 1;
    }
}

static void index_place(const gguf_writer *w, name_index *ix, name_of_fn name_of, int64_t i) {
    const char *p;
    size_t n;
    name_of(w, i, &p, &n);
    size_t mask = ix->cap - 1;
    size_t h = (size_t)hash_name(p, n) & mask;
    while (ix->slot[h] != 0) h = (h + 1) & mask;
    ix->slot[h] = i + 1;
}

/* Rebuilds the index for entries [0, count) with room for at least min_entries. */
static bool index_rebuild(const gguf_writer *w, name_index *ix, name_of_fn name_of, int64_t count,
                          int64_t min_entries) {
    size_t cap = 16;
    while (cap < (size_t)min_entries * 2) cap *= 2;
    int64_t *slot = calloc(cap, sizeof *slot);
    if (!slot) return false;
    free(ix->slot);
    ix->slot = slot;
    ix->cap = cap;
    for (int64_t i = 0; i < count; i++) index_place(w, ix, name_of, i);
    return true;
}

/* Makes room for entry `count` (the next one) and places it; false on out of memory. */
static bool index_add(const gguf_writer *w, name_index *ix, name_of_fn name_of, int64_t count) {
    if ((size_t)(count + 1) * 2 > ix->cap &&
        !index_rebuild(w, ix, name_of, count, count + 1 > 8 ? (count + 1) * 2 : 8))
        return false;
    index_place(w, ix, name_of, count);
    return true;
}

/* ---- creation ---- */

ql_status gguf_writer_create(gguf_writer **out, ql_error *err) {
    *out = calloc(1, sizeof **out);
    if (!*out) return ql_fail(err, QL_ERR_NOMEM, "gguf writer: out of memory");
    (*out)->alignment = GGUF_DEFAULT_ALIGNMENT;
    (*out)->fd = -1;
    return QL_OK;
}

static void discard_output(gguf_writer *w) {
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
    if (w->tmp_path) unlink(w->tmp_path);
    free(w->tmp_path);
    free(w->path);
    free(w->target);
    free(w->out);
    w->tmp_path = w->path = w->target = NULL;
    w->out = NULL;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    discard_output(w);
    for (int64_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        free(w->kvs[i].value);
    }
    free(w->kvs);
    free(w->kv_index.slot);
    free(w->tensors);
    free(w->tensor_index.slot);
    free(w);
}

int64_t gguf_writer_n_kv(const gguf_writer *w) {
    return w->n_kv;
}
int64_t gguf_writer_n_tensors(const gguf_writer *w) {
    return w->n_tensors;
}

uint64_t gguf_writer_tensor_size(const gguf_writer *w, int64_t i) {
    return i >= 0 && i < w->n_tensors ? w->tensors[i].n_bytes : 0;
}

static ql_status not_building(const gguf_writer *w, ql_error *err, const char *what) {
    return ql_fail(err, QL_ERR_ARG, "gguf writer: cannot %s: the file has %s", what,
                   w->state == STATE_STREAMING ? "already been begun"
                   : w->state == STATE_DONE    ? "already been written"
                                               : "failed");
}

/* ---- key-values ---- */

/* Key text for messages: the key itself up to a sensible length. */
static const char *key_for_msg(const char *key, size_t len, char *buf, size_t size) {
    gguf_str s = {len, key};
    return gguf_str_copy(s, buf, size);
}

/* Takes ownership of enc in every case. */
static ql_status set_encoded(gguf_writer *w, const char *key, size_t key_len, gguf_type type,
                             bytes *enc, ql_error *err) {
    char kbuf[128];
    ql_status st = QL_OK;
    if (w->state != STATE_BUILDING) {
        st = not_building(w, err, "set a key-value");
        goto out;
    }
    if (enc->oom) {
        st = ql_fail(err, QL_ERR_NOMEM, "gguf writer: key '%s': out of memory",
                     key_for_msg(key, key_len, kbuf, sizeof kbuf));
        goto out;
    }
    if (key_len == 0) {
        st = ql_fail(err, QL_ERR_ARG, "gguf writer: empty key (llama.cpp refuses them)");
        goto out;
    }
    uint32_t alignment = 0;
    if (same_name(key, key_len, "general.alignment", 17)) {
        if (type != GGUF_TYPE_UINT32 || enc->len != 4) {
            st = ql_fail(err, QL_ERR_ARG, "gguf writer: general.alignment must be a u32, not %s",
                         gguf_type_name(type));
            goto out;
        }
        alignment = (uint32_t)enc->p[0] | (uint32_t)enc->p[1] << 8 | (uint32_t)enc->p[2] << 16 |
                    (uint32_t)enc->p[3] << 24;
        if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
            st = ql_fail(err, QL_ERR_ARG, "gguf writer: general.alignment %u is not a power of two",
                         alignment);
            goto out;
        }
    }
    int64_t i = index_find(w, &w->kv_index, kv_name, key, key_len);
    if (i >= 0) {
        writer_kv *kv = &w->kvs[i];
        free(kv->value);
        kv->type = type;
        kv->value = enc->p;
        kv->value_len = enc->len;
        enc->p = NULL;
    } else {
        if (w->n_kv == w->cap_kv) {
            int64_t cap = w->cap_kv ? w->cap_kv * 2 : 16;
            writer_kv *kvs = realloc(w->kvs, (size_t)cap * sizeof *kvs);
            if (!kvs) {
                st = ql_fail(err, QL_ERR_NOMEM, "gguf writer: out of memory");
                goto out;
            }
            w->kvs = kvs;
            w->cap_kv = cap;
        }
        char *k = malloc(key_len + 1);
        if (!k) {
            st = ql_fail(err, QL_ERR_NOMEM, "gguf writer: out of memory");
            goto out;
        }
        memcpy(k, key, key_len);
        k[key_len] = '\0';
        w->kvs[w->n_kv] = (writer_kv){k, key_len, type, enc->p, enc->len};
        if (!index_add(w, &w->kv_index, kv_name, w->n_kv)) {
            free(k);
            st = ql_fail(err, QL_ERR_NOMEM, "gguf writer: out of memory");
            goto out;
        }
        w->n_kv++;
        enc->p = NULL;
    }
    if (alignment) w->alignment = alignment;
out:
    free(enc->p);
    enc->p = NULL;
    return st;
}

static ql_status set_scalar(gguf_writer *w, const char *key, gguf_type type, uint64_t bits,
                            ql_error *err) {
    key = key ? key : ""; /* refused below as an empty key */
    bytes b = {0};
    put_le(&b, bits, gguf_type_size(type));
    return set_encoded(w, key, strlen(key), type, &b, err);
}

ql_status gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v, ql_error *err) {
    return set_scalar(w, key, GGUF_TYPE_UINT8, v, err);
}
ql_status gguf_writer_set_i8(gguf_writer *w, const char *key, int8_t v, ql_error *err) {
    return set_scalar(w, key, GGUF_TYPE_INT8, (uint8_t)v, err);
}
ql_status gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v, ql_error *err) {
    return set_scalar(w, key, GGUF_TYPE_UINT16, v, err);
}
ql_status gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v, ql_error *err) {
    return set_scalar(w, key, GGUF_TYPE_INT16, (uint16_t)v, err);
}
ql_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v, ql_error *err) {
    return set_scalar(w, key, GGUF_TYPE_UINT32, v, err);
}
ql_status gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v, ql_error *err) {
    return set_scalar(w, key, GGUF_TYPE_INT32, (uint32_t)v, err);
}
ql_status gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v, ql_error *err) {
    return set_scalar(w, key, GGUF_TYPE_UINT64, v, err);
}
ql_status gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v, ql_error *err) {
    return set_scalar(w, key, GGUF_TYPE_INT64, (uint64_t)v, err);
}
ql_status gguf_writer_set_f32(gguf_writer *w, const char *key, float v, ql_error *err) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return set_scalar(w, key, GGUF_TYPE_FLOAT32, bits, err);
}
ql_status gguf_writer_set_f64(gguf_writer *w, const char *key, double v, ql_error *err) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    return set_scalar(w, key, GGUF_TYPE_FLOAT64, bits, err);
}
ql_status gguf_writer_set_bool(gguf_writer *w, const char *key, bool v, ql_error *err) {
    return set_scalar(w, key, GGUF_TYPE_BOOL, v ? 1 : 0, err);
}

ql_status gguf_writer_set_str_n(gguf_writer *w, const char *key, const char *v, uint64_t len,
                                ql_error *err) {
    key = key ? key : ""; /* refused below as an empty key */
    bytes b = {0};
    if (len && !v) return ql_fail(err, QL_ERR_ARG, "gguf writer: key '%s': NULL string", key);
    put_str(&b, v, len);
    return set_encoded(w, key, strlen(key), GGUF_TYPE_STRING, &b, err);
}

ql_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *v, ql_error *err) {
    key = key ? key : ""; /* refused below as an empty key */
    if (!v) return ql_fail(err, QL_ERR_ARG, "gguf writer: key '%s': NULL string", key);
    return gguf_writer_set_str_n(w, key, v, strlen(v), err);
}

static bool is_scalar(gguf_type t) {
    return gguf_type_size(t) != 0;
}

ql_status gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_type elem_type,
                              const void *data, uint64_t n, ql_error *err) {
    key = key ? key : ""; /* refused below as an empty key */
    size_t size = gguf_type_size(elem_type);
    if (!size)
        return ql_fail(err, QL_ERR_ARG,
                       "gguf writer: key '%s': element type %s is not a scalar (use "
                       "gguf_writer_set_arr_str or gguf_writer_set_value)",
                       key, gguf_type_name(elem_type));
    if (n && !data) return ql_fail(err, QL_ERR_ARG, "gguf writer: key '%s': NULL array", key);
    if (n > SIZE_MAX / size)
        return ql_fail(err, QL_ERR_ARG, "gguf writer: key '%s': %llu elements is too many", key,
                       (unsigned long long)n);
    bytes b = {0};
    put_u32(&b, elem_type);
    put_u64(&b, n);
    bytes_reserve(&b, (size_t)n * size);
    const uint8_t *p = data;
    for (uint64_t i = 0; i < n && !b.oom; i++, p += size) {
        uint64_t bits;
        switch (size) {
        case 1: {
            uint8_t v;
            if (elem_type == GGUF_TYPE_BOOL) {
                bool bv;
                memcpy(&bv, p, 1);
                v = bv ? 1 : 0;
            } else {
                memcpy(&v, p, 1);
            }
            bits = v;
            break;
        }
        case 2: {
            uint16_t v;
            memcpy(&v, p, 2);
            bits = v;
            break;
        }
        case 4: {
            uint32_t v;
            memcpy(&v, p, 4);
            bits = v;
            break;
        }
        default:
            memcpy(&bits, p, 8);
            break;
        }
        put_le(&b, bits, size);
    }
    return set_encoded(w, key, strlen(key), GGUF_TYPE_ARRAY, &b, err);
}

ql_status gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                                  uint64_t n, ql_error *err) {
    key = key ? key : ""; /* refused below as an empty key */
    if (n && !strs) return ql_fail(err, QL_ERR_ARG, "gguf writer: key '%s': NULL array", key);
    bytes b = {0};
    put_u32(&b, GGUF_TYPE_STRING);
    put_u64(&b, n);
    for (uint64_t i = 0; i < n && !b.oom; i++) {
        if (!strs[i]) {
            free(b.p);
            return ql_fail(err, QL_ERR_ARG, "gguf writer: key '%s': string %llu is NULL", key,
                           (unsigned long long)i);
        }
        put_str(&b, strs[i], strlen(strs[i]));
    }
    return set_encoded(w, key, strlen(key), GGUF_TYPE_ARRAY, &b, err);
}

/* Encodes v's payload (what follows its type id). */
static ql_status encode_value(bytes *b, const gguf_value *v, int depth, const char *key,
                              ql_error *err) {
    switch (v->type) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_UINT64: {
        size_t n = gguf_type_size(v->type);
        if (n < 8 && v->u64 >> (8 * n))
            return ql_fail(err, QL_ERR_ARG, "gguf writer: key '%s': %llu does not fit in a %s", key,
                           (unsigned long long)v->u64, gguf_type_name(v->type));
        put_le(b, v->u64, n);
        return QL_OK;
    }
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_INT16:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_INT64: {
        size_t n = gguf_type_size(v->type);
        int64_t lim = n < 8 ? (int64_t)1 << (8 * n - 1) : 0;
        if (n < 8 && (v->i64 < -lim || v->i64 >= lim))
            return ql_fail(err, QL_ERR_ARG, "gguf writer: key '%s': %lld does not fit in a %s", key,
                           (long long)v->i64, gguf_type_name(v->type));
        put_le(b, (uint64_t)v->i64, n);
        return QL_OK;
    }
    case GGUF_TYPE_FLOAT32: {
        float f = (float)v->f64;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        put_u32(b, bits);
        return QL_OK;
    }
    case GGUF_TYPE_FLOAT64: {
        uint64_t bits;
        memcpy(&bits, &v->f64, 8);
        put_u64(b, bits);
        return QL_OK;
    }
    case GGUF_TYPE_BOOL:
        put_le(b, v->b ? 1 : 0, 1);
        return QL_OK;
    case GGUF_TYPE_STRING:
        if (v->str.len && !v->str.ptr)
            return ql_fail(err, QL_ERR_ARG, "gguf writer: key '%s': NULL string", key);
        put_str(b, v->str.ptr, v->str.len);
        return QL_OK;
    case GGUF_TYPE_ARRAY:
        break;
    default:
        return ql_fail(err, QL_ERR_ARG, "gguf writer: key '%s': unknown value type %d", key,
                       (int)v->type);
    }
    gguf_type et = v->arr.elem_type;
    uint64_t n = v->arr.n;
    if ((unsigned)et >= GGUF_TYPE_COUNT)
        return ql_fail(err, QL_ERR_ARG, "gguf writer: key '%s': unknown array element type %d", key,
                       (int)et);
    if (et == GGUF_TYPE_ARRAY && depth + 1 >= GGUF_MAX_ARRAY_DEPTH)
        return ql_fail(err, QL_ERR_ARG, "gguf writer: key '%s': arrays nested deeper than %d", key,
                       GGUF_MAX_ARRAY_DEPTH);
    put_u32(b, et);
    put_u64(b, n);
    if (is_scalar(et)) {
        size_t size = gguf_type_size(et);
        if (n && !v->arr.data)
            return ql_fail(err, QL_ERR_ARG, "gguf writer: key '%s': NULL array data", key);
        if (n > SIZE_MAX / size)
            return ql_fail(err, QL_ERR_ARG, "gguf writer: key '%s': %llu elements is too many", key,
                           (unsigned long long)n);
        put_raw(b, v->arr.data, (size_t)n * size);
        return QL_OK;
    }
    if (n && !v->arr.items)
        return ql_fail(err, QL_ERR_ARG, "gguf writer: key '%s': NULL array items", key);
    for (uint64_t i = 0; i < n && !b->oom; i++) {
        if (v->arr.items[i].type != et)
            return ql_fail(err, QL_ERR_ARG,
                           "gguf writer: key '%s': element %llu is a %s in an array of %s", key,
                           (unsigned long long)i, gguf_type_name(v->arr.items[i].type),
                           gguf_type_name(et));
        ql_status st = encode_value(b, &v->arr.items[i], depth + 1, key, err);
        if (st) return st;
    }
    return QL_OK;
}

ql_status gguf_writer_set_value(gguf_writer *w, const char *key, const gguf_value *v,
                                ql_error *err) {
    key = key ? key : ""; /* refused below as an empty key */
    bytes b = {0};
    ql_status st = encode_value(&b, v, 0, key, err);
    if (st) {
        free(b.p);
        return st;
    }
    return set_encoded(w, key, strlen(key), v->type, &b, err);
}

bool gguf_writer_remove(gguf_writer *w, const char *key) {
    if (w->state != STATE_BUILDING || !key) return false;
    int64_t i = index_find(w, &w->kv_index, kv_name, key, strlen(key));
    if (i < 0) return false;
    if (strcmp(key, "general.alignment") == 0) w->alignment = GGUF_DEFAULT_ALIGNMENT;
    free(w->kvs[i].key);
    free(w->kvs[i].value);
    memmove(&w->kvs[i], &w->kvs[i + 1], (size_t)(w->n_kv - i - 1) * sizeof *w->kvs);
    w->n_kv--;
    /* the keys after i moved down by one: re-place all in the same slots, no allocation */
    memset(w->kv_index.slot, 0, w->kv_index.cap * sizeof *w->kv_index.slot);
    for (int64_t k = 0; k < w->n_kv; k++) index_place(w, &w->kv_index, kv_name, k);
    return true;
}

ql_status gguf_writer_copy_kvs(gguf_writer *w, const gguf_file *src, const char *const *skip,
                               size_t n_skip, ql_error *err) {
    for (int64_t i = 0; i < gguf_n_kv(src); i++) {
        const gguf_kv *kv = gguf_kv_at(src, i);
        bool skipped = false;
        for (size_t s = 0; s < n_skip && !skipped; s++) skipped = gguf_str_eq(kv->key, skip[s]);
        if (skipped) continue;
        if (kv->raw_size > SIZE_MAX)
            return ql_fail(err, QL_ERR_NOMEM, "gguf writer: value too large");
        bytes b = {0};
        put_raw(&b, kv->raw, (size_t)kv->raw_size);
        ql_status st = set_encoded(w, kv->key.ptr, (size_t)kv->key.len, kv->value.type, &b, err);
        if (st) return st;
    }
    return QL_OK;
}

/* ---- tensors ---- */

static ql_status add_tensor(gguf_writer *w, const char *name, size_t name_len, ql_type type,
                            uint32_t n_dims, const int64_t *ne, const void *data, ql_error *err) {
    char nbuf[GGUF_MAX_NAME + 4];
    key_for_msg(name, name_len, nbuf, sizeof nbuf);
    if (w->state != STATE_BUILDING) return not_building(w, err, "add a tensor");
    if (name_len == 0) return ql_fail(err, QL_ERR_ARG, "gguf writer: empty tensor name");
    if (memchr(name, '\0', name_len))
        return ql_fail(err, QL_ERR_ARG, "gguf writer: tensor name '%s' holds a NUL byte", nbuf);
    if (name_len >= GGUF_MAX_NAME)
        return ql_fail(err, QL_ERR_ARG,
                       "gguf writer: tensor name '%s...' is %zu bytes; llama.cpp allows at most %d",
                       nbuf, name_len, GGUF_MAX_NAME - 1);
    if (index_find(w, &w->tensor_index, tensor_name, name, name_len) >= 0)
        return ql_fail(err, QL_ERR_ARG, "gguf writer: duplicate tensor name '%s'", nbuf);
    const ql_type_traits *tr = ql_type_traits_get((int)type);
    if (!tr)
        return ql_fail(err, QL_ERR_ARG, "gguf writer: tensor '%s': unknown type id %d", nbuf,
                       (int)type);
    if (n_dims > GGUF_MAX_DIMS)
        return ql_fail(err, QL_ERR_ARG, "gguf writer: tensor '%s': %u dimensions (at most %d)",
                       nbuf, n_dims, GGUF_MAX_DIMS);
    if (n_dims && !ne) return ql_fail(err, QL_ERR_ARG, "gguf writer: tensor '%s': no dims", nbuf);
    writer_tensor t = {.name_len = name_len, .n_dims = n_dims, .type = type, .data = data};
    memcpy(t.name, name, name_len);
    uint64_t n_el = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        t.ne[d] = (uint32_t)d < n_dims ? ne[d] : 1;
        if (t.ne[d] < 0)
            return ql_fail(err, QL_ERR_ARG, "gguf writer: tensor '%s': dimension %d is %lld", nbuf,
                           d, (long long)t.ne[d]);
        uint64_t v = (uint64_t)t.ne[d];
        if (v && n_el > (uint64_t)INT64_MAX / v)
            return ql_fail(err, QL_ERR_ARG, "gguf writer: tensor '%s': element count overflows",
                           nbuf);
        n_el *= v;
    }
    if (t.ne[0] % tr->block_size)
        return ql_fail(err, QL_ERR_ARG,
                       "gguf writer: tensor '%s': row length %lld is not a multiple of %s's block "
                       "size %lld",
                       nbuf, (long long)t.ne[0], tr->name, (long long)tr->block_size);
    uint64_t blocks = n_el / (uint64_t)tr->block_size;
    if (blocks > (uint64_t)INT64_MAX / tr->type_size)
        return ql_fail(err, QL_ERR_ARG, "gguf writer: tensor '%s': byte size overflows", nbuf);
    t.n_bytes = blocks * tr->type_size;
    if (w->n_tensors == w->cap_tensors) {
        int64_t cap = w->cap_tensors ? w->cap_tensors * 2 : 64;
        writer_tensor *ts = realloc(w->tensors, (size_t)cap * sizeof *ts);
        if (!ts) return ql_fail(err, QL_ERR_NOMEM, "gguf writer: out of memory");
        w->tensors = ts;
        w->cap_tensors = cap;
    }
    w->tensors[w->n_tensors] = t;
    if (!index_add(w, &w->tensor_index, tensor_name, w->n_tensors))
        return ql_fail(err, QL_ERR_NOMEM, "gguf writer: out of memory");
    w->n_tensors++;
    return QL_OK;
}

ql_status gguf_writer_add_tensor(gguf_writer *w, const char *name, ql_type type, uint32_t n_dims,
                                 const int64_t *ne, const void *data, ql_error *err) {
    if (!name) return ql_fail(err, QL_ERR_ARG, "gguf writer: NULL tensor name");
    return add_tensor(w, name, strlen(name), type, n_dims, ne, data, err);
}

ql_status gguf_writer_add_tensor_like(gguf_writer *w, const gguf_tensor *src, ql_type type,
                                      const void *data, ql_error *err) {
    if (src->name.len > SIZE_MAX) return ql_fail(err, QL_ERR_ARG, "gguf writer: name too long");
    return add_tensor(w, src->name.ptr, (size_t)src->name.len, type, src->n_dims, src->ne, data,
                      err);
}

/* ---- output ---- */

/* Ends the output for good: the message names the destination, the temporary file goes. */
__attribute__((format(printf, 4, 5))) static ql_status
fail_output(gguf_writer *w, ql_error *err, ql_status code, const char *fmt, ...) {
    char msg[QL_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ql_status st = ql_fail(err, code, "%s: %s", w->path ? w->path : "gguf writer", msg);
    discard_output(w);
    w->state = STATE_FAILED;
    return st;
}

static ql_status write_all(gguf_writer *w, const void *p, size_t n, ql_error *err) {
    const uint8_t *q = p;
    while (n > 0) {
        ssize_t k = write(w->fd, q, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return fail_output(w, err, QL_ERR_IO, "cannot write: %s", strerror(errno));
        }
        q += k;
        n -= (size_t)k;
    }
    return QL_OK;
}

static ql_status flush_out(gguf_writer *w, ql_error *err) {
    ql_status st = write_all(w, w->out, w->out_len, err);
    if (!st) w->out_len = 0;
    return st;
}

static ql_status emit(gguf_writer *w, const void *p, size_t n, ql_error *err) {
    w->written += n;
    if (w->out_len + n <= OUT_BUF_SIZE) {
        if (n) memcpy(w->out + w->out_len, p, n);
        w->out_len += n;
        return QL_OK;
    }
    ql_status st = flush_out(w, err);
    if (st) return st;
    if (n >= OUT_BUF_SIZE) return write_all(w, p, n, err);
    memcpy(w->out, p, n);
    w->out_len = n;
    return QL_OK;
}

static ql_status emit_padding(gguf_writer *w, ql_error *err) {
    static const uint8_t zeros[256];
    uint64_t pad = (w->alignment - w->written % w->alignment) % w->alignment;
    while (pad > 0) {
        size_t k = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
        ql_status st = emit(w, zeros, k, err);
        if (st) return st;
        pad -= k;
    }
    return QL_OK;
}

/* Writes every tensor, from the current one on, whose bytes the writer holds itself. */
static ql_status advance(gguf_writer *w, ql_error *err) {
    while (w->cur < w->n_tensors) {
        const writer_tensor *t = &w->tensors[w->cur];
        if (!t->data && t->n_bytes > 0) return QL_OK; /* the caller streams this one */
        if (t->n_bytes > 0) {
            if (t->n_bytes > SIZE_MAX)
                return fail_output(w, err, QL_ERR_UNSUPPORTED, "tensor too large");
            ql_status st = emit(w, t->data, (size_t)t->n_bytes, err);
            if (st) return st;
        }
        ql_status st = emit_padding(w, err);
        if (st) return st;
        w->cur++;
        w->cur_done = 0;
    }
    return QL_OK;
}

static uint64_t align_up(uint64_t v, uint64_t a, bool *overflow) {
    uint64_t r = v % a;
    if (r == 0) return v;
    if (v > UINT64_MAX - (a - r)) {
        *overflow = true;
        return v;
    }
    return v + (a - r);
}

static ql_status open_temp(gguf_writer *w, ql_error *err) {
    /* a file-size limit (ulimit -f) must be a write error we clean up after, not a signal
     * that kills the process and leaves the temporary file behind */
    signal(SIGXFSZ, SIG_IGN);
    /* what may be replaced, and the temporary name, follow the rules of every output */
    ql_status st = ql_output_target(w->path, &w->target, err);
    if (!st) st = ql_output_create_temp(w->path, w->target, O_WRONLY, &w->tmp_path, &w->fd, err);
    if (st) {
        discard_output(w);
        w->state = STATE_FAILED;
    }
    return st;
}

ql_status gguf_writer_begin(gguf_writer *w, const char *path, ql_error *err) {
    if (w->state != STATE_BUILDING) return not_building(w, err, "begin a file");
    if (!path || !*path) return ql_fail(err, QL_ERR_ARG, "gguf writer: empty output path");
    w->path = strdup(path);
    w->out = malloc(OUT_BUF_SIZE);
    if (!w->path || !w->out) return fail_output(w, err, QL_ERR_NOMEM, "out of memory");
    w->state = STATE_STREAMING;

    bool overflow = false;
    uint64_t offset = 0;
    for (int64_t i = 0; i < w->n_tensors; i++) {
        offset = align_up(offset, w->alignment, &overflow);
        w->tensors[i].offset = offset;
        if (offset > UINT64_MAX - w->tensors[i].n_bytes) overflow = true;
        offset += w->tensors[i].n_bytes;
    }
    if (overflow) return fail_output(w, err, QL_ERR_ARG, "the tensors' total size overflows");

    ql_status st = open_temp(w, err);
    if (st) return st;

    bytes h = {0};
    put_raw(&h, "GGUF", 4);
    put_u32(&h, 3);
    put_u64(&h, (uint64_t)w->n_tensors);
    put_u64(&h, (uint64_t)w->n_kv);
    for (int64_t i = 0; i < w->n_kv && !h.oom; i++) {
        const writer_kv *kv = &w->kvs[i];
        put_str(&h, kv->key, kv->key_len);
        put_u32(&h, kv->type);
        put_raw(&h, kv->value, kv->value_len);
    }
    for (int64_t i = 0; i < w->n_tensors && !h.oom; i++) {
        const writer_tensor *t = &w->tensors[i];
        put_str(&h, t->name, t->name_len);
        put_u32(&h, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(&h, (uint64_t)t->ne[d]);
        put_u32(&h, (uint32_t)t->type);
        put_u64(&h, t->offset);
    }
    if (h.oom) {
        free(h.p);
        return fail_output(w, err, QL_ERR_NOMEM, "out of memory for the header");
    }
    st = emit(w, h.p, h.len, err);
    free(h.p);
    if (!st) st = emit_padding(w, err);
    if (st) return st;
    w->data_start = w->written;
    w->cur = 0;
    w->cur_done = 0;
    return advance(w, err);
}

ql_status gguf_writer_write_data(gguf_writer *w, const void *data, size_t n, ql_error *err) {
    if (w->state != STATE_STREAMING)
        return ql_fail(err, QL_ERR_ARG, "gguf writer: write_data without a begun file%s",
                       w->state == STATE_FAILED ? " (it failed earlier)" : "");
    if (n == 0) return QL_OK;
    if (w->cur >= w->n_tensors) {
        return fail_output(w, err, QL_ERR_ARG,
                           "every tensor is complete, yet %zu more bytes were written", n);
    }
    const writer_tensor *t = &w->tensors[w->cur];
    uint64_t left = t->n_bytes - w->cur_done;
    if (n > left) {
        return fail_output(
            w, err, QL_ERR_ARG, "tensor '%s' is %llu bytes; %zu more after %llu would exceed it",
            t->name, (unsigned long long)t->n_bytes, n, (unsigned long long)w->cur_done);
    }
    if (!data) return fail_output(w, err, QL_ERR_ARG, "NULL data");
    ql_status st = emit(w, data, n, err);
    if (st) return st;
    w->cur_done += n;
    if (w->cur_done < t->n_bytes) return QL_OK;
    if ((st = emit_padding(w, err))) return st;
    w->cur++;
    w->cur_done = 0;
    return advance(w, err);
}

ql_status gguf_writer_finish(gguf_writer *w, ql_error *err) {
    if (w->state != STATE_STREAMING)
        return ql_fail(err, QL_ERR_ARG, "gguf writer: finish without a begun file%s",
                       w->state == STATE_FAILED ? " (it failed earlier)" : "");
    ql_status st = advance(w, err);
    if (st) return st;
    if (w->cur < w->n_tensors) {
        const writer_tensor *t = &w->tensors[w->cur];
        return fail_output(w, err, QL_ERR_ARG,
                           "incomplete: tensor '%s' (%lld of %lld) has %llu of its %llu bytes",
                           t->name, (long long)w->cur + 1, (long long)w->n_tensors,
                           (unsigned long long)w->cur_done, (unsigned long long)t->n_bytes);
    }
    if ((st = flush_out(w, err))) return st;
    /* the rename must not be able to publish a file whose blocks are not on disk yet */
    if (fsync(w->fd) != 0)
        return fail_output(w, err, QL_ERR_IO, "cannot sync: %s", strerror(errno));
    int rc = close(w->fd);
    w->fd = -1;
    if (rc != 0) return fail_output(w, err, QL_ERR_IO, "cannot close: %s", strerror(errno));
    if ((st = ql_output_recheck(w->path, w->target, err))) {
        discard_output(w);
        w->state = STATE_FAILED;
        return st;
    }
    if (rename(w->tmp_path, w->target) != 0)
        return fail_output(w, err, QL_ERR_IO, "cannot rename the temporary file into place: %s",
                           strerror(errno));
    free(w->tmp_path);
    w->tmp_path = NULL; /* it is the output now: discard_output must not unlink it */
    discard_output(w);
    w->state = STATE_DONE;
    return QL_OK;
}

ql_status gguf_writer_write_file(gguf_writer *w, const char *path, ql_error *err) {
    if (w->state != STATE_BUILDING) return not_building(w, err, "write a file");
    for (int64_t i = 0; i < w->n_tensors; i++)
        if (!w->tensors[i].data && w->tensors[i].n_bytes > 0)
            return ql_fail(err, QL_ERR_ARG,
                           "gguf writer: tensor '%s' has no data (stream it with "
                           "gguf_writer_begin/write_data/finish)",
                           w->tensors[i].name);
    ql_status st = gguf_writer_begin(w, path, err);
    if (!st) st = gguf_writer_finish(w, err);
    return st;
}
