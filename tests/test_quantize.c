/*
 * test_quantize.c - `qlens quantize` end to end: the output runs, does not
 * depend on the thread count, keeps the input's metadata, converts
 * unquantized types exactly, requantizes only when allowed, and fails on bad
 * input with one error line and no output file.
 *
 * Independent truths used here: f16 -> f32 is exact, so F16 -> F32 -> F16
 * must give back the input's bytes and F16 -> F32 -> Q8_0 must give
 * llama-quantize's golden Q8_0 tensors; bf16 rounding is recomputed here
 * from its definition (round to nearest even on the top 16 bits).
 */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fp16.h"
#include "core/sha256.h"
#include "gguf/gguf.h"
#include "model/context.h"
#include "test.h"

/* Runs qlens quantize; returns its exit status, stderr in *err_out (caller frees). */
static int run_quantize(const char *args, char **err_out) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "quantize %s", args);
    char *out = NULL;
    int rc = ql_test_run_qlens(cmd, &out, err_out);
    free(out);
    return rc;
}

static bool file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* True when dir holds no file whose name contains ".tmp-" (the writer's temporary files). */
static bool no_temporary_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return true;
    bool clean = true;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp-")) clean = false;
    closedir(d);
    return clean;
}

static bool logits_all_finite;

static bool check_logits(void *user, const ql_logits_block *b) {
    (void)user;
    for (int64_t i = 0; i < b->n_rows * b->n_vocab; i++)
        if (!isfinite(b->logits[i])) logits_all_finite = false;
    return true;
}

QL_TEST(quantize_output_loads_and_runs_for_every_architecture) {
    static const struct {
        const char *arch, *type;
    } cases[] = {
        {"llama", "Q4_K_M"}, {"qwen2", "Q3_K_S"}, {"qwen3", "IQ4_XS"}, {"gemma3", "Q3_K_L"}};
    const char *dir = ql_test_tmpdir(t);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *in = ql_test_synth_model(cases[i].arch);
        if (!file_exists(in)) SKIP("%s not built (make synth)", in);
        char out[1024], args[2048];
        snprintf(out, sizeof out, "%s/%s-%s.gguf", dir, cases[i].arch, cases[i].type);
        snprintf(args, sizeof args, "%s %s %s -t 2", in, out, cases[i].type);
        char *err = NULL;
        int rc = run_quantize(args, &err);
        CHECK_MSG(rc == 0, "quantize %s %s: exit %d: %s", cases[i].arch, cases[i].type, rc, err);
        free(err);
        if (rc) continue;

        ql_model *m;
        ql_error e;
        REQUIRE_MSG(ql_model_load(out, &m, &e) == QL_OK, "%s", e.msg);
        ql_context_params p = ql_context_default_params();
        p.n_ctx = 32;
        p.n_threads = 2;
        ql_context *c;
        REQUIRE_MSG(ql_context_create(m, &p, &c, &e) == QL_OK, "%s", e.msg);
        int32_t tokens[16];
        for (int k = 0; k < 16; k++) tokens[k] = 17 + 101 * k;
        logits_all_finite = true;
        CHECK_MSG(ql_forward(c, tokens, 16, 0, 0, check_logits, NULL, &e) == QL_OK, "%s", e.msg);
        CHECK_MSG(logits_all_finite, "%s %s: non-finite logits", cases[i].arch, cases[i].type);
        ql_context_free(c);
        ql_model_free(m);
        remove(out);
    }
}

QL_TEST(quantize_output_does_not_depend_on_thread_count) {
    const char *in = ql_test_synth_model("qwen3");
    if (!file_exists(in)) SKIP("%s not built (make synth)", in);
    const char *dir = ql_test_tmpdir(t);
    static const int threads[] = {1, 3, 8};
    uint8_t first[QL_SHA256_DIGEST_SIZE];
    for (int i = 0; i < 3; i++) {
        char out[1024], args[2048];
        snprintf(out, sizeof out, "%s/t%d.gguf", dir, threads[i]);
        snprintf(args, sizeof args, "-t %d %s %s Q2_K", threads[i], in, out);
        REQUIRE(run_quantize(args, NULL) == 0);
        size_t size;
        unsigned char *bytes = ql_test_read_file(out, &size);
        REQUIRE(bytes);
        uint8_t digest[QL_SHA256_DIGEST_SIZE];
        ql_sha256(bytes, size, digest);
        free(bytes);
        if (i == 0)
            memcpy(first, digest, sizeof first);
        else
            CHECK_MSG(memcmp(first, digest, sizeof first) == 0, "-t %d differs from -t 1",
                      threads[i]);
        remove(out);
    }
}

QL_TEST(quantize_copies_key_values_in_order_and_appends_file_type) {
    const char *in = ql_test_synth_model("gemma3");
    if (!file_exists(in)) SKIP("%s not built (make synth)", in);
    char out[1024], args[2048];
    snprintf(out, sizeof out, "%s/q.gguf", ql_test_tmpdir(t));
    snprintf(args, sizeof args, "%s %s q5_k_s", in, out);
    REQUIRE(run_quantize(args, NULL) == 0);
    gguf_file *a, *b;
    REQUIRE(gguf_open(in, &a, NULL) == QL_OK);
    REQUIRE(gguf_open(out, &b, NULL) == QL_OK);
    int64_t j = 0;
    for (int64_t i = 0; i < gguf_n_kv(a); i++) {
        const gguf_kv *ka = gguf_kv_at(a, i);
        if (gguf_str_eq(ka->key, "general.file_type") ||
            gguf_str_eq(ka->key, "general.quantization_version"))
            continue;
        REQUIRE(j < gguf_n_kv(b));
        const gguf_kv *kb = gguf_kv_at(b, j++);
        CHECK_MSG(ka->key.len == kb->key.len && memcmp(ka->key.ptr, kb->key.ptr, ka->key.len) == 0,
                  "key %lld: %.*s vs %.*s", (long long)i, (int)ka->key.len, ka->key.ptr,
                  (int)kb->key.len, kb->key.ptr);
        CHECK(ka->value.type == kb->value.type && ka->raw_size == kb->raw_size &&
              memcmp(ka->raw, kb->raw, ka->raw_size) == 0);
    }
    CHECK_EQ_INT(gguf_n_kv(b), j + 2);
    uint32_t ft = 0, qv = 0;
    CHECK(gguf_get_u32(b, "general.file_type", &ft) && ft == 16);
    CHECK(gguf_get_u32(b, "general.quantization_version", &qv) && qv == 2);
    gguf_close(a);
    gguf_close(b);
}

/* sha256 of one tensor's data in a file, or "" when the tensor is absent. */
static void tensor_sha(const gguf_file *f, const char *name, char hex[QL_SHA256_HEX_SIZE]) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    hex[0] = 0;
    if (!t) return;
    uint8_t digest[QL_SHA256_DIGEST_SIZE];
    ql_sha256(t->data, t->n_bytes, digest);
    ql_sha256_hex(digest, hex);
}

/* bf16 by its definition: keep the top 16 bits, rounding to nearest, ties to even. */
static uint16_t bf16_by_definition(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    return (uint16_t)((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

QL_TEST(quantize_unquantized_targets_convert_exactly) {
    const char *in = ql_test_synth_model("llama");
    if (!file_exists(in)) SKIP("%s not built (make synth)", in);
    const char *dir = ql_test_tmpdir(t);
    char f32[1024], f16[1024], bf16[1024], q8[1024], args[4096];
    snprintf(f32, sizeof f32, "%s/f32.gguf", dir);
    snprintf(f16, sizeof f16, "%s/f16.gguf", dir);
    snprintf(bf16, sizeof bf16, "%s/bf16.gguf", dir);
    snprintf(q8, sizeof q8, "%s/q8.gguf", dir);
    snprintf(args, sizeof args, "%s %s F32", in, f32);
    REQUIRE(run_quantize(args, NULL) == 0);
    snprintf(args, sizeof args, "%s %s f16", f32, f16);
    REQUIRE(run_quantize(args, NULL) == 0);
    snprintf(args, sizeof args, "%s %s BF16", f32, bf16);
    REQUIRE(run_quantize(args, NULL) == 0);
    snprintf(args, sizeof args, "%s %s Q8_0", f32, q8);
    REQUIRE(run_quantize(args, NULL) == 0);

    gguf_file *src, *g32, *g16, *gbf, *gq8;
    REQUIRE(gguf_open(in, &src, NULL) == QL_OK);
    REQUIRE(gguf_open(f32, &g32, NULL) == QL_OK);
    REQUIRE(gguf_open(f16, &g16, NULL) == QL_OK);
    REQUIRE(gguf_open(bf16, &gbf, NULL) == QL_OK);
    REQUIRE(gguf_open(q8, &gq8, NULL) == QL_OK);
    for (int64_t i = 0; i < gguf_n_tensors(src); i++) {
        const gguf_tensor *s = gguf_tensor_at(src, i);
        char name[128];
        gguf_str_copy(s->name, name, sizeof name);
        const gguf_tensor *a = gguf_find_tensor(g32, name), *b = gguf_find_tensor(g16, name),
                          *c = gguf_find_tensor(gbf, name);
        REQUIRE(a && b && c);
        CHECK(a->type == QL_TYPE_F32);
        /* F16 -> F32 -> F16 is the identity on the bytes */
        CHECK_MSG(b->type == s->type && b->n_bytes == s->n_bytes &&
                      memcmp(b->data, s->data, s->n_bytes) == 0,
                  "%s: F16 -> F32 -> F16 changed the tensor", name);
        if (s->type != QL_TYPE_F16) continue;
        const ql_fp16 *h = s->data;
        const float *x = a->data;
        const uint16_t *y = c->data;
        CHECK(c->type == QL_TYPE_BF16);
        int64_t n = gguf_tensor_nelements(s), bad32 = 0, bad_bf = 0;
        for (int64_t k = 0; k < n; k++) {
            bad32 += x[k] != ql_fp16_to_fp32(h[k]);
            bad_bf += y[k] != bf16_by_definition(x[k]);
        }
        CHECK_MSG(bad32 == 0, "%s: %lld f32 values differ from their f16", name, (long long)bad32);
        CHECK_MSG(bad_bf == 0, "%s: %lld bf16 values misrounded", name, (long long)bad_bf);
    }
    uint32_t ft;
    CHECK(gguf_get_u32(g32, "general.file_type", &ft) && ft == 0);
    CHECK(gguf_get_u32(g16, "general.file_type", &ft) && ft == 1);
    CHECK(gguf_get_u32(gbf, "general.file_type", &ft) && ft == 32);

    /* F32 input quantizes like the F16 it came from: llama-quantize's golden Q8_0 */
    char *tsv = (char *)ql_test_read_file(ql_test_shared_path("golden/synth/quant.tsv"), NULL);
    if (tsv) {
        int compared = 0;
        char *save;
        for (char *line = strtok_r(tsv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char model[32], ftype[32], tensor[128], dims[64], type[32], sha[65];
            if (sscanf(line, "%31s %31s %127s %63s %31s %64s", model, ftype, tensor, dims, type,
                       sha) != 6 ||
                strcmp(model, "llama") || strcmp(ftype, "Q8_0"))
                continue;
            char hex[QL_SHA256_HEX_SIZE];
            tensor_sha(gq8, tensor, hex);
            CHECK_MSG(strcmp(hex, sha) == 0, "F32 -> Q8_0 %s: %s, golden %s", tensor, hex, sha);
            compared++;
        }
        CHECK_EQ_INT(compared, 38);
        free(tsv);
    }
    gguf_close(src);
    gguf_close(g32);
    gguf_close(g16);
    gguf_close(gbf);
    gguf_close(gq8);
}

QL_TEST(quantize_requantizes_only_when_allowed) {
    const char *in = ql_test_synth_model("qwen2");
    if (!file_exists(in)) SKIP("%s not built (make synth)", in);
    const char *dir = ql_test_tmpdir(t);
    char q4km[1024], again[1024], q40[1024], args[4096];
    snprintf(q4km, sizeof q4km, "%s/q4km.gguf", dir);
    snprintf(again, sizeof again, "%s/again.gguf", dir);
    snprintf(q40, sizeof q40, "%s/q40.gguf", dir);
    snprintf(args, sizeof args, "%s %s Q4_K_M", in, q4km);
    REQUIRE(run_quantize(args, NULL) == 0);

    /* same file type: every tensor already has its type, nothing is requantized */
    snprintf(args, sizeof args, "%s %s Q4_K_M", q4km, again);
    CHECK(run_quantize(args, NULL) == 0);
    size_t sa, sb;
    unsigned char *a = ql_test_read_file(q4km, &sa), *b = ql_test_read_file(again, &sb);
    CHECK(a && b && sa == sb && memcmp(a, b, sa) == 0);
    free(a);
    free(b);

    /* a different type needs --allow-requantize */
    char *err = NULL;
    snprintf(args, sizeof args, "%s %s Q4_0", q4km, q40);
    CHECK_EQ_INT(run_quantize(args, &err), 1);
    CHECK_MSG(strncmp(err, "qlens: error: ", 14) == 0 && strstr(err, "--allow-requantize") &&
                  strchr(err, '\n') == err + strlen(err) - 1,
              "stderr: %s", err);
    free(err);
    CHECK(!file_exists(q40));
    CHECK(no_temporary_files(dir));

    snprintf(args, sizeof args, "--allow-requantize %s %s Q4_0", q4km, q40);
    REQUIRE(run_quantize(args, NULL) == 0);
    /* each requantized tensor is q4_0 of the dequantized input, row for row */
    gguf_file *src, *dst;
    REQUIRE(gguf_open(q4km, &src, NULL) == QL_OK);
    REQUIRE(gguf_open(q40, &dst, NULL) == QL_OK);
    int checked = 0;
    for (int64_t i = 0; i < gguf_n_tensors(dst); i++) {
        const gguf_tensor *d = gguf_tensor_at(dst, i);
        char name[128];
        gguf_str_copy(d->name, name, sizeof name);
        const gguf_tensor *s = gguf_find_tensor(src, name);
        REQUIRE(s);
        if (s->type == d->type) continue;
        const ql_type_traits *from = ql_type_traits_get((int)s->type),
                             *to = ql_type_traits_get((int)d->type);
        int64_t n = gguf_tensor_nelements(s);
        float *values = malloc((size_t)n * sizeof(float));
        uint8_t *expect = malloc(d->n_bytes);
        REQUIRE(values && expect);
        from->to_float(s->data, values, n);
        to->from_float_ref(values, expect, n);
        CHECK_MSG(memcmp(expect, d->data, d->n_bytes) == 0, "%s: requantized bytes differ", name);
        free(values);
        free(expect);
        checked++;
    }
    CHECK(checked > 20);
    gguf_close(src);
    gguf_close(dst);
}

/* A one-layer llama-shaped GGUF with the given tensors, written with the GGUF writer. */
typedef struct {
    const char *name;
    ql_type type;
    int64_t ne0, ne1;
    const void *data;
} tiny_tensor;

static void write_tiny_model(ql_test_ctx *t, const char *path, bool with_arch,
                             const tiny_tensor *tensors, int n) {
    gguf_writer *w;
    ql_error e;
    REQUIRE(gguf_writer_create(&w, &e) == QL_OK);
    if (with_arch) {
        REQUIRE(gguf_writer_set_str(w, "general.architecture", "llama", &e) == QL_OK);
        REQUIRE(gguf_writer_set_u32(w, "llama.block_count", 1, &e) == QL_OK);
    }
    for (int i = 0; i < n; i++) {
        int64_t ne[2] = {tensors[i].ne0, tensors[i].ne1};
        REQUIRE_MSG(gguf_writer_add_tensor(w, tensors[i].name, tensors[i].type, 2, ne,
                                           tensors[i].data, &e) == QL_OK,
                    "%s", e.msg);
    }
    REQUIRE_MSG(gguf_writer_write_file(w, path, &e) == QL_OK, "%s", e.msg);
    gguf_writer_free(w);
}

/* Runs a command expected to fail: exit status, one "qlens: error: " line, no output. */
static void expect_failure(ql_test_ctx *t, const char *args, int status, const char *needle,
                           const char *out_path) {
    char *err = NULL;
    int rc = run_quantize(args, &err);
    CHECK_MSG(rc == status, "'%s': exit %d, expected %d (stderr: %s)", args, rc, status, err);
    size_t len = strlen(err);
    CHECK_MSG(strncmp(err, "qlens: error: ", 14) == 0 && len > 0 && err[len - 1] == '\n' &&
                  strchr(err, '\n') == err + len - 1,
              "'%s': stderr is not one error line: %s", args, err);
    CHECK_MSG(strstr(err, needle) != NULL, "'%s': stderr lacks '%s': %s", args, needle, err);
    if (out_path) CHECK_MSG(!file_exists(out_path), "'%s' left %s behind", args, out_path);
    free(err);
}

QL_TEST(quantize_bad_input_gives_one_error_line_and_no_output) {
    const char *in = ql_test_synth_model("llama");
    if (!file_exists(in)) SKIP("%s not built (make synth)", in);
    const char *dir = ql_test_tmpdir(t);
    char out[1024], args[4096], path[1024];
    snprintf(out, sizeof out, "%s/out.gguf", dir);

    /* the command line */
    snprintf(args, sizeof args, "%s %s Q7_K", in, out);
    expect_failure(t, args, 2, "valid types: Q4_0, Q4_1", out);
    snprintf(args, sizeof args, "%s %s IQ2_XXS", in, out);
    expect_failure(t, args, 2, "cannot produce IQ2_XXS", out);
    snprintf(args, sizeof args, "%s %s", in, out);
    expect_failure(t, args, 2, "expected IN.gguf OUT.gguf TYPE", out);
    snprintf(args, sizeof args, "--tensor-type 'attn_v(=q8_0' %s %s Q4_0", in, out);
    expect_failure(t, args, 2, "missing ')'", out);
    snprintf(args, sizeof args, "--tensor-type attn_v %s %s Q4_0", in, out);
    expect_failure(t, args, 2, "expected REGEX=TYPE", out);
    snprintf(args, sizeof args, "--tensor-type attn_v=iq2_xxs %s %s Q4_0", in, out);
    expect_failure(t, args, 2, "cannot produce type iq2_xxs", out);
    snprintf(args, sizeof args, "--output-tensor-type q9_0 %s %s Q4_0", in, out);
    expect_failure(t, args, 2, "unknown type 'q9_0'", out);
    snprintf(args, sizeof args, "-t 0 %s %s Q4_0", in, out);
    expect_failure(t, args, 2, "out of range", out);

    /* the input */
    snprintf(args, sizeof args, "%s/missing.gguf %s Q4_0", dir, out);
    expect_failure(t, args, 1, "missing.gguf", out);
    snprintf(path, sizeof path, "%s/text.gguf", dir);
    REQUIRE(ql_test_write_file(path, "not a model at all, just some text\n", 35));
    snprintf(args, sizeof args, "%s %s Q4_0", path, out);
    expect_failure(t, args, 1, "GGUF", out);

    /* the output */
    snprintf(args, sizeof args, "%s %s/no/such/dir/out.gguf Q4_0", in, dir);
    expect_failure(t, args, 1, "no/such/dir/out.gguf", NULL);

    /* tensors: no architecture; a type qlens cannot read; values that do not fit */
    static float data[64 * 32];
    for (int i = 0; i < 64 * 32; i++) data[i] = (float)(i % 17) - 8.0f;
    tiny_tensor plain = {"blk.0.attn_q.weight", QL_TYPE_F32, 64, 32, data};
    snprintf(path, sizeof path, "%s/noarch.gguf", dir);
    write_tiny_model(t, path, false, &plain, 1);
    snprintf(args, sizeof args, "%s %s Q4_0", path, out);
    expect_failure(t, args, 1, "general.architecture", out);

    static uint8_t iq2[66 * 32]; /* 32 rows of one 256-element iq2_xxs block (66 bytes) */
    tiny_tensor odd = {"blk.0.attn_q.weight", QL_TYPE_IQ2_XXS, 256, 32, iq2};
    snprintf(path, sizeof path, "%s/iq2.gguf", dir);
    write_tiny_model(t, path, true, &odd, 1);
    snprintf(args, sizeof args, "--allow-requantize %s %s Q4_0", path, out);
    expect_failure(t, args, 1, "cannot convert from type iq2_xxs", out);

    static float huge[64 * 32];
    for (int i = 0; i < 64 * 32; i++) huge[i] = i == 100 ? 1e6f : 1.0f; /* beyond f16 */
    tiny_tensor big[2] = {plain, {"blk.0.attn_v.weight", QL_TYPE_F32, 64, 32, huge}};
    snprintf(path, sizeof path, "%s/huge.gguf", dir);
    write_tiny_model(t, path, true, big, 2);
    snprintf(args, sizeof args, "%s %s F16", path, out);
    expect_failure(t, args, 1, "blk.0.attn_v.weight: row 1 is not finite as f16", out);
    huge[100] = NAN;
    write_tiny_model(t, path, true, big, 2);
    snprintf(args, sizeof args, "%s %s Q8_0", path, out);
    expect_failure(t, args, 1, "blk.0.attn_v.weight: row 1 holds NaN or infinite values", out);
    CHECK(no_temporary_files(dir));

    /* the same tiny model quantizes fine once its values are finite, empty tensors included */
    huge[100] = 2.0f;
    tiny_tensor fine[4] = {plain,
                           big[1],
                           {"blk.0.attn_k.weight", QL_TYPE_F32, 0, 32, huge},
                           {"blk.0.ffn_up.weight", QL_TYPE_F32, 64, 0, huge}};
    write_tiny_model(t, path, true, fine, 4);
    snprintf(args, sizeof args, "%s %s Q8_0", path, out);
    char *err = NULL;
    CHECK_MSG(run_quantize(args, &err) == 0, "%s", err);
    free(err);
    gguf_file *f;
    REQUIRE(gguf_open(out, &f, NULL) == QL_OK);
    CHECK(gguf_find_tensor(f, "blk.0.attn_v.weight")->type == QL_TYPE_Q8_0);
    CHECK(gguf_find_tensor(f, "blk.0.attn_k.weight")->n_bytes == 0);
    gguf_close(f);
}
