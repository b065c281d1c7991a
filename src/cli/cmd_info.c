/*
 * cmd_info.c - `qlens info FILE.gguf`: what a GGUF file holds.
 *
 * Facts come from one validated gguf_file: the architecture's {arch}.* keys,
 * the tokenizer, tensor counts and sizes per type, bits per weight. Nothing
 * is printed until the whole file has been validated, so a bad file gives one
 * error line and no partial report. Names and strings from the file are
 * escaped on the way out: a hostile file cannot move the cursor or break the
 * JSON.
 */

#include <stdio.h>
#include <string.h>

#include "../core/json.h"
#include "../gguf/gguf.h"
#include "../model/layers.h"
#include "cli.h"

static bool opt_tensors, opt_json;

static const cli_opt info_opts[] = {
    {.name = "--tensors",
     .kind = CLI_FLAG,
     .dest = &opt_tensors,
     .help = "list every tensor: name, type, dims, bytes, offset"},
    {.name = "--json",
     .kind = CLI_FLAG,
     .dest = &opt_json,
     .help = "print one JSON object instead (always includes the tensor list)"},
};

static int run_info(int argc, char **argv);

const ql_command ql_cmd_info = {
    .name = "info",
    .summary = "describe a GGUF file: architecture, tokenizer, tensor types and sizes",
    .usage = "qlens info [--tensors] [--json] FILE.gguf",
    .details =
        "Prints the architecture and its hyperparameters (every {arch}.* key), the\n"
        "tokenizer, the vocabulary size, the tensor and parameter counts, a histogram\n"
        "of tensor types (count, parameters, bytes), the total tensor bytes, bits per\n"
        "weight (8 x bytes / parameters) and general.file_type. For a model qlens runs,\n"
        "also its layers: which mix tokens by attention (and hold K and V), by a\n"
        "sliding window or by a Gated DeltaNet (a fixed recurrent state instead), the FFN\n"
        "(dense or experts), the KV bytes per token at f16 and the recurrent state's bytes.\n"
        "Tensor offsets are relative to the data section. Every part of the file is\n"
        "validated first.",
    .opts = info_opts,
    .n_opts = sizeof info_opts / sizeof info_opts[0],
    .run = run_info,
};

typedef struct {
    int64_t tensors;
    uint64_t params;
    uint64_t bytes;
} type_stats;

typedef struct {
    const gguf_file *f;
    gguf_str arch; /* len 0 when general.architecture is absent */
    bool has_arch;
    uint64_t n_params, n_bytes;
    type_stats by_type[QL_TYPE_COUNT];
    bool has_config; /* a model qlens runs: its layers are described */
    ql_model_config cfg;
} info_facts;

static void gather(const gguf_file *f, info_facts *in) {
    memset(in, 0, sizeof *in);
    in->f = f;
    in->has_arch = gguf_get_str(f, "general.architecture", &in->arch);
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        uint64_t n = (uint64_t)gguf_tensor_nelements(t);
        /* the reader bounds each tensor by the file size, so only the sums can grow large;
           they stay far below 2^64 for any file that fits on a disk */
        in->n_params += n;
        in->n_bytes += t->n_bytes;
        type_stats *s = &in->by_type[t->type];
        s->tensors++;
        s->params += n;
        s->bytes += t->n_bytes;
    }
    ql_error err;
    in->has_config = ql_model_read_config(f, &in->cfg, &err) == QL_OK;
}

/* Length of the character at p to print as it is; 0 when its first byte must become \xNN. */
static size_t plain_char(const char *p, uint64_t left) {
    unsigned char c = (unsigned char)*p;
    if (c < 0x20 || c == 0x7f || c == '\\') return 0;
    return ql_utf8_sequence_length(p, left < 4 ? (size_t)left : 4);
}

/* Bytes from the file, with control characters, backslashes and non-UTF-8 bytes as \xNN. */
static void print_escaped(const char *p, uint64_t n) {
    uint64_t i = 0;
    while (i < n) {
        size_t k = plain_char(p + i, n - i);
        if (k == 0) {
            printf("\\x%02x", (unsigned char)p[i]);
            i++;
        } else {
            fwrite(p + i, 1, k, stdout);
            i += k;
        }
    }
}

/* Terminal columns of what print_escaped prints (a UTF-8 character counted as one). */
static int escaped_width(const char *p, uint64_t n) {
    uint64_t w = 0, i = 0;
    while (i < n && w < 1000) {
        size_t k = plain_char(p + i, n - i);
        w += k ? 1 : 4;
        i += k ? k : 1;
    }
    return (int)w;
}

static void print_value(const gguf_value *v, int depth) {
    char buf[64];
    switch (v->type) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_UINT64:
        printf("%llu", (unsigned long long)v->u64);
        return;
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_INT16:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_INT64:
        printf("%lld", (long long)v->i64);
        return;
    case GGUF_TYPE_FLOAT32:
        fputs(ql_format_float((float)v->f64, buf, sizeof buf), stdout);
        return;
    case GGUF_TYPE_FLOAT64:
        fputs(ql_format_double(v->f64, buf, sizeof buf), stdout);
        return;
    case GGUF_TYPE_BOOL:
        fputs(v->b ? "true" : "false", stdout);
        return;
    case GGUF_TYPE_STRING:
        print_escaped(v->str.ptr, v->str.len);
        return;
    case GGUF_TYPE_ARRAY:
        break;
    default:
        fputs("?", stdout);
        return;
    }
    enum { SHOWN = 8 };
    putchar('[');
    for (uint64_t i = 0; i < v->arr.n && i < SHOWN; i++) {
        gguf_value e;
        if (i) fputs(", ", stdout);
        if (depth >= 2 || !gguf_arr_get(v, i, &e))
            fputs("...", stdout);
        else
            print_value(&e, depth + 1);
    }
    if (v->arr.n > SHOWN) printf(", ... (%llu values)", (unsigned long long)v->arr.n);
    putchar(']');
}

static void json_value(ql_json *j, const gguf_value *v) {
    switch (v->type) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_UINT64:
        ql_json_uint(j, v->u64);
        return;
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_INT16:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_INT64:
        ql_json_int(j, v->i64);
        return;
    case GGUF_TYPE_FLOAT32:
        ql_json_float(j, (float)v->f64);
        return;
    case GGUF_TYPE_FLOAT64:
        ql_json_double(j, v->f64);
        return;
    case GGUF_TYPE_BOOL:
        ql_json_bool(j, v->b);
        return;
    case GGUF_TYPE_STRING:
        ql_json_str_n(j, v->str.ptr, (size_t)v->str.len);
        return;
    case GGUF_TYPE_ARRAY:
        break;
    default:
        ql_json_null(j);
        return;
    }
    bool scalars = gguf_type_size(v->arr.elem_type) != 0;
    if (scalars)
        ql_json_array_begin_inline(j);
    else
        ql_json_array_begin(j);
    for (uint64_t i = 0; i < v->arr.n; i++) {
        gguf_value e;
        if (gguf_arr_get(v, i, &e))
            json_value(j, &e);
        else
            ql_json_null(j);
    }
    ql_json_array_end(j);
}

/* Keys "<arch>.<rest>"; *rest gets the part after the dot. */
static bool is_arch_key(const info_facts *in, const gguf_kv *kv, gguf_str *rest) {
    if (!in->has_arch || in->arch.len == 0) return false;
    uint64_t n = in->arch.len;
    if (kv->key.len <= n + 1 || memcmp(kv->key.ptr, in->arch.ptr, (size_t)n) != 0 ||
        kv->key.ptr[n] != '.')
        return false;
    rest->ptr = kv->key.ptr + n + 1;
    rest->len = kv->key.len - n - 1;
    return true;
}

static bool vocab_size(const gguf_file *f, uint64_t *n) {
    const gguf_value *tokens = gguf_get_arr(f, "tokenizer.ggml.tokens");
    if (!tokens) return false;
    *n = tokens->arr.n;
    return true;
}

static void print_str_field(const char *label, const gguf_file *f, const char *key) {
    gguf_str s;
    printf("%-17s", label);
    if (gguf_get_str(f, key, &s))
        print_escaped(s.ptr, s.len);
    else
        fputs("(not set)", stdout);
    putchar('\n');
}

static void format_dims(const gguf_tensor *t, char *buf, size_t size) {
    size_t o = 0;
    buf[0] = '\0';
    uint32_t n = t->n_dims ? t->n_dims : 1;
    for (uint32_t d = 0; d < n && o < size; d++)
        o += (size_t)snprintf(buf + o, size - o, "%s%lld", d ? " x " : "", (long long)t->ne[d]);
}

/* "0-2, 4-6" for the layers of one mixer kind; false if there are none */
static bool format_layers(const ql_model_config *c, ql_mixer_kind kind, char *buf, size_t size) {
    size_t o = 0;
    buf[0] = '\0';
    for (int64_t l = 0; l < c->n_layer && o + 32 < size; l++) {
        if (ql_layer_mixer(c, l) != kind || (l > 0 && ql_layer_mixer(c, l - 1) == kind)) continue;
        int64_t end = l;
        while (end + 1 < c->n_layer && ql_layer_mixer(c, end + 1) == kind) end++;
        o += (size_t)snprintf(buf + o, size - o, o ? ", %lld" : "%lld", (long long)l);
        if (end > l) o += (size_t)snprintf(buf + o, size - o, "-%lld", (long long)end);
    }
    return o > 0;
}

/* Memory figures at f16 K and V for one sequence of the training context, from layers.h. */
static void model_state(const ql_model_config *c, ql_state_summary *s, uint64_t *kv_per_token) {
    const ql_state_params sp = {
        .type_k = QL_TYPE_F16, .type_v = QL_TYPE_F16, .n_ctx = c->n_ctx_train, .n_ubatch = 512};
    ql_state_summarize(c, &sp, s);
    *kv_per_token = (uint64_t)(s->n_attention + s->n_sliding) *
                    ql_layer_kv_bytes_per_cell(c, sp.type_k, sp.type_v);
}

static void print_layers_text(const ql_model_config *c) {
    ql_state_summary s;
    uint64_t per_token;
    model_state(c, &s, &per_token);
    char list[512], human[32];
    printf("%-17s%lld:", "layers:", (long long)c->n_layer);
    const char *sep = " ";
    if (s.n_deltanet) printf("%s%lld gated deltanet", sep, (long long)s.n_deltanet), sep = ", ";
    if (s.n_sliding)
        printf("%s%lld sliding-window attention", sep, (long long)s.n_sliding), sep = ", ";
    if (s.n_attention) printf("%s%lld attention", sep, (long long)s.n_attention);
    if (c->n_expert > 0)
        printf("; MoE FFN, %lld experts (%lld used) of n_ff %lld%s\n", (long long)c->n_expert,
               (long long)c->n_expert_used, (long long)c->n_ff_exp,
               c->hybrid ? ", and a gated shared expert" : "");
    else
        printf("; dense FFN\n");
    const ql_mixer_kind kinds[3] = {QL_MIXER_ATTENTION, QL_MIXER_SLIDING, QL_MIXER_DELTANET};
    const char *what[3] = {"K and V for every position", "K and V for its window",
                           "no KV cache: a conv window and a state"};
    for (int i = 0; i < 3; i++) {
        if (!format_layers(c, kinds[i], list, sizeof list)) continue;
        char label[48];
        snprintf(label, sizeof label, "%s:", ql_mixer_name(kinds[i]));
        printf("  %-37s%s (%s)\n", label, list, what[i]);
    }
    printf("%-17s%llu bytes per token at f16 K and V, in %lld of %lld layers",
           "KV cache:", (unsigned long long)per_token, (long long)(s.n_attention + s.n_sliding),
           (long long)c->n_layer);
    if (s.n_sliding)
        printf(" (sliding-window layers stop growing past their window of %lld)",
               (long long)c->n_swa);
    putchar('\n');
    if (s.n_deltanet) {
        cli_format_bytes(s.recurrent_bytes, human, sizeof human);
        printf("%-17s%llu bytes (%s) per sequence, whatever the context: %lld-input conv windows "
               "and %lld x %lld f32 states of %lld value heads per layer\n",
               "recurrent state:", (unsigned long long)s.recurrent_bytes, human,
               (long long)(c->ssm_d_conv - 1), (long long)c->ssm_d_state, (long long)c->ssm_d_state,
               (long long)c->ssm_dt_rank);
    }
}

static void print_layers_json(ql_json *j, const ql_model_config *c) {
    ql_state_summary s;
    uint64_t per_token;
    model_state(c, &s, &per_token);
    ql_json_key(j, "layers");
    ql_json_object_begin(j);
    ql_json_key(j, "n_layer");
    ql_json_int(j, c->n_layer);
    ql_json_key(j, "mixers");
    ql_json_array_begin_inline(j);
    for (int64_t l = 0; l < c->n_layer; l++) ql_json_str(j, ql_mixer_name(ql_layer_mixer(c, l)));
    ql_json_array_end(j);
    ql_json_key(j, "ffn");
    ql_json_str(j, ql_ffn_name(ql_layer_ffn(c, 0)));
    if (c->n_expert > 0) {
        ql_json_key(j, "n_expert");
        ql_json_int(j, c->n_expert);
        ql_json_key(j, "n_expert_used");
        ql_json_int(j, c->n_expert_used);
        ql_json_key(j, "n_ff_exp");
        ql_json_int(j, c->n_ff_exp);
    }
    ql_json_key(j, "kv_layers");
    ql_json_int(j, s.n_attention + s.n_sliding);
    ql_json_key(j, "kv_bytes_per_token_f16");
    ql_json_uint(j, per_token);
    ql_json_key(j, "recurrent_layers");
    ql_json_int(j, s.n_deltanet);
    ql_json_key(j, "recurrent_bytes");
    ql_json_uint(j, s.recurrent_bytes);
    ql_json_object_end(j);
}

static void print_text(const info_facts *in, const char *path) {
    const gguf_file *f = in->f;
    char human[32];
    printf("%-17s%s\n", "file:", cli_shown(path));
    printf("%-17s%u\n", "gguf version:", gguf_version(f));
    cli_format_bytes(gguf_file_size(f), human, sizeof human);
    printf("%-17s%llu bytes (%s)\n", "file size:", (unsigned long long)gguf_file_size(f), human);
    printf("%-17s%llu\n", "alignment:", (unsigned long long)gguf_alignment(f));
    printf("%-17s%lld\n", "key-values:", (long long)gguf_n_kv(f));
    print_str_field("name:", f, "general.name");
    print_str_field("architecture:", f, "general.architecture");
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        gguf_str rest;
        if (!is_arch_key(in, kv, &rest)) continue;
        fputs("  ", stdout);
        print_escaped(rest.ptr, rest.len);
        int w = escaped_width(rest.ptr, rest.len);
        printf(":%*s", w < 38 ? 38 - w : 1, "");
        print_value(&kv->value, 0);
        putchar('\n');
    }
    print_str_field("tokenizer:", f, "tokenizer.ggml.model");
    print_str_field("pre-tokenizer:", f, "tokenizer.ggml.pre");
    uint64_t n_vocab;
    if (vocab_size(f, &n_vocab))
        printf("%-17s%llu tokens\n", "vocabulary:", (unsigned long long)n_vocab);
    else
        printf("%-17s(no tokenizer.ggml.tokens)\n", "vocabulary:");
    uint32_t ftype;
    printf("%-17s", "file type:");
    if (gguf_get_u32(f, "general.file_type", &ftype)) {
        const char *name = gguf_file_type_name(ftype);
        printf("%u (%s)\n", ftype, name ? name : "unknown to llama.cpp");
    } else {
        printf("(not set)\n");
    }
    printf("%-17s%lld\n", "tensors:", (long long)gguf_n_tensors(f));
    printf("%-17s%llu\n", "parameters:", (unsigned long long)in->n_params);
    cli_format_bytes(in->n_bytes, human, sizeof human);
    printf("%-17s%llu (%s)\n", "tensor bytes:", (unsigned long long)in->n_bytes, human);
    if (in->n_params)
        printf("%-17s%.4f\n", "bits per weight:", 8.0 * (double)in->n_bytes / (double)in->n_params);
    else
        printf("%-17s(no parameters)\n", "bits per weight:");
    if (gguf_n_tensors(f) > 0) {
        printf("types:\n  %-10s %8s %16s %16s\n", "type", "tensors", "parameters", "bytes");
        for (int t = 0; t < QL_TYPE_COUNT; t++) {
            const type_stats *s = &in->by_type[t];
            if (!s->tensors) continue;
            printf("  %-10s %8lld %16llu %16llu\n", ql_type_name(t), (long long)s->tensors,
                   (unsigned long long)s->params, (unsigned long long)s->bytes);
        }
    }
    if (in->has_config) print_layers_text(&in->cfg);
    if (!opt_tensors) return;
    printf("tensors (offsets within the data section, which starts at byte %llu):\n",
           (unsigned long long)gguf_data_offset(f));
    printf("  %6s  %-40s %-8s %-24s %14s %14s\n", "#", "name", "type", "dims (ne0 first)", "bytes",
           "offset");
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        char dims[128];
        format_dims(t, dims, sizeof dims);
        printf("  %6lld  ", (long long)i);
        print_escaped(t->name.ptr, t->name.len);
        int w = escaped_width(t->name.ptr, t->name.len);
        printf("%*s %-8s %-24s %14llu %14llu\n", w < 40 ? 40 - w : 0, "", ql_type_name(t->type),
               dims, (unsigned long long)t->n_bytes, (unsigned long long)t->offset);
    }
}

static void json_str_key(ql_json *j, const char *name, const gguf_file *f, const char *key) {
    gguf_str s;
    ql_json_key(j, name);
    if (gguf_get_str(f, key, &s))
        ql_json_str_n(j, s.ptr, (size_t)s.len);
    else
        ql_json_null(j);
}

static bool print_json(const info_facts *in, const char *path) {
    const gguf_file *f = in->f;
    ql_json j;
    ql_json_init(&j, stdout, true);
    ql_json_object_begin(&j);
    ql_json_key(&j, "file");
    ql_json_str(&j, path);
    ql_json_key(&j, "gguf_version");
    ql_json_uint(&j, gguf_version(f));
    ql_json_key(&j, "file_size");
    ql_json_uint(&j, gguf_file_size(f));
    ql_json_key(&j, "alignment");
    ql_json_uint(&j, gguf_alignment(f));
    ql_json_key(&j, "data_offset");
    ql_json_uint(&j, gguf_data_offset(f));
    ql_json_key(&j, "n_kv");
    ql_json_int(&j, gguf_n_kv(f));
    json_str_key(&j, "name", f, "general.name");
    json_str_key(&j, "architecture", f, "general.architecture");

    ql_json_key(&j, "hparams");
    ql_json_object_begin(&j);
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        gguf_str rest;
        if (!is_arch_key(in, kv, &rest)) continue;
        ql_json_key_n(&j, rest.ptr, (size_t)rest.len);
        json_value(&j, &kv->value);
    }
    ql_json_object_end(&j);

    ql_json_key(&j, "tokenizer");
    ql_json_object_begin(&j);
    json_str_key(&j, "model", f, "tokenizer.ggml.model");
    json_str_key(&j, "pre", f, "tokenizer.ggml.pre");
    uint64_t n_vocab;
    ql_json_key(&j, "vocab_size");
    if (vocab_size(f, &n_vocab))
        ql_json_uint(&j, n_vocab);
    else
        ql_json_null(&j);
    ql_json_object_end(&j);

    uint32_t ftype;
    ql_json_key(&j, "file_type");
    if (gguf_get_u32(f, "general.file_type", &ftype)) {
        ql_json_object_begin(&j);
        ql_json_key(&j, "id");
        ql_json_uint(&j, ftype);
        ql_json_key(&j, "name");
        ql_json_str(&j, gguf_file_type_name(ftype));
        ql_json_object_end(&j);
    } else {
        ql_json_null(&j);
    }

    ql_json_key(&j, "n_tensors");
    ql_json_int(&j, gguf_n_tensors(f));
    ql_json_key(&j, "n_params");
    ql_json_uint(&j, in->n_params);
    ql_json_key(&j, "tensor_bytes");
    ql_json_uint(&j, in->n_bytes);
    ql_json_key(&j, "bits_per_weight");
    if (in->n_params)
        ql_json_double(&j, 8.0 * (double)in->n_bytes / (double)in->n_params);
    else
        ql_json_null(&j);

    ql_json_key(&j, "types");
    ql_json_array_begin(&j);
    for (int t = 0; t < QL_TYPE_COUNT; t++) {
        const type_stats *s = &in->by_type[t];
        if (!s->tensors) continue;
        ql_json_object_begin(&j);
        ql_json_key(&j, "type");
        ql_json_str(&j, ql_type_name(t));
        ql_json_key(&j, "id");
        ql_json_int(&j, t);
        ql_json_key(&j, "tensors");
        ql_json_int(&j, s->tensors);
        ql_json_key(&j, "params");
        ql_json_uint(&j, s->params);
        ql_json_key(&j, "bytes");
        ql_json_uint(&j, s->bytes);
        ql_json_object_end(&j);
    }
    ql_json_array_end(&j);

    if (in->has_config) print_layers_json(&j, &in->cfg);

    ql_json_key(&j, "tensors");
    ql_json_array_begin(&j);
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        ql_json_object_begin(&j);
        ql_json_key(&j, "name");
        ql_json_str_n(&j, t->name.ptr, (size_t)t->name.len);
        ql_json_key(&j, "type");
        ql_json_str(&j, ql_type_name(t->type));
        ql_json_key(&j, "dims");
        ql_json_array_begin_inline(&j);
        for (uint32_t d = 0; d < t->n_dims; d++) ql_json_int(&j, t->ne[d]);
        ql_json_array_end(&j);
        ql_json_key(&j, "params");
        ql_json_int(&j, gguf_tensor_nelements(t));
        ql_json_key(&j, "bytes");
        ql_json_uint(&j, t->n_bytes);
        ql_json_key(&j, "offset");
        ql_json_uint(&j, t->offset);
        ql_json_object_end(&j);
    }
    ql_json_array_end(&j);
    ql_json_object_end(&j);
    return ql_json_finish(&j);
}

static int run_info(int argc, char **argv) {
    const char *pos[1];
    int np = 0;
    int rc = cli_parse(&ql_cmd_info, argc, argv, pos, 1, &np);
    if (rc) return rc < 0 ? QL_EXIT_OK : rc;
    if (np != 1) return cli_usage("info: expected one FILE.gguf; usage: %s", ql_cmd_info.usage);
    ql_error err;
    gguf_file *f;
    if (gguf_open(pos[0], &f, &err)) return cli_fail(&err);
    info_facts in;
    gather(f, &in);
    bool ok = true;
    if (opt_json)
        ok = print_json(&in, pos[0]);
    else
        print_text(&in, pos[0]);
    gguf_close(f);
    if (fflush(stdout) != 0 || ferror(stdout) || !ok) {
        cli_error("info: cannot write the report to standard output");
        return QL_EXIT_FAILURE;
    }
    return QL_EXIT_OK;
}
