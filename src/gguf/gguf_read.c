/*
 * gguf_read.c - the validating GGUF reader.
 *
 * Every count read from the file is checked against the bytes that remain
 * before anything is allocated for it, so a hostile header cannot make us
 * allocate or loop more than the file size allows, and nothing is quadratic
 * in a count the file controls. Errors name the file, the field and the
 * offending value, with names from the file escaped so that a message stays
 * one printable line. Never reads outside the mapping.
 */
#include "gguf.h"

#include "../core/json.h"
#include "../core/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct gguf_file {
    char *path;
    const uint8_t *base;
    uint64_t size;
    bool mapped;
    bool held; /* an input no output may replace while it is open (core/outfile.h) */
    uint64_t dev, ino;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;
    int64_t n_kv;
    gguf_kv *kvs;
    int64_t n_tensors;
    gguf_tensor *tensors;
};

typedef struct {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    const char *path;
    ql_error *err;
} cursor;

static uint64_t remaining(const cursor *c) {
    return c->size - c->pos;
}

/*
 * Key and tensor names come from the file: control characters, backslashes
 * and bytes that are not UTF-8 become \xNN, so a message stays one line of
 * text a terminal shows as it is. Long names are cut with "...".
 */
enum { PRINTABLE_MAX = 200 };
static char *printable(gguf_str s, char *buf, size_t size) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    uint64_t i = 0;
    while (i < s.len) {
        unsigned char ch = (unsigned char)s.ptr[i];
        size_t n = ql_utf8_sequence_length(s.ptr + i, (size_t)(s.len - i < 4 ? s.len - i : 4));
        if (o + 8 >= size) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (n == 0 || ch < 0x20 || ch == 0x7f || ch == '\\') {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[ch >> 4];
            buf[o++] = hex[ch & 15];
            i++;
        } else {
            memcpy(buf + o, s.ptr + i, n);
            o += n;
            i += n;
        }
    }
    buf[o] = '\0';
    return buf;
}

static ql_status truncated(cursor *c, const char *what) {
    return ql_fail(c->err, QL_ERR_FORMAT,
                   "%s: truncated file: %s at offset %llu needs more than the %llu bytes left",
                   c->path, what, (unsigned long long)c->pos, (unsigned long long)remaining(c));
}

static ql_status read_bytes(cursor *c, void *dst, uint64_t n, const char *what) {
    if (remaining(c) < n) return truncated(c, what);
    memcpy(dst, c->base + c->pos, n);
    c->pos += n;
    return QL_OK;
}

static ql_status read_u32(cursor *c, uint32_t *v, const char *what) {
    uint8_t b[4] = {0};
    ql_status st = read_bytes(c, b, 4, what);
    if (st) return st;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return QL_OK;
}

static ql_status read_u64(cursor *c, uint64_t *v, const char *what) {
    uint32_t lo, hi;
    ql_status st = read_u32(c, &lo, what);
    if (!st) st = read_u32(c, &hi, what);
    if (!st) *v = (uint64_t)hi << 32 | lo;
    return st;
}

static ql_status read_str(cursor *c, gguf_str *s, const char *what) {
    uint64_t len;
    ql_status st = read_u64(c, &len, what);
    if (st) return st;
    if (len > remaining(c))
        return ql_fail(c->err, QL_ERR_FORMAT,
                       "%s: %s at offset %llu: string length %llu exceeds the %llu bytes left "
                       "(truncated or corrupt)",
                       c->path, what, (unsigned long long)(c->pos - 8), (unsigned long long)len,
                       (unsigned long long)remaining(c));
    s->len = len;
    s->ptr = (const char *)c->base + c->pos;
    c->pos += len;
    return QL_OK;
}

size_t gguf_type_size(gguf_type t) {
    switch (t) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_BOOL:
        return 1;
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_INT16:
        return 2;
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_FLOAT32:
        return 4;
    case GGUF_TYPE_UINT64:
    case GGUF_TYPE_INT64:
    case GGUF_TYPE_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

const char *gguf_type_name(gguf_type t) {
    static const char *names[] = {"u8",   "i8",  "u16", "i16", "u32", "i32", "f32",
                                  "bool", "str", "arr", "u64", "i64", "f64"};
    return (unsigned)t < GGUF_TYPE_COUNT ? names[t] : "unknown";
}

const char *gguf_file_type_name(uint32_t file_type) {
    /* the values of llama.cpp's llama_ftype; gaps are values it never used */
    static const char *const names[] = {
        [0] = "ALL_F32",          [1] = "MOSTLY_F16",           [2] = "MOSTLY_Q4_0",
        [3] = "MOSTLY_Q4_1",      [4] = "MOSTLY_Q4_1_SOME_F16", [5] = "MOSTLY_Q4_2",
        [6] = "MOSTLY_Q4_3",      [7] = "MOSTLY_Q8_0",          [8] = "MOSTLY_Q5_0",
        [9] = "MOSTLY_Q5_1",      [10] = "MOSTLY_Q2_K",         [11] = "MOSTLY_Q3_K_S",
        [12] = "MOSTLY_Q3_K_M",   [13] = "MOSTLY_Q3_K_L",       [14] = "MOSTLY_Q4_K_S",
        [15] = "MOSTLY_Q4_K_M",   [16] = "MOSTLY_Q5_K_S",       [17] = "MOSTLY_Q5_K_M",
        [18] = "MOSTLY_Q6_K",     [19] = "MOSTLY_IQ2_XXS",      [20] = "MOSTLY_IQ2_XS",
        [21] = "MOSTLY_Q2_K_S",   [22] = "MOSTLY_IQ3_XS",       [23] = "MOSTLY_IQ3_XXS",
        [24] = "MOSTLY_IQ1_S",    [25] = "MOSTLY_IQ4_NL",       [26] = "MOSTLY_IQ3_S",
        [27] = "MOSTLY_IQ3_M",    [28] = "MOSTLY_IQ2_S",        [29] = "MOSTLY_IQ2_M",
        [30] = "MOSTLY_IQ4_XS",   [31] = "MOSTLY_IQ1_M",        [32] = "MOSTLY_BF16",
        [33] = "MOSTLY_Q4_0_4_4", [34] = "MOSTLY_Q4_0_4_8",     [35] = "MOSTLY_Q4_0_8_8",
        [36] = "MOSTLY_TQ1_0",    [37] = "MOSTLY_TQ2_0",        [38] = "MOSTLY_MXFP4_MOE",
        [39] = "MOSTLY_NVFP4",    [40] = "MOSTLY_Q1_0",
    };
    return file_type < sizeof names / sizeof names[0] ? names[file_type] : NULL;
}

/* Decodes a scalar of type t at p (little-endian) into v. */
static void decode_scalar(gguf_type t, const uint8_t *p, gguf_value *v) {
    uint64_t raw = 0;
    size_t n = gguf_type_size(t);
    for (size_t i = 0; i < n; i++) raw |= (uint64_t)p[i] << (8 * i);
    v->type = t;
    switch (t) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_UINT64:
        v->u64 = raw;
        break;
    case GGUF_TYPE_INT8:
        v->i64 = (int8_t)raw;
        break;
    case GGUF_TYPE_INT16:
        v->i64 = (int16_t)raw;
        break;
    case GGUF_TYPE_INT32:
        v->i64 = (int32_t)raw;
        break;
    case GGUF_TYPE_INT64:
        v->i64 = (int64_t)raw;
        break;
    case GGUF_TYPE_FLOAT32: {
        uint32_t b = (uint32_t)raw;
        float f;
        memcpy(&f, &b, 4);
        v->f64 = f;
        break;
    }
    case GGUF_TYPE_FLOAT64:
        memcpy(&v->f64, &raw, 8);
        break;
    case GGUF_TYPE_BOOL:
        v->b = raw != 0;
        break;
    default:
        break;
    }
}

static void free_value(gguf_value *v) {
    if (v->type != GGUF_TYPE_ARRAY || !v->arr.items) return;
    if (v->arr.elem_type == GGUF_TYPE_ARRAY)
        for (uint64_t i = 0; i < v->arr.n; i++) free_value(&v->arr.items[i]);
    free(v->arr.items);
    v->arr.items = NULL;
}

static ql_status read_value(cursor *c, gguf_type t, gguf_value *v, int depth, const char *key);

static ql_status read_array(cursor *c, gguf_value *v, int depth, const char *key) {
    uint32_t elem;
    uint64_t n;
    ql_status st = read_u32(c, &elem, "array element type");
    if (!st) st = read_u64(c, &n, "array length");
    if (st) return st;
    v->type = GGUF_TYPE_ARRAY;
    v->arr.elem_type = (gguf_type)elem;
    v->arr.n = 0;
    v->arr.data = c->base + c->pos;
    v->arr.items = NULL;
    if (elem >= GGUF_TYPE_COUNT)
        return ql_fail(c->err, QL_ERR_FORMAT, "%s: key '%s': unknown array element type %u",
                       c->path, key, elem);
    if (elem == GGUF_TYPE_ARRAY && depth + 1 >= GGUF_MAX_ARRAY_DEPTH)
        return ql_fail(c->err, QL_ERR_FORMAT, "%s: key '%s': arrays nested deeper than %d", c->path,
                       key, GGUF_MAX_ARRAY_DEPTH);
    /* the smallest encoding of one element bounds how many can fit */
    uint64_t min_size = elem == GGUF_TYPE_STRING  ? 8
                        : elem == GGUF_TYPE_ARRAY ? 12
                                                  : gguf_type_size((gguf_type)elem);
    if (n > remaining(c) / min_size)
        return ql_fail(c->err, QL_ERR_FORMAT,
                       "%s: key '%s': array length %llu does not fit in the %llu bytes left "
                       "(truncated or corrupt)",
                       c->path, key, (unsigned long long)n, (unsigned long long)remaining(c));
    v->arr.n = n;
    if (elem != GGUF_TYPE_STRING && elem != GGUF_TYPE_ARRAY) {
        c->pos += n * min_size;
        return QL_OK;
    }
    v->arr.items = calloc(n ? n : 1, sizeof *v->arr.items);
    if (!v->arr.items) {
        v->arr.n = 0;
        return ql_fail(c->err, QL_ERR_NOMEM, "%s: key '%s': out of memory for %llu array items",
                       c->path, key, (unsigned long long)n);
    }
    for (uint64_t i = 0; i < n; i++) {
        st = read_value(c, (gguf_type)elem, &v->arr.items[i], depth + 1, key);
        if (st) {
            v->arr.n = i + 1; /* free what was decoded, including a partial nested array */
            return st;
        }
    }
    return QL_OK;
}

static ql_status read_value(cursor *c, gguf_type t, gguf_value *v, int depth, const char *key) {
    if (t == GGUF_TYPE_STRING) {
        v->type = t;
        return read_str(c, &v->str, "string value");
    }
    if (t == GGUF_TYPE_ARRAY) return read_array(c, v, depth, key);
    size_t n = gguf_type_size(t);
    if (n == 0)
        return ql_fail(c->err, QL_ERR_FORMAT, "%s: key '%s': unknown value type %u", c->path, key,
                       (unsigned)t);
    if (remaining(c) < n) return truncated(c, "value");
    decode_scalar(t, c->base + c->pos, v);
    c->pos += n;
    return QL_OK;
}

static int cmp_offset(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int cmp_str(gguf_str a, gguf_str b) {
    if (a.len != b.len) return a.len < b.len ? -1 : 1;
    return a.len ? memcmp(a.ptr, b.ptr, (size_t)a.len) : 0;
}

static int cmp_kv_key(const void *a, const void *b) {
    return cmp_str((*(const gguf_kv *const *)a)->key, (*(const gguf_kv *const *)b)->key);
}

static int cmp_tensor_name(const void *a, const void *b) {
    return cmp_str((*(const gguf_tensor *const *)a)->name, (*(const gguf_tensor *const *)b)->name);
}

/* Sorting pointers finds duplicates in n log n: a hostile file may hold millions of names. */
static ql_status check_unique_keys(gguf_file *f, ql_error *err) {
    if (f->n_kv < 2) return QL_OK;
    const gguf_kv **order = malloc((size_t)f->n_kv * sizeof *order);
    if (!order) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", f->path);
    for (int64_t i = 0; i < f->n_kv; i++) order[i] = &f->kvs[i];
    qsort(order, (size_t)f->n_kv, sizeof *order, cmp_kv_key);
    ql_status st = QL_OK;
    for (int64_t i = 1; i < f->n_kv; i++) {
        if (cmp_str(order[i - 1]->key, order[i]->key) == 0) {
            char key[PRINTABLE_MAX];
            st = ql_fail(err, QL_ERR_FORMAT, "%s: duplicate key '%s'", f->path,
                         printable(order[i]->key, key, sizeof key));
            break;
        }
    }
    free(order);
    return st;
}

static ql_status check_unique_names(gguf_file *f, ql_error *err) {
    if (f->n_tensors < 2) return QL_OK;
    const gguf_tensor **order = malloc((size_t)f->n_tensors * sizeof *order);
    if (!order) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", f->path);
    for (int64_t i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
    qsort(order, (size_t)f->n_tensors, sizeof *order, cmp_tensor_name);
    ql_status st = QL_OK;
    for (int64_t i = 1; i < f->n_tensors; i++) {
        if (cmp_str(order[i - 1]->name, order[i]->name) == 0) {
            char name[PRINTABLE_MAX];
            st = ql_fail(err, QL_ERR_FORMAT, "%s: duplicate tensor name '%s'", f->path,
                         printable(order[i]->name, name, sizeof name));
            break;
        }
    }
    free(order);
    return st;
}

static ql_status parse(gguf_file *f, ql_error *err) {
    cursor cur = {.base = f->base, .size = f->size, .pos = 0, .path = f->path, .err = err};
    cursor *c = &cur;
    uint32_t magic, version;
    ql_status st = read_u32(c, &magic, "magic");
    if (st) return st;
    if (magic != GGUF_MAGIC)
        return ql_fail(err, QL_ERR_FORMAT, "%s: not a GGUF file (magic 0x%08x, expected 0x%08x)",
                       f->path, magic, GGUF_MAGIC);
    if ((st = read_u32(c, &version, "version"))) return st;
    if (version == 0x02000000u || version == 0x03000000u)
        return ql_fail(err, QL_ERR_UNSUPPORTED, "%s: big-endian GGUF files are not supported",
                       f->path);
    if (version != 2 && version != 3)
        return ql_fail(err, QL_ERR_UNSUPPORTED,
                       "%s: GGUF version %u is not supported (only 2 and 3)", f->path, version);
    f->version = version;
    uint64_t n_tensors, n_kv;
    if ((st = read_u64(c, &n_tensors, "tensor count"))) return st;
    if ((st = read_u64(c, &n_kv, "key-value count"))) return st;
    /* smallest key-value: 8-byte key length + 4-byte type + 1-byte value */
    if (n_kv > remaining(c) / 13)
        return ql_fail(err, QL_ERR_FORMAT,
                       "%s: key-value count %llu cannot fit in a file of %llu bytes (truncated "
                       "or corrupt)",
                       f->path, (unsigned long long)n_kv, (unsigned long long)f->size);
    /* smallest tensor info: name length 8 + n_dims 4 + type 4 + offset 8 */
    if (n_tensors > remaining(c) / 24)
        return ql_fail(err, QL_ERR_FORMAT,
                       "%s: tensor count %llu cannot fit in a file of %llu bytes (truncated "
                       "or corrupt)",
                       f->path, (unsigned long long)n_tensors, (unsigned long long)f->size);

    f->kvs = calloc(n_kv ? n_kv : 1, sizeof *f->kvs);
    f->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *f->tensors);
    if (!f->kvs || !f->tensors) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", f->path);

    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < n_kv; i++) {
        gguf_kv *kv = &f->kvs[i];
        uint32_t type;
        uint64_t key_at = c->pos;
        if ((st = read_str(c, &kv->key, "key"))) return st;
        f->n_kv = (int64_t)i + 1;
        char key[PRINTABLE_MAX];
        printable(kv->key, key, sizeof key);
        /* llama.cpp refuses empty keys, so a file with one is not a usable model */
        if (kv->key.len == 0)
            return ql_fail(err, QL_ERR_FORMAT, "%s: key %llu at offset %llu is empty", f->path,
                           (unsigned long long)i, (unsigned long long)key_at);
        if ((st = read_u32(c, &type, "value type"))) return st;
        if (type >= GGUF_TYPE_COUNT)
            return ql_fail(err, QL_ERR_FORMAT, "%s: key '%s': unknown value type %u", f->path, key,
                           type);
        kv->raw = c->base + c->pos;
        if ((st = read_value(c, (gguf_type)type, &kv->value, 0, key))) return st;
        kv->raw_size = (uint64_t)(c->base + c->pos - kv->raw);
        if (gguf_str_eq(kv->key, "general.alignment")) {
            uint64_t a = 0;
            if (kv->value.type != GGUF_TYPE_UINT32)
                return ql_fail(err, QL_ERR_FORMAT, "%s: general.alignment must be a u32, not %s",
                               f->path, gguf_type_name(kv->value.type));
            gguf_value_as_u64(&kv->value, &a);
            if (a == 0 || (a & (a - 1)) != 0)
                return ql_fail(err, QL_ERR_FORMAT,
                               "%s: general.alignment %llu is not a power of two", f->path,
                               (unsigned long long)a);
            f->alignment = a;
        }
    }
    if ((st = check_unique_keys(f, err))) return st;

    for (uint64_t i = 0; i < n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        if ((st = read_str(c, &t->name, "tensor name"))) return st;
        f->n_tensors = (int64_t)i + 1;
        char name[PRINTABLE_MAX];
        printable(t->name, name, sizeof name);
        if ((st = read_u32(c, &t->n_dims, "tensor dimension count"))) return st;
        if (t->n_dims > GGUF_MAX_DIMS)
            return ql_fail(err, QL_ERR_FORMAT, "%s: tensor '%s': %u dimensions (at most %d)",
                           f->path, name, t->n_dims, GGUF_MAX_DIMS);
        for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            uint64_t ne;
            if ((st = read_u64(c, &ne, "tensor dimension"))) return st;
            if (ne > (uint64_t)INT64_MAX)
                return ql_fail(err, QL_ERR_FORMAT, "%s: tensor '%s': dimension %u is %llu", f->path,
                               name, d, (unsigned long long)ne);
            t->ne[d] = (int64_t)ne;
        }
        uint32_t type;
        if ((st = read_u32(c, &type, "tensor type"))) return st;
        const ql_type_traits *tr = ql_type_traits_get((int)type);
        if (!tr)
            return ql_fail(err, QL_ERR_FORMAT, "%s: tensor '%s': unknown type id %u", f->path, name,
                           type);
        t->type = (ql_type)type;
        if ((st = read_u64(c, &t->offset, "tensor data offset"))) return st;

        /* element count and byte size without overflow */
        uint64_t n_el = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) {
            uint64_t ne = (uint64_t)t->ne[d];
            if (ne != 0 && n_el > (uint64_t)INT64_MAX / ne)
                return ql_fail(err, QL_ERR_FORMAT,
                               "%s: tensor '%s': element count overflows (dims %lld x %lld x "
                               "%lld x %lld)",
                               f->path, name, (long long)t->ne[0], (long long)t->ne[1],
                               (long long)t->ne[2], (long long)t->ne[3]);
            n_el *= ne;
        }
        if (t->ne[0] % tr->block_size != 0)
            return ql_fail(err, QL_ERR_FORMAT,
                           "%s: tensor '%s': row length %lld is not a multiple of %s's block "
                           "size %lld",
                           f->path, name, (long long)t->ne[0], tr->name, (long long)tr->block_size);
        uint64_t blocks = n_el / (uint64_t)tr->block_size;
        if (blocks > UINT64_MAX / tr->type_size || blocks * tr->type_size > f->size)
            return ql_fail(err, QL_ERR_FORMAT,
                           "%s: tensor '%s': %llu elements of %s need more bytes than the file "
                           "holds (%llu)",
                           f->path, name, (unsigned long long)n_el, tr->name,
                           (unsigned long long)f->size);
        t->n_bytes = blocks * tr->type_size;
    }
    if ((st = check_unique_names(f, err))) return st;

    uint64_t data_offset = c->pos;
    uint64_t pad = (f->alignment - data_offset % f->alignment) % f->alignment;
    if (n_tensors > 0 && data_offset + pad > f->size)
        return ql_fail(err, QL_ERR_FORMAT, "%s: truncated file: the data section is missing",
                       f->path);
    f->data_offset = data_offset + pad;
    uint64_t data_size = f->size > f->data_offset ? f->size - f->data_offset : 0;

    for (int64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        char name[PRINTABLE_MAX];
        printable(t->name, name, sizeof name);
        if (t->offset % f->alignment != 0)
            return ql_fail(err, QL_ERR_FORMAT,
                           "%s: tensor '%s': data offset %llu is not a multiple of the "
                           "alignment %llu",
                           f->path, name, (unsigned long long)t->offset,
                           (unsigned long long)f->alignment);
        if (t->offset > data_size || t->n_bytes > data_size - t->offset)
            return ql_fail(
                err, QL_ERR_FORMAT,
                "%s: tensor '%s': data [%llu, %llu) lies past the end of the file, whose "
                "data section holds %llu bytes (truncated or corrupt)",
                f->path, name, (unsigned long long)t->offset,
                (unsigned long long)(t->offset + t->n_bytes), (unsigned long long)data_size);
        t->data = f->base + f->data_offset + t->offset;
    }

    if (f->n_tensors > 1) {
        gguf_tensor **order = malloc((size_t)f->n_tensors * sizeof *order);
        if (!order) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", f->path);
        for (int64_t i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
        qsort(order, (size_t)f->n_tensors, sizeof *order, cmp_offset);
        /* sorted by offset, each non-empty tensor need only clear the previous non-empty one;
           empty tensors hold no bytes and cannot overlap anything */
        const gguf_tensor *a = NULL;
        for (int64_t i = 0; i < f->n_tensors; i++) {
            const gguf_tensor *b = order[i];
            if (b->n_bytes == 0) continue;
            if (a && a->offset + a->n_bytes > b->offset) {
                char na[PRINTABLE_MAX], nb[PRINTABLE_MAX];
                printable(a->name, na, sizeof na);
                printable(b->name, nb, sizeof nb);
                free(order);
                return ql_fail(
                    err, QL_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap (offsets %llu and %llu)",
                    f->path, na, nb, (unsigned long long)a->offset, (unsigned long long)b->offset);
            }
            a = b;
        }
        free(order);
    }
    return QL_OK;
}

static gguf_file *new_file(const char *path) {
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->path = strdup(path);
    if (!f->path) {
        free(f);
        return NULL;
    }
    return f;
}

static ql_status parse_or_close(gguf_file *f, gguf_file **out, ql_error *err) {
    ql_status st = parse(f, err);
    if (st) {
        gguf_close(f);
        return st;
    }
    *out = f;
    return QL_OK;
}

ql_status gguf_open(const char *path, gguf_file **out, ql_error *err) {
    *out = NULL;
    gguf_file *f = new_file(path);
    if (!f) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        ql_status st = ql_fail(err, QL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        gguf_close(f);
        return st;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        ql_status st = ql_fail(err, QL_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        gguf_close(f);
        return st;
    }
    if (!S_ISREG(sb.st_mode)) {
        ql_status st = ql_fail(err, QL_ERR_IO, "%s: %s, not a GGUF file", path,
                               S_ISDIR(sb.st_mode) ? "is a directory" : "not a regular file");
        close(fd);
        gguf_close(f);
        return st;
    }
    f->size = (uint64_t)sb.st_size;
    if (f->size == 0) {
        close(fd);
        gguf_close(f);
        return ql_fail(err, QL_ERR_FORMAT, "%s: empty file, not a GGUF file", path);
    }
    if (f->size > SIZE_MAX) {
        close(fd);
        gguf_close(f);
        return ql_fail(err, QL_ERR_UNSUPPORTED, "%s: too large to map on this system", path);
    }
    void *map = mmap(NULL, (size_t)f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        ql_status st = ql_fail(err, QL_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        gguf_close(f);
        return st;
    }
    f->base = map;
    f->mapped = true;
    f->dev = (uint64_t)sb.st_dev;
    f->ino = (uint64_t)sb.st_ino;
    f->held = true;
    ql_input_hold(f->dev, f->ino);
    return parse_or_close(f, out, err);
}

ql_status gguf_open_memory(const void *data, size_t size, const char *name, gguf_file **out,
                           ql_error *err) {
    *out = NULL;
    if (!name) name = "<memory>";
    if (size == 0) return ql_fail(err, QL_ERR_FORMAT, "%s: empty file, not a GGUF file", name);
    if (!data) return ql_fail(err, QL_ERR_ARG, "%s: no buffer", name);
    gguf_file *f = new_file(name);
    if (!f) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", name);
    f->base = data;
    f->size = size;
    return parse_or_close(f, out, err);
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    for (int64_t i = 0; i < f->n_kv; i++) free_value(&f->kvs[i].value);
    free(f->kvs);
    free(f->tensors);
    if (f->mapped) munmap((void *)f->base, (size_t)f->size);
    if (f->held) ql_input_release(f->dev, f->ino);
    free(f->path);
    free(f);
}

const char *gguf_path(const gguf_file *f) {
    return f->path;
}
uint32_t gguf_version(const gguf_file *f) {
    return f->version;
}
uint64_t gguf_file_size(const gguf_file *f) {
    return f->size;
}
uint64_t gguf_alignment(const gguf_file *f) {
    return f->alignment;
}
uint64_t gguf_data_offset(const gguf_file *f) {
    return f->data_offset;
}
int64_t gguf_n_kv(const gguf_file *f) {
    return f->n_kv;
}
int64_t gguf_n_tensors(const gguf_file *f) {
    return f->n_tensors;
}

const gguf_kv *gguf_kv_at(const gguf_file *f, int64_t i) {
    return i >= 0 && i < f->n_kv ? &f->kvs[i] : NULL;
}

const gguf_tensor *gguf_tensor_at(const gguf_file *f, int64_t i) {
    return i >= 0 && i < f->n_tensors ? &f->tensors[i] : NULL;
}

bool gguf_str_eq(gguf_str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

char *gguf_str_copy(gguf_str s, char *buf, size_t size) {
    if (size == 0) return buf;
    size_t n = s.len < size - 1 ? (size_t)s.len : size - 1;
    memcpy(buf, s.ptr, n);
    buf[n] = '\0';
    return buf;
}

const gguf_value *gguf_find(const gguf_file *f, const char *key) {
    for (int64_t i = 0; i < f->n_kv; i++)
        if (gguf_str_eq(f->kvs[i].key, key)) return &f->kvs[i].value;
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    for (int64_t i = 0; i < f->n_tensors; i++)
        if (gguf_str_eq(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

int64_t gguf_tensor_nelements(const gguf_tensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

static bool is_unsigned(gguf_type t) {
    return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_UINT32 ||
           t == GGUF_TYPE_UINT64;
}

static bool is_signed(gguf_type t) {
    return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 ||
           t == GGUF_TYPE_INT64;
}

bool gguf_value_as_u64(const gguf_value *v, uint64_t *out) {
    if (!v) return false;
    if (is_unsigned(v->type)) return *out = v->u64, true;
    if (is_signed(v->type) && v->i64 >= 0) return *out = (uint64_t)v->i64, true;
    return false;
}

bool gguf_value_as_i64(const gguf_value *v, int64_t *out) {
    if (!v) return false;
    if (is_signed(v->type)) return *out = v->i64, true;
    if (is_unsigned(v->type) && v->u64 <= (uint64_t)INT64_MAX) return *out = (int64_t)v->u64, true;
    return false;
}

bool gguf_value_as_f64(const gguf_value *v, double *out) {
    if (!v) return false;
    if (v->type == GGUF_TYPE_FLOAT32 || v->type == GGUF_TYPE_FLOAT64) return *out = v->f64, true;
    if (is_signed(v->type)) return *out = (double)v->i64, true;
    if (is_unsigned(v->type)) return *out = (double)v->u64, true;
    return false;
}

bool gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out) {
    return gguf_value_as_u64(gguf_find(f, key), out);
}

bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out) {
    uint64_t v;
    if (!gguf_get_u64(f, key, &v) || v > UINT32_MAX) return false;
    *out = (uint32_t)v;
    return true;
}

bool gguf_get_i64(const gguf_file *f, const char *key, int64_t *out) {
    return gguf_value_as_i64(gguf_find(f, key), out);
}

bool gguf_get_f32(const gguf_file *f, const char *key, float *out) {
    double d;
    if (!gguf_value_as_f64(gguf_find(f, key), &d)) return false;
    *out = (float)d;
    return true;
}

bool gguf_get_bool(const gguf_file *f, const char *key, bool *out) {
    const gguf_value *v = gguf_find(f, key);
    if (!v || v->type != GGUF_TYPE_BOOL) return false;
    *out = v->b;
    return true;
}

bool gguf_get_str(const gguf_file *f, const char *key, gguf_str *out) {
    const gguf_value *v = gguf_find(f, key);
    if (!v || v->type != GGUF_TYPE_STRING) return false;
    *out = v->str;
    return true;
}

const gguf_value *gguf_get_arr(const gguf_file *f, const char *key) {
    const gguf_value *v = gguf_find(f, key);
    return v && v->type == GGUF_TYPE_ARRAY ? v : NULL;
}

static bool arr_elem(const gguf_value *arr, uint64_t i, gguf_value *out) {
    if (!arr || arr->type != GGUF_TYPE_ARRAY || i >= arr->arr.n) return false;
    size_t sz = gguf_type_size(arr->arr.elem_type);
    if (sz == 0) return false;
    decode_scalar(arr->arr.elem_type, arr->arr.data + i * sz, out);
    return true;
}

bool gguf_arr_get(const gguf_value *arr, uint64_t i, gguf_value *out) {
    if (!arr || arr->type != GGUF_TYPE_ARRAY || i >= arr->arr.n) return false;
    if (arr->arr.items) {
        *out = arr->arr.items[i];
        return true;
    }
    return arr_elem(arr, i, out);
}

bool gguf_arr_get_i64(const gguf_value *arr, uint64_t i, int64_t *out) {
    gguf_value v;
    return arr_elem(arr, i, &v) && gguf_value_as_i64(&v, out);
}

bool gguf_arr_get_f64(const gguf_value *arr, uint64_t i, double *out) {
    gguf_value v;
    return arr_elem(arr, i, &v) && gguf_value_as_f64(&v, out);
}
