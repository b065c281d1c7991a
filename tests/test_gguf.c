/*
 * test_gguf.c - the GGUF reader and writer.
 *
 * Truth comes from outside src/gguf: the synthetic models (made by
 * ../shared/tools/synth_gguf.py, sha256-checked by `make synth`) and
 * llama.cpp's tokenizer GGUFs must come back from read -> write -> read with
 * the same key-values and tensor bytes, and the written file must be the
 * original byte for byte plus only the zero padding llama.cpp's own writer
 * appends; a file built from scratch must equal bytes assembled by hand from
 * the specification (gguf_bytes.c); and broken files assembled by hand must
 * be refused with the right message, never read out of bounds (run these
 * under SANITIZE=1).
 */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "gguf_bytes.h"
#include "test.h"

/* ------------------------------------------------------------------ helpers */

static bool values_equal(const gguf_value *a, const gguf_value *b) {
    if (a->type != b->type) return false;
    switch (a->type) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_UINT64:
        return a->u64 == b->u64;
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_INT16:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_INT64:
        return a->i64 == b->i64;
    case GGUF_TYPE_FLOAT32:
    case GGUF_TYPE_FLOAT64:
        return memcmp(&a->f64, &b->f64, sizeof a->f64) == 0; /* NaN, -0 */
    case GGUF_TYPE_BOOL:
        return a->b == b->b;
    case GGUF_TYPE_STRING:
        return a->str.len == b->str.len &&
               (a->str.len == 0 || memcmp(a->str.ptr, b->str.ptr, a->str.len) == 0);
    case GGUF_TYPE_ARRAY:
        break;
    default:
        return false;
    }
    if (a->arr.elem_type != b->arr.elem_type || a->arr.n != b->arr.n) return false;
    size_t size = gguf_type_size(a->arr.elem_type);
    if (a->arr.n == 0) return true;
    if (size) return memcmp(a->arr.data, b->arr.data, (size_t)a->arr.n * size) == 0;
    for (uint64_t i = 0; i < a->arr.n; i++)
        if (!values_equal(&a->arr.items[i], &b->arr.items[i])) return false;
    return true;
}

/* Same key-values (order, types, values) and same tensors (names, shapes, types, bytes). */
static void check_same_contents(ql_test_ctx *t, const gguf_file *a, const gguf_file *b,
                                const char *what) {
    CHECK_MSG(gguf_n_kv(a) == gguf_n_kv(b), "%s: %lld vs %lld key-values", what,
              (long long)gguf_n_kv(a), (long long)gguf_n_kv(b));
    for (int64_t i = 0; i < gguf_n_kv(a) && i < gguf_n_kv(b); i++) {
        const gguf_kv *x = gguf_kv_at(a, i), *y = gguf_kv_at(b, i);
        char key[128];
        gguf_str_copy(x->key, key, sizeof key);
        CHECK_MSG(x->key.len == y->key.len && memcmp(x->key.ptr, y->key.ptr, x->key.len) == 0,
                  "%s: key %lld differs (%s)", what, (long long)i, key);
        CHECK_MSG(values_equal(&x->value, &y->value), "%s: value of %s differs", what, key);
    }
    CHECK_MSG(gguf_n_tensors(a) == gguf_n_tensors(b), "%s: %lld vs %lld tensors", what,
              (long long)gguf_n_tensors(a), (long long)gguf_n_tensors(b));
    for (int64_t i = 0; i < gguf_n_tensors(a) && i < gguf_n_tensors(b); i++) {
        const gguf_tensor *x = gguf_tensor_at(a, i), *y = gguf_tensor_at(b, i);
        char name[128];
        gguf_str_copy(x->name, name, sizeof name);
        CHECK_MSG(x->name.len == y->name.len && memcmp(x->name.ptr, y->name.ptr, x->name.len) == 0,
                  "%s: tensor %lld name differs (%s)", what, (long long)i, name);
        CHECK_MSG(x->n_dims == y->n_dims && memcmp(x->ne, y->ne, sizeof x->ne) == 0 &&
                      x->type == y->type && x->n_bytes == y->n_bytes,
                  "%s: tensor %s shape or type differs", what, name);
        CHECK_MSG(x->n_bytes == y->n_bytes && memcmp(x->data, y->data, x->n_bytes) == 0,
                  "%s: tensor %s bytes differ", what, name);
    }
}

typedef enum { COPY_RAW, COPY_DECODED } copy_mode;

/* Writes src to path through the writer: key-values copied raw or re-encoded from values. */
static bool rewrite(ql_test_ctx *t, const gguf_file *src, const char *path, copy_mode mode) {
    gguf_writer *w;
    ql_error err;
    if (gguf_writer_create(&w, &err) != QL_OK) {
        CHECK_MSG(false, "%s", err.msg);
        return false;
    }
    bool ok = true;
    if (mode == COPY_RAW) {
        ok = gguf_writer_copy_kvs(w, src, NULL, 0, &err) == QL_OK;
    } else {
        for (int64_t i = 0; i < gguf_n_kv(src) && ok; i++) {
            const gguf_kv *kv = gguf_kv_at(src, i);
            char key[512];
            gguf_str_copy(kv->key, key, sizeof key);
            ok = gguf_writer_set_value(w, key, &kv->value, &err) == QL_OK;
        }
    }
    for (int64_t i = 0; i < gguf_n_tensors(src) && ok; i++) {
        const gguf_tensor *x = gguf_tensor_at(src, i);
        ok = gguf_writer_add_tensor_like(w, x, x->type, x->data, &err) == QL_OK;
    }
    if (ok) ok = gguf_writer_write_file(w, path, &err) == QL_OK;
    CHECK_MSG(ok, "writing %s: %s", path, err.msg);
    gguf_writer_free(w);
    return ok;
}

/* new must be orig followed by fewer than `alignment` zero bytes, ending on a multiple of it. */
static void check_is_original_plus_padding(ql_test_ctx *t, const char *orig_path,
                                           const char *new_path, size_t alignment) {
    size_t n_orig, n_new;
    unsigned char *orig = ql_test_read_file(orig_path, &n_orig);
    unsigned char *out = ql_test_read_file(new_path, &n_new);
    if (!orig || !out) {
        CHECK_MSG(false, "cannot read %s or %s", orig_path, new_path);
    } else {
        CHECK_MSG(n_new >= n_orig && n_new - n_orig < alignment && n_new % alignment == 0,
                  "%s: %zu bytes, original %zu", new_path, n_new, n_orig);
        size_t first_diff = 0;
        while (first_diff < n_orig && first_diff < n_new && orig[first_diff] == out[first_diff])
            first_diff++;
        CHECK_MSG(first_diff == n_orig, "%s differs from %s at byte %zu", new_path, orig_path,
                  first_diff);
        for (size_t i = n_orig; i < n_new; i++)
            CHECK_MSG(out[i] == 0, "%s: padding byte %zu is %u", new_path, i, out[i]);
    }
    free(orig);
    free(out);
}

static void roundtrip_file(ql_test_ctx *t, const char *src_path, const char *out_path,
                           copy_mode mode) {
    ql_error err;
    gguf_file *src, *back;
    REQUIRE_MSG(gguf_open(src_path, &src, &err) == QL_OK, "%s", err.msg);
    if (rewrite(t, src, out_path, mode)) {
        if (gguf_open(out_path, &back, &err) == QL_OK) {
            check_same_contents(t, src, back, out_path);
            CHECK_EQ_INT(gguf_version(back), 3);
            CHECK_EQ_INT(gguf_alignment(back), gguf_alignment(src));
            gguf_close(back);
        } else {
            CHECK_MSG(false, "reading back: %s", err.msg);
        }
        check_is_original_plus_padding(t, src_path, out_path, (size_t)gguf_alignment(src));
    }
    gguf_close(src);
}

static bool file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Entries in dir other than . and .. */
static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static const char *path_in(const char *dir, const char *name) {
    static char bufs[4][1024];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

/* --------------------------------------------------------------- round trips */

static const char *const synth_archs[] = {"llama", "qwen2", "qwen3", "gemma3"};

QL_TEST(gguf_roundtrip_synth_models) {
    const char *dir = ql_test_tmpdir(t);
    for (size_t i = 0; i < 4; i++) {
        const char *src = ql_test_synth_model(synth_archs[i]);
        if (!file_exists(src)) SKIP("%s is missing: run 'make synth'", src);
        char out[1024];
        snprintf(out, sizeof out, "%s/%s.gguf", dir, synth_archs[i]);
        roundtrip_file(t, src, out, COPY_RAW);
    }
}

static const char *const vocab_files[] = {"deepseek-coder", "falcon", "gpt-2",
                                          "llama-spm",      "phi-3",  "starcoder"};

QL_TEST(gguf_roundtrip_tokenizer_files) {
    const char *dir = ql_test_tmpdir(t);
    for (size_t i = 0; i < sizeof vocab_files / sizeof vocab_files[0]; i++) {
        char rel[256], out[1024];
        snprintf(rel, sizeof rel, "golden/tokenizer/ggml-vocab-%s.gguf", vocab_files[i]);
        snprintf(out, sizeof out, "%s/%s.gguf", dir, vocab_files[i]);
        roundtrip_file(t, ql_test_shared_path(rel), out, COPY_RAW);
    }
}

/* Re-encoding every decoded value (instead of copying its bytes) gives the same file. */
QL_TEST(gguf_roundtrip_through_decoded_values) {
    const char *dir = ql_test_tmpdir(t);
    char out[1024];
    snprintf(out, sizeof out, "%s/spm.gguf", dir);
    roundtrip_file(t, ql_test_shared_path("golden/tokenizer/ggml-vocab-llama-spm.gguf"), out,
                   COPY_DECODED);
    snprintf(out, sizeof out, "%s/deepseek.gguf", dir);
    roundtrip_file(t, ql_test_shared_path("golden/tokenizer/ggml-vocab-deepseek-coder.gguf"), out,
                   COPY_DECODED);
    const char *src = ql_test_synth_model("gemma3");
    if (!file_exists(src)) SKIP("%s is missing: run 'make synth'", src);
    snprintf(out, sizeof out, "%s/gemma3.gguf", dir);
    roundtrip_file(t, src, out, COPY_DECODED);
}

QL_TEST(gguf_open_memory_matches_open) {
    const char *path = ql_test_shared_path("golden/tokenizer/ggml-vocab-gpt-2.gguf");
    size_t size;
    unsigned char *buf = ql_test_read_file(path, &size);
    REQUIRE(buf);
    ql_error err;
    gguf_file *a, *b;
    REQUIRE_MSG(gguf_open(path, &a, &err) == QL_OK, "%s", err.msg);
    REQUIRE_MSG(gguf_open_memory(buf, size, "gpt2-in-memory", &b, &err) == QL_OK, "%s", err.msg);
    check_same_contents(t, a, b, "memory vs mmap");
    CHECK(strcmp(gguf_path(b), "gpt2-in-memory") == 0);
    const gguf_value *tokens = gguf_get_arr(b, "tokenizer.ggml.tokens");
    REQUIRE(tokens);
    CHECK_EQ_INT(tokens->arr.n, 50257);
    CHECK(tokens->arr.items[0].type == GGUF_TYPE_STRING &&
          gguf_str_eq(tokens->arr.items[0].str, "!"));
    gguf_close(a);
    gguf_close(b);
    free(buf);
}

/* ------------------------------------------------ a file built from scratch */

/* Raw little-endian element bytes, independent of the host's byte order. */
static const uint8_t u32_12[] = {1, 0, 0, 0, 2, 0, 0, 0};
static const uint8_t u32_3[] = {3, 0, 0, 0};
static const uint8_t i16_7[] = {7, 0};

static gguf_value scalar_arr(gguf_type et, const void *raw, uint64_t n) {
    gguf_value v = {.type = GGUF_TYPE_ARRAY};
    v.arr.elem_type = et;
    v.arr.n = n;
    v.arr.data = raw;
    return v;
}

static gguf_value item_arr(gguf_type et, gguf_value *items, uint64_t n) {
    gguf_value v = {.type = GGUF_TYPE_ARRAY};
    v.arr.elem_type = et;
    v.arr.n = n;
    v.arr.items = items;
    return v;
}

static gguf_value str_value(const char *s) {
    gguf_value v = {.type = GGUF_TYPE_STRING};
    v.str.ptr = s;
    v.str.len = strlen(s);
    return v;
}

static const float vec_f32[4] = {1.0f, -2.5f, 0.0f, 3.25f};

/* Adds every kind of key-value and five tensors to w. */
static ql_status build_everything(gguf_writer *w, const uint8_t *q4_0, const uint8_t *q4_k,
                                  const int8_t *i8, ql_error *err) {
    ql_status st = QL_OK;
#define DO(call)                                                                                   \
    do {                                                                                           \
        if (!st) st = (call);                                                                      \
    } while (0)
    DO(gguf_writer_set_u8(w, "t.u8", 255, err));
    DO(gguf_writer_set_i8(w, "t.i8", -128, err));
    DO(gguf_writer_set_u16(w, "t.u16", 65535, err));
    DO(gguf_writer_set_i16(w, "t.i16", -32768, err));
    DO(gguf_writer_set_u32(w, "t.u32", 4294967295u, err));
    DO(gguf_writer_set_i32(w, "t.i32", INT32_MIN, err));
    DO(gguf_writer_set_f32(w, "t.f32", -1.5f, err));
    DO(gguf_writer_set_bool(w, "t.bool", true, err));
    DO(gguf_writer_set_str(w, "t.str", "hello", err));
    DO(gguf_writer_set_u64(w, "t.u64", UINT64_MAX, err));
    DO(gguf_writer_set_i64(w, "t.i64", INT64_MIN, err));
    DO(gguf_writer_set_f64(w, "t.f64", 1.0 / 3.0, err));
    DO(gguf_writer_set_str_n(w, "t.bytes", "a\0b\xff\n", 5, err));
    DO(gguf_writer_set_str(w, "t.empty", "", err));
    const uint8_t au8[] = {1, 2, 3};
    const int8_t ai8[] = {-1, 0, 1};
    const uint16_t au16[] = {1, 65535};
    const int16_t ai16[] = {-2, 2};
    const uint32_t au32[] = {7, 8, 9};
    const int32_t ai32[] = {-7};
    const float af32[] = {0.5f, -0.0f, INFINITY};
    const bool abool[] = {true, false, true};
    const uint64_t au64[] = {UINT64_MAX, 0};
    const int64_t ai64[] = {INT64_MIN};
    const double af64[] = {2.0, -0.25};
    DO(gguf_writer_set_arr(w, "a.u8", GGUF_TYPE_UINT8, au8, 3, err));
    DO(gguf_writer_set_arr(w, "a.i8", GGUF_TYPE_INT8, ai8, 3, err));
    DO(gguf_writer_set_arr(w, "a.u16", GGUF_TYPE_UINT16, au16, 2, err));
    DO(gguf_writer_set_arr(w, "a.i16", GGUF_TYPE_INT16, ai16, 2, err));
    DO(gguf_writer_set_arr(w, "a.u32", GGUF_TYPE_UINT32, au32, 3, err));
    DO(gguf_writer_set_arr(w, "a.i32", GGUF_TYPE_INT32, ai32, 1, err));
    DO(gguf_writer_set_arr(w, "a.f32", GGUF_TYPE_FLOAT32, af32, 3, err));
    DO(gguf_writer_set_arr(w, "a.bool", GGUF_TYPE_BOOL, abool, 3, err));
    DO(gguf_writer_set_arr(w, "a.u64", GGUF_TYPE_UINT64, au64, 2, err));
    DO(gguf_writer_set_arr(w, "a.i64", GGUF_TYPE_INT64, ai64, 1, err));
    DO(gguf_writer_set_arr(w, "a.f64", GGUF_TYPE_FLOAT64, af64, 2, err));
    DO(gguf_writer_set_arr(w, "a.empty", GGUF_TYPE_UINT32, NULL, 0, err));
    const char *strs[] = {"x", "", "yz"};
    DO(gguf_writer_set_arr_str(w, "a.str", strs, 3, err));

    /* [[1, 2], [3]] of u32 */
    gguf_value inner_u32[2] = {scalar_arr(GGUF_TYPE_UINT32, u32_12, 2),
                               scalar_arr(GGUF_TYPE_UINT32, u32_3, 1)};
    gguf_value nested_u32 = item_arr(GGUF_TYPE_ARRAY, inner_u32, 2);
    DO(gguf_writer_set_value(w, "n.u32", &nested_u32, err));
    /* [["a"], ["b", "c"], []] */
    gguf_value s_a[1] = {str_value("a")}, s_bc[2] = {str_value("b"), str_value("c")};
    gguf_value inner_str[3] = {item_arr(GGUF_TYPE_STRING, s_a, 1),
                               item_arr(GGUF_TYPE_STRING, s_bc, 2),
                               item_arr(GGUF_TYPE_STRING, NULL, 0)};
    gguf_value nested_str = item_arr(GGUF_TYPE_ARRAY, inner_str, 3);
    DO(gguf_writer_set_value(w, "n.str", &nested_str, err));
    /* [[[7]]] of i16 */
    gguf_value level2[1] = {scalar_arr(GGUF_TYPE_INT16, i16_7, 1)};
    gguf_value level1[1] = {item_arr(GGUF_TYPE_ARRAY, level2, 1)};
    gguf_value deep = item_arr(GGUF_TYPE_ARRAY, level1, 1);
    DO(gguf_writer_set_value(w, "n.deep", &deep, err));
    gguf_value empty_nested = item_arr(GGUF_TYPE_ARRAY, NULL, 0);
    DO(gguf_writer_set_value(w, "n.empty", &empty_nested, err));

    const int64_t ne_vec[1] = {4}, ne_q4[2] = {32, 2}, ne_empty[2] = {0, 5},
                  ne_i8[4] = {2, 1, 3, 1}, ne_k[1] = {256};
    DO(gguf_writer_add_tensor(w, "f32.vec", QL_TYPE_F32, 1, ne_vec, vec_f32, err));
    DO(gguf_writer_add_tensor(w, "q4_0.mat", QL_TYPE_Q4_0, 2, ne_q4, q4_0, err));
    DO(gguf_writer_add_tensor(w, "empty", QL_TYPE_F16, 2, ne_empty, NULL, err));
    DO(gguf_writer_add_tensor(w, "i8.4d", QL_TYPE_I8, 4, ne_i8, i8, err));
    DO(gguf_writer_add_tensor(w, "q4_K.row", QL_TYPE_Q4_K, 1, ne_k, q4_k, err));
#undef DO
    return st;
}

/* The same file, assembled by hand from the specification. */
static void expected_everything(tb_buf *b, const uint8_t *q4_0, const uint8_t *q4_k,
                                const int8_t *i8) {
    tb_header(b, 3, 5, 31);
#define KEY(k, type) (tb_str(b, k), tb_u32(b, type))
    KEY("t.u8", 0), tb_u8(b, 255);
    KEY("t.i8", 1), tb_u8(b, 0x80);
    KEY("t.u16", 2), tb_u16(b, 65535);
    KEY("t.i16", 3), tb_u16(b, 0x8000);
    KEY("t.u32", 4), tb_u32(b, 4294967295u);
    KEY("t.i32", 5), tb_u32(b, 0x80000000u);
    KEY("t.f32", 6), tb_f32(b, -1.5f);
    KEY("t.bool", 7), tb_u8(b, 1);
    KEY("t.str", 8), tb_str(b, "hello");
    KEY("t.u64", 10), tb_u64(b, UINT64_MAX);
    KEY("t.i64", 11), tb_u64(b, 0x8000000000000000ull);
    KEY("t.f64", 12), tb_f64(b, 1.0 / 3.0);
    KEY("t.bytes", 8), tb_str_n(b, "a\0b\xff\n", 5);
    KEY("t.empty", 8), tb_str(b, "");
    KEY("a.u8", 9), tb_u32(b, 0), tb_u64(b, 3), tb_u8(b, 1), tb_u8(b, 2), tb_u8(b, 3);
    KEY("a.i8", 9), tb_u32(b, 1), tb_u64(b, 3), tb_u8(b, 0xff), tb_u8(b, 0), tb_u8(b, 1);
    KEY("a.u16", 9), tb_u32(b, 2), tb_u64(b, 2), tb_u16(b, 1), tb_u16(b, 65535);
    KEY("a.i16", 9), tb_u32(b, 3), tb_u64(b, 2), tb_u16(b, 0xfffe), tb_u16(b, 2);
    KEY("a.u32", 9), tb_u32(b, 4), tb_u64(b, 3), tb_u32(b, 7), tb_u32(b, 8), tb_u32(b, 9);
    KEY("a.i32", 9), tb_u32(b, 5), tb_u64(b, 1), tb_u32(b, 0xfffffff9u);
    KEY("a.f32", 9), tb_u32(b, 6), tb_u64(b, 3), tb_f32(b, 0.5f), tb_u32(b, 0x80000000u),
        tb_u32(b, 0x7f800000u);
    KEY("a.bool", 9), tb_u32(b, 7), tb_u64(b, 3), tb_u8(b, 1), tb_u8(b, 0), tb_u8(b, 1);
    KEY("a.u64", 9), tb_u32(b, 10), tb_u64(b, 2), tb_u64(b, UINT64_MAX), tb_u64(b, 0);
    KEY("a.i64", 9), tb_u32(b, 11), tb_u64(b, 1), tb_u64(b, 0x8000000000000000ull);
    KEY("a.f64", 9), tb_u32(b, 12), tb_u64(b, 2), tb_f64(b, 2.0), tb_f64(b, -0.25);
    KEY("a.empty", 9), tb_u32(b, 4), tb_u64(b, 0);
    KEY("a.str", 9), tb_u32(b, 8), tb_u64(b, 3), tb_str(b, "x"), tb_str(b, ""), tb_str(b, "yz");
    KEY("n.u32", 9), tb_u32(b, 9), tb_u64(b, 2);
    tb_u32(b, 4), tb_u64(b, 2), tb_u32(b, 1), tb_u32(b, 2);
    tb_u32(b, 4), tb_u64(b, 1), tb_u32(b, 3);
    KEY("n.str", 9), tb_u32(b, 9), tb_u64(b, 3);
    tb_u32(b, 8), tb_u64(b, 1), tb_str(b, "a");
    tb_u32(b, 8), tb_u64(b, 2), tb_str(b, "b"), tb_str(b, "c");
    tb_u32(b, 8), tb_u64(b, 0);
    KEY("n.deep", 9), tb_u32(b, 9), tb_u64(b, 1), tb_u32(b, 9), tb_u64(b, 1), tb_u32(b, 3),
        tb_u64(b, 1), tb_u16(b, 7);
    KEY("n.empty", 9), tb_u32(b, 9), tb_u64(b, 0);
#undef KEY
    /* data: f32.vec 16 bytes at 0, q4_0.mat 36 at 32, empty 0 at 96, i8.4d 6 at 96,
       q4_K.row 144 at 128; each followed by zeros to the next multiple of 32 */
    const uint64_t ne_vec[1] = {4}, ne_q4[2] = {32, 2}, ne_empty[2] = {0, 5},
                   ne_i8[4] = {2, 1, 3, 1}, ne_k[1] = {256};
    tb_tensor_info(b, "f32.vec", 1, ne_vec, 0, 0);
    tb_tensor_info(b, "q4_0.mat", 2, ne_q4, 2, 32);
    tb_tensor_info(b, "empty", 2, ne_empty, 1, 96);
    tb_tensor_info(b, "i8.4d", 4, ne_i8, 24, 96);
    tb_tensor_info(b, "q4_K.row", 1, ne_k, 12, 128);
    tb_pad(b, 32);
    for (int i = 0; i < 4; i++) tb_f32(b, vec_f32[i]);
    tb_pad(b, 32);
    tb_raw(b, q4_0, 36);
    tb_pad(b, 32);
    tb_raw(b, i8, 6);
    tb_pad(b, 32);
    tb_raw(b, q4_k, 144);
    tb_pad(b, 32);
}

static void fill_pattern(uint8_t *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed + 37 * i + (i >> 3));
}

QL_TEST(gguf_write_every_kv_type_matches_hand_built_bytes) {
    const char *dir = ql_test_tmpdir(t);
    uint8_t q4_0[36], q4_k[144];
    int8_t i8[6] = {-128, -1, 0, 1, 2, 127};
    fill_pattern(q4_0, sizeof q4_0, 1);
    fill_pattern(q4_k, sizeof q4_k, 2);
    gguf_writer *w;
    ql_error err;
    REQUIRE(gguf_writer_create(&w, &err) == QL_OK);
    ql_status st = build_everything(w, q4_0, q4_k, i8, &err);
    REQUIRE_MSG(st == QL_OK, "%s", err.msg);
    CHECK_EQ_INT(gguf_writer_n_kv(w), 31);
    CHECK_EQ_INT(gguf_writer_n_tensors(w), 5);
    CHECK_EQ_INT(gguf_writer_tensor_size(w, 4), 144);
    const char *path = path_in(dir, "everything.gguf");
    st = gguf_writer_write_file(w, path, &err);
    gguf_writer_free(w);
    REQUIRE_MSG(st == QL_OK, "%s", err.msg);

    tb_buf want = {0};
    expected_everything(&want, q4_0, q4_k, i8);
    size_t n;
    unsigned char *got = ql_test_read_file(path, &n);
    REQUIRE(got);
    size_t diff = 0;
    while (diff < n && diff < want.len && got[diff] == want.p[diff]) diff++;
    CHECK_MSG(n == want.len && diff == n,
              "written %zu bytes, expected %zu; first difference at %zu", n, want.len, diff);
    free(got);
    tb_free(&want);
    CHECK_EQ_INT(count_entries(dir), 1); /* no temporary file left behind */

    /* and the reader decodes each of them */
    gguf_file *f;
    REQUIRE_MSG(gguf_open(path, &f, &err) == QL_OK, "%s", err.msg);
    uint64_t u;
    int64_t i;
    float fl;
    bool bo;
    gguf_str s;
    CHECK(gguf_get_u64(f, "t.u8", &u) && u == 255);
    CHECK(gguf_get_i64(f, "t.i8", &i) && i == -128);
    CHECK(gguf_get_u64(f, "t.u16", &u) && u == 65535);
    CHECK(gguf_get_i64(f, "t.i16", &i) && i == -32768);
    CHECK(gguf_get_u64(f, "t.u32", &u) && u == 4294967295u);
    CHECK(gguf_get_i64(f, "t.i32", &i) && i == INT32_MIN);
    CHECK(gguf_get_f32(f, "t.f32", &fl) && fl == -1.5f);
    CHECK(gguf_get_bool(f, "t.bool", &bo) && bo);
    CHECK(gguf_get_str(f, "t.str", &s) && gguf_str_eq(s, "hello"));
    CHECK(gguf_get_u64(f, "t.u64", &u) && u == UINT64_MAX);
    CHECK(gguf_get_i64(f, "t.i64", &i) && i == INT64_MIN);
    CHECK(gguf_find(f, "t.f64") && gguf_find(f, "t.f64")->f64 == 1.0 / 3.0);
    CHECK(gguf_get_str(f, "t.bytes", &s) && s.len == 5 && memcmp(s.ptr, "a\0b\xff\n", 5) == 0);
    CHECK(gguf_get_str(f, "t.empty", &s) && s.len == 0);
    const gguf_value *a = gguf_get_arr(f, "a.i16");
    CHECK(a && a->arr.elem_type == GGUF_TYPE_INT16 && gguf_arr_get_i64(a, 0, &i) && i == -2);
    a = gguf_get_arr(f, "a.f32");
    double d;
    CHECK(a && gguf_arr_get_f64(a, 2, &d) && isinf(d) && gguf_arr_get_f64(a, 1, &d) && d == 0 &&
          signbit(d));
    a = gguf_get_arr(f, "a.bool");
    gguf_value e;
    CHECK(a && gguf_arr_get(a, 1, &e) && e.type == GGUF_TYPE_BOOL && !e.b);
    a = gguf_get_arr(f, "a.str");
    CHECK(a && a->arr.n == 3 && gguf_str_eq(a->arr.items[2].str, "yz") &&
          a->arr.items[1].str.len == 0);
    gguf_value s_a[1] = {str_value("a")}, s_bc[2] = {str_value("b"), str_value("c")};
    gguf_value inner_str[3] = {item_arr(GGUF_TYPE_STRING, s_a, 1),
                               item_arr(GGUF_TYPE_STRING, s_bc, 2),
                               item_arr(GGUF_TYPE_STRING, NULL, 0)};
    gguf_value nested_str = item_arr(GGUF_TYPE_ARRAY, inner_str, 3);
    CHECK(gguf_find(f, "n.str") && values_equal(gguf_find(f, "n.str"), &nested_str));
    a = gguf_get_arr(f, "n.deep");
    CHECK(a && a->arr.n == 1 && a->arr.items[0].arr.items[0].arr.elem_type == GGUF_TYPE_INT16 &&
          gguf_arr_get_i64(&a->arr.items[0].arr.items[0], 0, &i) && i == 7);
    a = gguf_get_arr(f, "n.u32");
    CHECK(a && a->arr.n == 2 && gguf_arr_get_i64(&a->arr.items[0], 1, &i) && i == 2 &&
          gguf_arr_get_i64(&a->arr.items[1], 0, &i) && i == 3);
    CHECK_EQ_INT(gguf_n_tensors(f), 5);
    const gguf_tensor *k = gguf_find_tensor(f, "q4_K.row");
    CHECK(k && k->type == QL_TYPE_Q4_K && k->n_bytes == 144 && memcmp(k->data, q4_k, 144) == 0);
    const gguf_tensor *e4 = gguf_find_tensor(f, "i8.4d");
    CHECK(e4 && e4->n_dims == 4 && e4->ne[2] == 3 && memcmp(e4->data, i8, 6) == 0);
    gguf_close(f);
}

/* ------------------------------------------------------------- streaming */

/* Four tensors, two of them streamed in 7-byte pieces, give the same file as in one go. */
QL_TEST(gguf_write_streaming_matches_in_memory) {
    const char *dir = ql_test_tmpdir(t);
    static uint8_t data[4][1000];
    for (int i = 0; i < 4; i++) fill_pattern(data[i], sizeof data[i], (unsigned)i * 11 + 3);
    const int64_t ne[4][2] = {{250, 1}, {64, 3}, {100, 5}, {256, 1}};
    const ql_type types[4] = {QL_TYPE_F32, QL_TYPE_Q8_0, QL_TYPE_F16, QL_TYPE_Q6_K};
    const char *names[4] = {"one", "two", "three", "four"};
    ql_error err;
    const char *whole = path_in(dir, "whole.gguf"), *streamed = path_in(dir, "streamed.gguf");
    for (int pass = 0; pass < 2; pass++) {
        gguf_writer *w;
        REQUIRE(gguf_writer_create(&w, &err) == QL_OK);
        REQUIRE(gguf_writer_set_str(w, "general.architecture", "llama", &err) == QL_OK);
        REQUIRE(gguf_writer_set_u32(w, "general.alignment", 64, &err) == QL_OK);
        for (int i = 0; i < 4; i++) {
            bool stream = pass == 1 && (i == 1 || i == 2);
            REQUIRE_MSG(gguf_writer_add_tensor(w, names[i], types[i], 2, ne[i],
                                               stream ? NULL : data[i], &err) == QL_OK,
                        "%s", err.msg);
        }
        if (pass == 0) {
            REQUIRE_MSG(gguf_writer_write_file(w, whole, &err) == QL_OK, "%s", err.msg);
        } else {
            REQUIRE_MSG(gguf_writer_begin(w, streamed, &err) == QL_OK, "%s", err.msg);
            CHECK(!file_exists(streamed)); /* only the temporary file exists until finish */
            for (int i = 1; i <= 2; i++) {
                uint64_t size = gguf_writer_tensor_size(w, i);
                for (uint64_t at = 0; at < size; at += 7) {
                    size_t k = size - at < 7 ? (size_t)(size - at) : 7;
                    REQUIRE_MSG(gguf_writer_write_data(w, data[i] + at, k, &err) == QL_OK, "%s",
                                err.msg);
                }
            }
            REQUIRE_MSG(gguf_writer_finish(w, &err) == QL_OK, "%s", err.msg);
        }
        gguf_writer_free(w);
    }
    size_t na, nb;
    unsigned char *a = ql_test_read_file(whole, &na), *b = ql_test_read_file(streamed, &nb);
    REQUIRE(a && b);
    CHECK_MSG(na == nb && memcmp(a, b, na) == 0, "streamed file differs (%zu vs %zu bytes)", nb,
              na);
    free(a);
    free(b);
    CHECK_EQ_INT(count_entries(dir), 2);
    gguf_file *f;
    REQUIRE_MSG(gguf_open(streamed, &f, &err) == QL_OK, "%s", err.msg);
    CHECK_EQ_INT(gguf_alignment(f), 64);
    CHECK_EQ_INT(gguf_data_offset(f) % 64, 0);
    CHECK_EQ_INT(gguf_file_size(f) % 64, 0);
    uint64_t expect_offset = 0;
    for (int i = 0; i < 4; i++) {
        const gguf_tensor *x = gguf_tensor_at(f, i);
        /* llama.cpp's layout: each tensor right after the previous, rounded up to the alignment */
        CHECK_EQ_INT(x->offset, expect_offset);
        CHECK(memcmp(x->data, data[i], x->n_bytes) == 0);
        expect_offset = (x->offset + x->n_bytes + 63) / 64 * 64;
    }
    gguf_close(f);
}

/* A writer with one streamed 32-byte f32 tensor between two held ones. */
static gguf_writer *three_tensor_writer(ql_test_ctx *t, const float *held) {
    gguf_writer *w;
    ql_error err;
    const int64_t ne[1] = {8};
    if (gguf_writer_create(&w, &err) != QL_OK) return NULL;
    bool ok = gguf_writer_set_str(w, "general.architecture", "llama", &err) == QL_OK &&
              gguf_writer_add_tensor(w, "a", QL_TYPE_F32, 1, ne, held, &err) == QL_OK &&
              gguf_writer_add_tensor(w, "b", QL_TYPE_F32, 1, ne, NULL, &err) == QL_OK &&
              gguf_writer_add_tensor(w, "c", QL_TYPE_F32, 1, ne, held, &err) == QL_OK;
    CHECK_MSG(ok, "%s", err.msg);
    if (!ok) {
        gguf_writer_free(w);
        return NULL;
    }
    return w;
}

static void check_old_output_intact(ql_test_ctx *t, const char *dir, const char *out) {
    size_t n;
    unsigned char *old = ql_test_read_file(out, &n);
    CHECK_MSG(old && n == 3 && memcmp(old, "old", 3) == 0, "%s was changed", out);
    free(old);
    CHECK_MSG(count_entries(dir) == 1, "%d files in %s: a temporary file was left behind",
              count_entries(dir), dir);
}

QL_TEST(gguf_write_failure_leaves_no_partial_output) {
    const char *dir = ql_test_tmpdir(t);
    const char *out = path_in(dir, "out.gguf");
    REQUIRE(ql_test_write_file(out, "old", 3));
    float held[8] = {0}, more[9] = {0};
    ql_error err;

    /* too many bytes for the streamed tensor */
    gguf_writer *w = three_tensor_writer(t, held);
    REQUIRE(w);
    REQUIRE(gguf_writer_begin(w, out, &err) == QL_OK);
    CHECK(gguf_writer_write_data(w, more, sizeof more, &err) == QL_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "out.gguf") && strstr(err.msg, "'b'"), "message: %s", err.msg);
    check_old_output_intact(t, dir, out);
    CHECK(gguf_writer_write_data(w, more, 4, &err) != QL_OK); /* failed for good */
    CHECK(gguf_writer_finish(w, &err) != QL_OK);
    check_old_output_intact(t, dir, out);
    gguf_writer_free(w);

    /* finish before the streamed tensor is complete */
    w = three_tensor_writer(t, held);
    REQUIRE(w);
    REQUIRE(gguf_writer_begin(w, out, &err) == QL_OK);
    CHECK(gguf_writer_write_data(w, more, 16, &err) == QL_OK);
    CHECK(gguf_writer_finish(w, &err) == QL_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "incomplete") && strstr(err.msg, "16 of its 32"), "message: %s",
              err.msg);
    check_old_output_intact(t, dir, out);
    gguf_writer_free(w);

    /* abandoned half way: freeing the writer removes its temporary file */
    w = three_tensor_writer(t, held);
    REQUIRE(w);
    REQUIRE(gguf_writer_begin(w, out, &err) == QL_OK);
    CHECK_EQ_INT(count_entries(dir), 2);
    gguf_writer_free(w);
    check_old_output_intact(t, dir, out);

    /* write_file with a tensor that has no data: refused before anything is created */
    w = three_tensor_writer(t, held);
    REQUIRE(w);
    CHECK(gguf_writer_write_file(w, out, &err) == QL_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "'b' has no data"), "message: %s", err.msg);
    check_old_output_intact(t, dir, out);
    gguf_writer_free(w);

    /* bytes after every tensor is complete */
    w = three_tensor_writer(t, held);
    REQUIRE(w);
    REQUIRE(gguf_writer_begin(w, out, &err) == QL_OK);
    CHECK(gguf_writer_write_data(w, more, 32, &err) == QL_OK);
    CHECK(gguf_writer_write_data(w, more, 1, &err) == QL_ERR_ARG);
    check_old_output_intact(t, dir, out);
    gguf_writer_free(w);

    /* a directory that does not exist */
    w = three_tensor_writer(t, held);
    REQUIRE(w);
    const char *nowhere = path_in(dir, "no/such/dir/out.gguf");
    CHECK(gguf_writer_begin(w, nowhere, &err) == QL_ERR_IO);
    CHECK_MSG(strstr(err.msg, "no/such/dir/out.gguf") && strstr(err.msg, "No such file"),
              "message: %s", err.msg);
    gguf_writer_free(w);
    check_old_output_intact(t, dir, out);

    /* the destination is a directory: refused before anything is written */
    const char *subdir = path_in(dir, "taken");
    REQUIRE(mkdir(subdir, 0755) == 0);
    w = three_tensor_writer(t, held);
    REQUIRE(w);
    CHECK(gguf_writer_begin(w, subdir, &err) == QL_ERR_IO);
    CHECK_MSG(strstr(err.msg, "taken") && strstr(err.msg, "is a directory"), "message: %s",
              err.msg);
    gguf_writer_free(w);
    CHECK_EQ_INT(count_entries(dir), 2); /* out.gguf and the directory */
    CHECK_EQ_INT(count_entries(subdir), 0);

    /* ... and if one takes its place while the file is written, the final rename fails and
     * the temporary file goes */
    const char *late = path_in(dir, "late");
    w = three_tensor_writer(t, held);
    REQUIRE(w);
    REQUIRE(gguf_writer_begin(w, late, &err) == QL_OK);
    REQUIRE(mkdir(late, 0755) == 0);
    CHECK(gguf_writer_write_data(w, more, 32, &err) == QL_OK);
    CHECK(gguf_writer_finish(w, &err) == QL_ERR_IO);
    CHECK_MSG(strstr(err.msg, "rename"), "message: %s", err.msg);
    gguf_writer_free(w);
    CHECK_EQ_INT(count_entries(dir), 3); /* out.gguf and the two directories */
    CHECK_EQ_INT(count_entries(late), 0);
    rmdir(late);

    /* and the success case replaces the old file */
    w = three_tensor_writer(t, held);
    REQUIRE(w);
    REQUIRE(gguf_writer_begin(w, out, &err) == QL_OK);
    CHECK(gguf_writer_write_data(w, more, 32, &err) == QL_OK);
    CHECK_MSG(gguf_writer_finish(w, &err) == QL_OK, "%s", err.msg);
    CHECK(gguf_writer_set_u32(w, "late", 1, &err) == QL_ERR_ARG); /* the file is written */
    gguf_writer_free(w);
    gguf_file *f;
    CHECK_MSG(gguf_open(out, &f, &err) == QL_OK, "%s", err.msg);
    if (f) gguf_close(f);
}

/* ----------------------------------------------------------- key-values */

static void check_key_order(ql_test_ctx *t, const char *path, const char *const *keys, int n) {
    gguf_file *f;
    ql_error err;
    REQUIRE_MSG(gguf_open(path, &f, &err) == QL_OK, "%s", err.msg);
    CHECK_EQ_INT(gguf_n_kv(f), n);
    for (int i = 0; i < n && i < gguf_n_kv(f); i++) {
        char key[128];
        CHECK_MSG(gguf_str_eq(gguf_kv_at(f, i)->key, keys[i]), "key %d is %s, expected %s", i,
                  gguf_str_copy(gguf_kv_at(f, i)->key, key, sizeof key), keys[i]);
    }
    gguf_close(f);
}

QL_TEST(gguf_write_set_replaces_in_place_and_remove) {
    const char *dir = ql_test_tmpdir(t);
    gguf_writer *w;
    ql_error err;
    REQUIRE(gguf_writer_create(&w, &err) == QL_OK);
    CHECK(gguf_writer_set_u32(w, "a", 1, &err) == QL_OK);
    CHECK(gguf_writer_set_str(w, "b", "text", &err) == QL_OK);
    CHECK(gguf_writer_set_f32(w, "c", 0.5f, &err) == QL_OK);
    CHECK(gguf_writer_set_u32(w, "b", 2, &err) == QL_OK); /* replaced, type changes, place kept */
    CHECK_EQ_INT(gguf_writer_n_kv(w), 3);
    const char *path = path_in(dir, "kv.gguf");
    REQUIRE(gguf_writer_write_file(w, path, &err) == QL_OK);
    gguf_writer_free(w);
    const char *abc[] = {"a", "b", "c"};
    check_key_order(t, path, abc, 3);
    gguf_file *f;
    REQUIRE(gguf_open(path, &f, &err) == QL_OK);
    uint32_t v;
    CHECK(gguf_get_u32(f, "b", &v) && v == 2);
    gguf_close(f);

    REQUIRE(gguf_writer_create(&w, &err) == QL_OK);
    for (int i = 0; i < 300; i++) { /* enough keys to make the index grow */
        char key[32];
        snprintf(key, sizeof key, "k%d", i);
        REQUIRE(gguf_writer_set_i32(w, key, i, &err) == QL_OK);
    }
    CHECK(gguf_writer_remove(w, "k5"));
    CHECK(!gguf_writer_remove(w, "k5"));
    CHECK(!gguf_writer_remove(w, "absent"));
    CHECK(gguf_writer_set_i32(w, "k5", -5, &err) == QL_OK);  /* re-added at the end */
    CHECK(gguf_writer_set_i32(w, "k299", 0, &err) == QL_OK); /* still found after the remove */
    CHECK_EQ_INT(gguf_writer_n_kv(w), 300);
    REQUIRE(gguf_writer_write_file(w, path, &err) == QL_OK);
    gguf_writer_free(w);
    REQUIRE(gguf_open(path, &f, &err) == QL_OK);
    int64_t x;
    CHECK(gguf_str_eq(gguf_kv_at(f, 5)->key, "k6"));
    CHECK(gguf_str_eq(gguf_kv_at(f, 299)->key, "k5") && gguf_get_i64(f, "k5", &x) && x == -5);
    CHECK(gguf_get_i64(f, "k299", &x) && x == 0);
    gguf_close(f);
}

/* What a quantizer does: copy everything, skip a key, override general.file_type. */
QL_TEST(gguf_write_copy_kvs_skip_and_override) {
    const char *dir = ql_test_tmpdir(t);
    const char *src_path = ql_test_shared_path("golden/tokenizer/ggml-vocab-deepseek-coder.gguf");
    gguf_file *src;
    ql_error err;
    REQUIRE_MSG(gguf_open(src_path, &src, &err) == QL_OK, "%s", err.msg);
    gguf_writer *w;
    REQUIRE(gguf_writer_create(&w, &err) == QL_OK);
    const char *skip[] = {"general.name", "tokenizer.ggml.merges"};
    REQUIRE_MSG(gguf_writer_copy_kvs(w, src, skip, 2, &err) == QL_OK, "%s", err.msg);
    REQUIRE(gguf_writer_set_u32(w, "general.file_type", 15, &err) == QL_OK);
    REQUIRE(gguf_writer_set_u32(w, "general.quantization_version", 2, &err) == QL_OK);
    const char *path = path_in(dir, "copy.gguf");
    REQUIRE_MSG(gguf_writer_write_file(w, path, &err) == QL_OK, "%s", err.msg);
    gguf_writer_free(w);
    gguf_file *f;
    REQUIRE_MSG(gguf_open(path, &f, &err) == QL_OK, "%s", err.msg);
    CHECK_EQ_INT(gguf_n_kv(f), gguf_n_kv(src) - 2 + 1);
    CHECK(!gguf_find(f, "general.name") && !gguf_find(f, "tokenizer.ggml.merges"));
    /* every other key in the source's order, the overridden one where it was */
    int64_t j = 0;
    for (int64_t i = 0; i < gguf_n_kv(src); i++) {
        const gguf_kv *a = gguf_kv_at(src, i);
        if (gguf_str_eq(a->key, "general.name") || gguf_str_eq(a->key, "tokenizer.ggml.merges"))
            continue;
        const gguf_kv *b = gguf_kv_at(f, j++);
        REQUIRE(b);
        CHECK(a->key.len == b->key.len && memcmp(a->key.ptr, b->key.ptr, a->key.len) == 0);
        if (gguf_str_eq(a->key, "general.file_type"))
            CHECK(b->value.type == GGUF_TYPE_UINT32 && b->value.u64 == 15);
        else
            CHECK(values_equal(&a->value, &b->value));
    }
    CHECK(gguf_str_eq(gguf_kv_at(f, j)->key, "general.quantization_version"));
    gguf_close(f);
    gguf_close(src);
}

QL_TEST(gguf_write_alignment_rules) {
    gguf_writer *w;
    ql_error err;
    REQUIRE(gguf_writer_create(&w, &err) == QL_OK);
    CHECK(gguf_writer_set_u32(w, "general.alignment", 48, &err) == QL_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "power of two"), "%s", err.msg);
    CHECK(gguf_writer_set_u32(w, "general.alignment", 0, &err) == QL_ERR_ARG);
    CHECK(gguf_writer_set_u16(w, "general.alignment", 64, &err) == QL_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "u32"), "%s", err.msg);
    CHECK_EQ_INT(gguf_writer_n_kv(w), 0);
    CHECK(gguf_writer_set_u32(w, "general.alignment", 4096, &err) == QL_OK);
    CHECK(gguf_writer_remove(w, "general.alignment")); /* back to the default */
    const int64_t ne[1] = {1};
    float x = 1;
    CHECK(gguf_writer_add_tensor(w, "x", QL_TYPE_F32, 1, ne, &x, &err) == QL_OK);
    CHECK(gguf_writer_add_tensor(w, "y", QL_TYPE_F32, 1, ne, &x, &err) == QL_OK);
    const char *dir = ql_test_tmpdir(t);
    const char *path = path_in(dir, "a.gguf");
    REQUIRE(gguf_writer_write_file(w, path, &err) == QL_OK);
    gguf_writer_free(w);
    gguf_file *f;
    REQUIRE(gguf_open(path, &f, &err) == QL_OK);
    CHECK_EQ_INT(gguf_alignment(f), 32);
    CHECK_EQ_INT(gguf_tensor_at(f, 1)->offset, 32);
    CHECK_EQ_INT(gguf_file_size(f), gguf_data_offset(f) + 64);
    gguf_close(f);
}

QL_TEST(gguf_write_rejects_bad_tensors) {
    gguf_writer *w;
    ql_error err;
    REQUIRE(gguf_writer_create(&w, &err) == QL_OK);
    const int64_t ne[2] = {32, 2};
    char name63[64], name64[65];
    memset(name63, 'n', 63);
    name63[63] = '\0';
    memset(name64, 'n', 64);
    name64[64] = '\0';
    CHECK(gguf_writer_add_tensor(w, name63, QL_TYPE_F32, 2, ne, NULL, &err) == QL_OK);
    static const struct {
        const char *name;
        int type;
        uint32_t n_dims;
        int64_t ne[4];
        const char *msg;
    } bad[] = {
        {"", QL_TYPE_F32, 1, {4}, "empty tensor name"},
        {NULL, QL_TYPE_F32, 1, {4}, "at most 63"}, /* name64 */
        {"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
         QL_TYPE_F32,
         1,
         {4},
         "duplicate"},
        {"t", 4, 1, {32}, "unknown type id 4"},
        {"t", 99, 1, {32}, "unknown type id 99"},
        {"t", QL_TYPE_Q4_0, 2, {33, 1}, "block size"},
        {"t", QL_TYPE_Q4_K, 1, {128}, "block size"},
        {"t", QL_TYPE_F32, 2, {4, -1}, "dimension 1 is -1"},
        {"t", QL_TYPE_F32, 5, {1, 1, 1, 1}, "dimensions"},
        {"t", QL_TYPE_F32, 2, {INT64_C(1) << 32, INT64_C(1) << 32}, "overflows"},
        {"t",
         QL_TYPE_F16,
         4,
         {INT64_C(1) << 20, INT64_C(1) << 20, INT64_C(1) << 20, 4},
         "overflows"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *name = bad[i].name ? bad[i].name : name64;
        ql_status st = gguf_writer_add_tensor(w, name, (ql_type)bad[i].type, bad[i].n_dims,
                                              bad[i].ne, NULL, &err);
        CHECK_MSG(st == QL_ERR_ARG && strstr(err.msg, bad[i].msg),
                  "case %zu: status %d, message '%s', expected '%s'", i, st, err.msg, bad[i].msg);
    }
    CHECK_EQ_INT(gguf_writer_n_tensors(w), 1);
    gguf_writer_free(w);
}

QL_TEST(gguf_write_rejects_bad_values) {
    gguf_writer *w;
    ql_error err;
    REQUIRE(gguf_writer_create(&w, &err) == QL_OK);
    CHECK(gguf_writer_set_u32(w, "", 1, &err) == QL_ERR_ARG);
    CHECK(gguf_writer_set_u32(w, NULL, 1, &err) == QL_ERR_ARG);
    CHECK(gguf_writer_set_str(w, NULL, "v", &err) == QL_ERR_ARG);
    CHECK(gguf_writer_set_arr(w, "k", GGUF_TYPE_STRING, "x", 1, &err) == QL_ERR_ARG);
    CHECK(gguf_writer_set_arr(w, "k", GGUF_TYPE_UINT32, NULL, 2, &err) == QL_ERR_ARG);
    const char *strs[] = {"a", NULL};
    CHECK(gguf_writer_set_arr_str(w, "k", strs, 2, &err) == QL_ERR_ARG);
    gguf_value big = {.type = GGUF_TYPE_UINT8};
    big.u64 = 300;
    CHECK(gguf_writer_set_value(w, "k", &big, &err) == QL_ERR_ARG);
    gguf_value neg = {.type = GGUF_TYPE_INT16};
    neg.i64 = -40000;
    CHECK(gguf_writer_set_value(w, "k", &neg, &err) == QL_ERR_ARG);
    gguf_value mixed_items[2] = {str_value("a"), scalar_arr(GGUF_TYPE_UINT32, u32_3, 1)};
    gguf_value mixed = item_arr(GGUF_TYPE_STRING, mixed_items, 2);
    CHECK(gguf_writer_set_value(w, "k", &mixed, &err) == QL_ERR_ARG);
    CHECK_MSG(strstr(err.msg, "element 1"), "%s", err.msg);
    /* nesting one deeper than the reader accepts */
    gguf_value chain[GGUF_MAX_ARRAY_DEPTH + 1];
    chain[GGUF_MAX_ARRAY_DEPTH] = scalar_arr(GGUF_TYPE_UINT32, u32_3, 1);
    for (int i = GGUF_MAX_ARRAY_DEPTH - 1; i >= 0; i--)
        chain[i] = item_arr(GGUF_TYPE_ARRAY, &chain[i + 1], 1);
    CHECK(gguf_writer_set_value(w, "k", &chain[0], &err) == QL_ERR_ARG);
    CHECK(gguf_writer_set_value(w, "k", &chain[1], &err) == QL_OK); /* the deepest allowed */
    CHECK_EQ_INT(gguf_writer_n_kv(w), 1);
    gguf_writer_free(w);
}

QL_TEST(gguf_file_type_names) {
    CHECK(strcmp(gguf_file_type_name(0), "ALL_F32") == 0);
    CHECK(strcmp(gguf_file_type_name(1), "MOSTLY_F16") == 0);
    CHECK(strcmp(gguf_file_type_name(7), "MOSTLY_Q8_0") == 0);
    CHECK(strcmp(gguf_file_type_name(15), "MOSTLY_Q4_K_M") == 0);
    CHECK(strcmp(gguf_file_type_name(18), "MOSTLY_Q6_K") == 0);
    CHECK(strcmp(gguf_file_type_name(30), "MOSTLY_IQ4_XS") == 0);
    CHECK(strcmp(gguf_file_type_name(32), "MOSTLY_BF16") == 0);
    CHECK(strcmp(gguf_file_type_name(38), "MOSTLY_MXFP4_MOE") == 0);
    CHECK(gguf_file_type_name(1024) == NULL);
}

/* --------------------------------------------------------------- reading */

/* Parses a private copy of exactly n bytes, so that any read past the end trips ASan. */
static ql_status parse_copy(const unsigned char *p, size_t n, gguf_file **f, ql_error *err) {
    unsigned char *copy = malloc(n ? n : 1);
    if (!copy) abort();
    if (n) memcpy(copy, p, n);
    ql_status st = gguf_open_memory(copy, n, "bad.gguf", f, err);
    if (st == QL_OK) {
        /* touch every byte handed out: out of bounds would be caught here */
        unsigned sum = 0;
        for (int64_t i = 0; i < gguf_n_tensors(*f); i++) {
            const gguf_tensor *x = gguf_tensor_at(*f, i);
            for (uint64_t k = 0; k < x->n_bytes; k++) sum += ((const unsigned char *)x->data)[k];
        }
        for (int64_t i = 0; i < gguf_n_kv(*f); i++) sum += (unsigned)gguf_kv_at(*f, i)->raw_size;
        (void)sum;
        gguf_close(*f);
        *f = NULL;
    }
    free(copy);
    return st;
}

QL_TEST(gguf_read_small_model) {
    tb_model m;
    tb_small_model(&m);
    gguf_file *f;
    ql_error err;
    REQUIRE_MSG(gguf_open_memory(m.b.p, m.b.len, "small", &f, &err) == QL_OK, "%s", err.msg);
    CHECK_EQ_INT(gguf_n_kv(f), 4);
    CHECK_EQ_INT(gguf_n_tensors(f), 3);
    CHECK_EQ_INT(gguf_data_offset(f), m.data_at);
    const gguf_tensor *b = gguf_find_tensor(f, "b");
    REQUIRE(b);
    CHECK(b->type == QL_TYPE_Q4_0 && b->n_bytes == 72 && b->offset == 32 && b->ne[1] == 2);
    CHECK(((const unsigned char *)b->data)[0] == 100);
    const gguf_tensor *c = gguf_find_tensor(f, "c");
    CHECK(c && c->offset == 128 && ((const unsigned char *)c->data)[31] == 231);
    const gguf_value *tokens = gguf_get_arr(f, "tokenizer.ggml.tokens");
    CHECK(tokens && tokens->arr.n == 3 && gguf_str_eq(tokens->arr.items[2].str, "def"));
    /* the raw span is exactly the encoded value */
    const gguf_kv *kv = gguf_kv_at(f, 0);
    CHECK(kv->raw_size == 8 + 5 && memcmp(kv->raw + 8, "llama", 5) == 0);
    gguf_close(f);
    tb_free(&m.b);
}

/* Every strict prefix of a valid file is refused with a one-line message, and never read past. */
QL_TEST(gguf_read_every_truncation_fails_cleanly) {
    tb_model m;
    tb_small_model(&m);
    for (size_t n = 0; n < m.b.len; n++) {
        gguf_file *f;
        ql_error err = {0};
        ql_status st = parse_copy(m.b.p, n, &f, &err);
        CHECK_MSG(st == QL_ERR_FORMAT, "prefix of %zu bytes: status %d (%s)", n, st, err.msg);
        CHECK_MSG(strncmp(err.msg, "bad.gguf: ", 10) == 0 && !strchr(err.msg, '\n'),
                  "prefix of %zu bytes: message '%s'", n, err.msg);
        const char *expect = n == 0 ? "empty" : n < m.data_at ? "truncated" : "past the end";
        CHECK_MSG(strstr(err.msg, expect), "prefix of %zu bytes: '%s' lacks '%s'", n, err.msg,
                  expect);
    }
    tb_free(&m.b);
}

typedef enum { PATCH_U32, PATCH_U64 } patch_kind;

QL_TEST(gguf_read_rejects_broken_fields) {
    tb_model m;
    tb_small_model(&m);
    const struct {
        const char *what;
        patch_kind kind;
        size_t at;
        uint64_t value;
        const char *msg;
    } cases[] = {
        {"wrong magic", PATCH_U32, 0, 0x58554747u, "not a GGUF file"},
        {"version 1", PATCH_U32, 4, 1, "version 1 is not supported"},
        {"version 4", PATCH_U32, 4, 4, "version 4 is not supported"},
        {"big-endian", PATCH_U32, 4, 0x03000000u, "big-endian"},
        {"2^40 tensors", PATCH_U64, 8, UINT64_C(1) << 40, "tensor count 1099511627776"},
        {"2^40 keys", PATCH_U64, 16, UINT64_C(1) << 40, "key-value count"},
        {"absurd key length", PATCH_U64, m.first_key_at, UINT64_C(1) << 60, "string length"},
        {"unknown value type", PATCH_U32, m.kv_type_at, 13, "unknown value type 13"},
        {"unknown tensor type", PATCH_U32, m.type_at[1], 99, "unknown type id 99"},
        {"removed tensor type", PATCH_U32, m.type_at[1], 5, "unknown type id 5"},
        {"misaligned offset", PATCH_U64, m.offset_at[0], 4, "not a multiple of the alignment"},
        {"tensor past the end", PATCH_U64, m.offset_at[2], 1 << 20, "past the end"},
        {"overlapping tensors", PATCH_U64, m.offset_at[2], 64, "overlap"},
        {"dims overflow", PATCH_U64, m.ne_at[1] + 8, UINT64_C(1) << 62, "overflows"},
        {"row not whole blocks", PATCH_U64, m.ne_at[1], 48, "block size 32"},
        {"negative dimension", PATCH_U64, m.ne_at[0], UINT64_C(1) << 63, "dimension 0"},
        {"too many dimensions", PATCH_U32, m.ne_at[0] - 4, 5, "5 dimensions"},
        {"tensor bigger than the file", PATCH_U64, m.ne_at[0], UINT64_C(1) << 40, "more bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tb_buf b = {0};
        tb_raw(&b, m.b.p, m.b.len);
        if (cases[i].kind == PATCH_U32)
            tb_put_u32_at(&b, cases[i].at, (uint32_t)cases[i].value);
        else
            tb_put_u64_at(&b, cases[i].at, cases[i].value);
        gguf_file *f;
        ql_error err = {0};
        ql_status st = parse_copy(b.p, b.len, &f, &err);
        CHECK_MSG(
            st != QL_OK && strstr(err.msg, cases[i].msg) && strncmp(err.msg, "bad.gguf: ", 10) == 0,
            "%s: status %d, message '%s', expected '%s'", cases[i].what, st, err.msg, cases[i].msg);
        tb_free(&b);
    }
    tb_free(&m.b);
}

/* Files whose structure is wrong, assembled from scratch. */
QL_TEST(gguf_read_rejects_broken_structure) {
    const uint64_t ne8[1] = {8};
    struct {
        const char *what, *msg;
        tb_buf b;
    } cases[10];
    int n = 0;
    tb_buf *b;

    cases[n].what = "duplicate key", cases[n].msg = "duplicate key 'general.name'";
    b = &cases[n++].b, *b = (tb_buf){0};
    tb_header(b, 3, 0, 3);
    tb_kv_str(b, "general.name", "x");
    tb_kv_u32(b, "other", 1);
    tb_kv_str(b, "general.name", "y");

    cases[n].what = "duplicate tensor", cases[n].msg = "duplicate tensor name 'w'";
    b = &cases[n++].b, *b = (tb_buf){0};
    tb_header(b, 3, 2, 0);
    tb_tensor_info(b, "w", 1, ne8, 0, 0);
    tb_tensor_info(b, "w", 1, ne8, 0, 32);
    tb_pad(b, 32);
    tb_zeros(b, 64);

    cases[n].what = "control characters in a name", cases[n].msg = "'a\\x0ab\\x1b[2J'";
    b = &cases[n++].b, *b = (tb_buf){0};
    tb_header(b, 3, 2, 0);
    tb_tensor_info(b, "a\nb\x1b[2J", 1, ne8, 0, 0);
    tb_tensor_info(b, "a\nb\x1b[2J", 1, ne8, 0, 32);
    tb_pad(b, 32);
    tb_zeros(b, 64);

    cases[n].what = "empty key", cases[n].msg = "key 0 at offset 24 is empty";
    b = &cases[n++].b, *b = (tb_buf){0};
    tb_header(b, 3, 0, 1);
    tb_kv_u32(b, "", 1);

    cases[n].what = "alignment not a power of two", cases[n].msg = "alignment 48 is not a power";
    b = &cases[n++].b, *b = (tb_buf){0};
    tb_header(b, 3, 0, 1);
    tb_kv_u32(b, "general.alignment", 48);

    cases[n].what = "alignment of the wrong type", cases[n].msg = "must be a u32, not u16";
    b = &cases[n++].b, *b = (tb_buf){0};
    tb_header(b, 3, 0, 1);
    tb_str(b, "general.alignment"), tb_u32(b, 2), tb_u16(b, 32);

    cases[n].what = "arrays nested too deep", cases[n].msg = "nested deeper than 8";
    b = &cases[n++].b, *b = (tb_buf){0};
    tb_header(b, 3, 0, 1);
    tb_str(b, "deep"), tb_u32(b, 9);
    for (int i = 0; i < 9; i++) tb_u32(b, 9), tb_u64(b, 1);
    tb_u32(b, 4), tb_u64(b, 0);

    cases[n].what = "unknown array element type", cases[n].msg = "unknown array element type 77";
    b = &cases[n++].b, *b = (tb_buf){0};
    tb_header(b, 3, 0, 1);
    tb_str(b, "arr"), tb_u32(b, 9), tb_u32(b, 77), tb_u64(b, 1), tb_u32(b, 0);

    cases[n].what = "array longer than the file",
    cases[n].msg = "array length 1000000 does not fit";
    b = &cases[n++].b, *b = (tb_buf){0};
    tb_header(b, 3, 0, 1);
    tb_str(b, "arr"), tb_u32(b, 9), tb_u32(b, 8), tb_u64(b, 1000000), tb_str(b, "only one");

    cases[n].what = "data section missing", cases[n].msg = "data section is missing";
    b = &cases[n++].b, *b = (tb_buf){0};
    tb_header(b, 3, 1, 0);
    const uint64_t ne0[1] = {0};
    tb_tensor_info(b, "empty", 1, ne0, 0, 0);
    tb_u8(b, 0);

    for (int i = 0; i < n; i++) {
        gguf_file *f;
        ql_error err = {0};
        ql_status st = parse_copy(cases[i].b.p, cases[i].b.len, &f, &err);
        CHECK_MSG(st != QL_OK && strstr(err.msg, cases[i].msg) && !strchr(err.msg, '\n') &&
                      !strchr(err.msg, '\x1b'),
                  "%s: status %d, message '%s', expected '%s'", cases[i].what, st, err.msg,
                  cases[i].msg);
        tb_free(&cases[i].b);
    }
}

/* Overwriting each header byte with a few values never crashes or reads out of bounds. */
QL_TEST(gguf_read_byte_mutations_never_crash) {
    tb_model m;
    tb_small_model(&m);
    static const int deltas[] = {0x00, 0xff, 0x80, 0x7f, 0x01, 0x20};
    int accepted = 0, refused = 0;
    for (size_t at = 0; at < m.data_at; at++) {
        for (size_t k = 0; k < sizeof deltas / sizeof deltas[0]; k++) {
            unsigned char saved = m.b.p[at];
            m.b.p[at] = (unsigned char)deltas[k];
            gguf_file *f;
            ql_error err = {0};
            if (parse_copy(m.b.p, m.b.len, &f, &err) == QL_OK) {
                accepted++;
            } else {
                refused++;
                CHECK_MSG(err.msg[0] && !strchr(err.msg, '\n'), "byte %zu = %d: message '%s'", at,
                          deltas[k], err.msg);
            }
            m.b.p[at] = saved;
        }
    }
    CHECK(accepted > 0 && refused > 0);
    tb_free(&m.b);
}

/* Duplicate detection does not take time quadratic in the number of keys. */
QL_TEST(gguf_read_many_keys) {
    enum { N = 200000 };
    tb_buf b = {0};
    tb_header(&b, 3, 0, N);
    for (int i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "key.%d", i);
        tb_kv_u32(&b, key, (uint32_t)i);
    }
    gguf_file *f;
    ql_error err;
    REQUIRE_MSG(gguf_open_memory(b.p, b.len, "many", &f, &err) == QL_OK, "%s", err.msg);
    CHECK_EQ_INT(gguf_n_kv(f), N);
    uint32_t v;
    CHECK(gguf_get_u32(f, "key.123456", &v) && v == 123456);
    gguf_close(f);
    tb_put_u64_at(&b, 16, N + 1);
    tb_kv_u32(&b, "key.99999", 0);
    CHECK(gguf_open_memory(b.p, b.len, "many", &f, &err) == QL_ERR_FORMAT &&
          strstr(err.msg, "duplicate key 'key.99999'"));
    tb_free(&b);
}

QL_TEST(gguf_open_reports_files_that_are_not_models) {
    const char *dir = ql_test_tmpdir(t);
    gguf_file *f;
    ql_error err;
    CHECK(gguf_open(path_in(dir, "missing.gguf"), &f, &err) == QL_ERR_IO);
    CHECK_MSG(strstr(err.msg, "missing.gguf: cannot open: No such file"), "%s", err.msg);
    CHECK(gguf_open(dir, &f, &err) == QL_ERR_IO);
    CHECK_MSG(strstr(err.msg, "is a directory"), "%s", err.msg);
    const char *empty = path_in(dir, "empty.gguf");
    REQUIRE(ql_test_write_file(empty, "", 0));
    CHECK(gguf_open(empty, &f, &err) == QL_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "empty.gguf: empty file"), "%s", err.msg);
    CHECK(gguf_open_memory(NULL, 0, NULL, &f, &err) == QL_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "<memory>: empty file"), "%s", err.msg);
}
