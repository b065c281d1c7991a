/*
 * test_quantize_golden.c - quantization of the synthetic models against
 * llama-quantize's output, tensor by tensor.
 *
 * golden/synth/quant.tsv holds, for each synthetic model quantized from its
 * F16 file to each of 14 file types by llama-quantize (no importance
 * matrix), every tensor's name, dims, type and the sha256 of its data. Each
 * model is quantized here to each of those file types through the same
 * function the CLI calls, the output is read back with the GGUF reader, and
 * every tensor must have the golden type, dims and bytes; the output must
 * hold no other tensor, and end with general.quantization_version = 2 and
 * general.file_type = the file type's number, as llama.cpp writes them.
 */
#include <stdlib.h>
#include <string.h>

#include "core/sha256.h"
#include "core/threadpool.h"
#include "lab/quantize.h"
#include "test.h"

typedef struct {
    char *model, *ftype, *tensor, *dims, *type, *sha256;
} golden_row;

typedef struct {
    char *text; /* the whole file; rows point into it */
    golden_row *rows;
    int n_rows;
} golden_table;

static bool load_golden(golden_table *g, const char *golden_file) {
    memset(g, 0, sizeof *g);
    g->text = (char *)ql_test_read_file(ql_test_shared_path(golden_file), NULL);
    if (!g->text) return false;
    int cap = 0;
    char *save_line;
    for (char *line = strtok_r(g->text, "\n", &save_line); line;
         line = strtok_r(NULL, "\n", &save_line)) {
        if (strncmp(line, "model\t", 6) == 0) continue; /* header */
        char *fields[6];
        int n = 0;
        char *save_field;
        for (char *f = strtok_r(line, "\t", &save_field); f && n < 6;
             f = strtok_r(NULL, "\t", &save_field))
            fields[n++] = f;
        if (n != 6) continue;
        if (g->n_rows == cap) {
            cap = cap ? 2 * cap : 1024;
            g->rows = realloc(g->rows, (size_t)cap * sizeof *g->rows);
        }
        g->rows[g->n_rows++] =
            (golden_row){fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]};
    }
    return g->n_rows > 0;
}

static void free_golden(golden_table *g) {
    free(g->rows);
    free(g->text);
}

/* "256x50257", as the golden table writes dims (ne0 first). */
static void format_dims(const gguf_tensor *t, char *buf, size_t size) {
    size_t used = 0;
    for (uint32_t d = 0; d < (t->n_dims ? t->n_dims : 1); d++)
        used +=
            (size_t)snprintf(buf + used, size - used, "%s%lld", d ? "x" : "", (long long)t->ne[d]);
}

/* Checks one quantized file against the golden rows of (model, ftype); returns rows matched. */
static int check_output(ql_test_ctx *t, const char *path, const golden_table *g, const char *model,
                        const ql_ftype_info *ft) {
    gguf_file *f;
    ql_error err;
    if (gguf_open(path, &f, &err)) {
        CHECK_MSG(false, "%s %s: cannot read the output: %s", model, ft->name, err.msg);
        return 0;
    }
    int matched = 0, expected = 0;
    for (int i = 0; i < g->n_rows; i++) {
        const golden_row *r = &g->rows[i];
        if (strcmp(r->model, model) != 0 || strcmp(r->ftype, ft->name) != 0) continue;
        expected++;
        const gguf_tensor *tensor = gguf_find_tensor(f, r->tensor);
        if (!tensor) {
            CHECK_MSG(false, "%s %s: tensor %s missing", model, ft->name, r->tensor);
            continue;
        }
        char dims[64], hex[QL_SHA256_HEX_SIZE];
        uint8_t digest[QL_SHA256_DIGEST_SIZE];
        format_dims(tensor, dims, sizeof dims);
        ql_sha256(tensor->data, tensor->n_bytes, digest);
        ql_sha256_hex(digest, hex);
        bool type_ok = strcmp(ql_type_name((int)tensor->type), r->type) == 0;
        bool dims_ok = strcmp(dims, r->dims) == 0;
        bool data_ok = strcmp(hex, r->sha256) == 0;
        CHECK_MSG(type_ok, "%s %s %s: type %s, golden %s", model, ft->name, r->tensor,
                  ql_type_name((int)tensor->type), r->type);
        CHECK_MSG(dims_ok, "%s %s %s: dims %s, golden %s", model, ft->name, r->tensor, dims,
                  r->dims);
        CHECK_MSG(!type_ok || data_ok, "%s %s %s (%s): data sha256 %s, golden %s", model, ft->name,
                  r->tensor, r->type, hex, r->sha256);
        matched += type_ok && dims_ok && data_ok;
    }
    CHECK_MSG(gguf_n_tensors(f) == expected, "%s %s: %lld tensors in the output, %d golden", model,
              ft->name, (long long)gguf_n_tensors(f), expected);

    /* llama.cpp sets these two last, in this order */
    int64_t n_kv = gguf_n_kv(f);
    uint32_t version = 0, file_type = 0;
    CHECK(gguf_get_u32(f, "general.quantization_version", &version) && version == 2);
    CHECK(gguf_get_u32(f, "general.file_type", &file_type) && file_type == (uint32_t)ft->ftype);
    CHECK(n_kv >= 2 && gguf_str_eq(gguf_kv_at(f, n_kv - 2)->key, "general.quantization_version"));
    CHECK(n_kv >= 2 && gguf_str_eq(gguf_kv_at(f, n_kv - 1)->key, "general.file_type"));
    gguf_close(f);
    return matched;
}

/* Quantizes one model to each file type golden_file lists for it (n_ftypes of them). */
static void quantize_model_to_every_golden_type(ql_test_ctx *t, const char *model,
                                                const char *golden_file, int n_golden_ftypes) {
    const char *in = ql_test_synth_model(model);
    gguf_file *probe;
    if (gguf_open(in, &probe, NULL)) SKIP("%s not built (make synth)", in);
    gguf_close(probe);
    golden_table g;
    if (!load_golden(&g, golden_file)) SKIP("no %s under %s", golden_file, ql_test_shared_dir());

    char out[1024];
    snprintf(out, sizeof out, "%s/out.gguf", ql_test_tmpdir(t));
    int n_ftypes, n_tested = 0, n_matched = 0, n_golden = 0, n_listed = 0;
    const ql_ftype_info *ftypes = ql_ftype_list(&n_ftypes);
    for (int k = 0; k < n_ftypes; k++) {
        const ql_ftype_info *ft = &ftypes[k];
        int rows = 0;
        for (int i = 0; i < g.n_rows; i++)
            rows += strcmp(g.rows[i].model, model) == 0 && strcmp(g.rows[i].ftype, ft->name) == 0;
        if (rows == 0) continue; /* not in the golden data (F16, Q3_K_S, ...) */
        if (!ql_test_pick(n_listed++, ql_test_arch_index(model))) continue;
        ql_quantize_params params = {
            .rules = ql_quant_default_options(ft->ftype),
            .n_threads = ql_cpu_count(),
        };
        ql_error err;
        ql_status st = ql_quantize_model(in, out, &params, NULL, &err);
        CHECK_MSG(st == QL_OK, "%s %s: %s", model, ft->name, err.msg);
        if (st) continue;
        n_tested++;
        n_golden += rows;
        n_matched += check_output(t, out, &g, model, ft);
        remove(out);
    }
    printf("%s: %d file types, %d of %d golden tensors identical\n", model, n_tested, n_matched,
           n_golden);
    CHECK_EQ_INT(n_listed, n_golden_ftypes);
    CHECK_EQ_INT(n_tested, ql_test_picked(n_golden_ftypes, ql_test_arch_index(model)));
    if (ql_test_light()) printf("light run: %d of %d file types\n", n_tested, n_listed);
    CHECK_EQ_INT(n_matched, n_golden);
    free_golden(&g);
}

QL_TEST(quantize_golden_llama) {
    quantize_model_to_every_golden_type(t, "llama", "golden/synth/quant.tsv", 14);
}
QL_TEST(quantize_golden_qwen2) {
    quantize_model_to_every_golden_type(t, "qwen2", "golden/synth/quant.tsv", 14);
}
QL_TEST(quantize_golden_qwen3) {
    quantize_model_to_every_golden_type(t, "qwen3", "golden/synth/quant.tsv", 14);
}
QL_TEST(quantize_golden_gemma3) {
    quantize_model_to_every_golden_type(t, "gemma3", "golden/synth/quant.tsv", 14);
}

/* golden/hybrid/quant.tsv: the Gated DeltaNet hybrid and its MoE sibling, Q8_0 and Q4_K_M (the
 * rules for ssm_*, the 3-D expert tensors, the routers and the shared expert) */
QL_TEST(quantize_golden_hybrid_qwen35) {
    quantize_model_to_every_golden_type(t, "qwen35", "golden/hybrid/quant.tsv", 2);
}
QL_TEST(quantize_golden_hybrid_qwen35moe) {
    quantize_model_to_every_golden_type(t, "qwen35moe", "golden/hybrid/quant.tsv", 2);
}
