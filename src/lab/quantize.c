/*
 * quantize.c - the requantization pass: plan every tensor's type, check the
 * whole plan, then stream the output tensor by tensor.
 *
 * Checking first matters because the output is streamed: a tensor that
 * cannot be converted must be found before the first byte is written, not
 * after most of a large model. Converting a tensor goes row by row through
 * an f32 scratch row per thread (dequantize or widen, then quantize), so no
 * whole-tensor f32 copy exists; only the converted tensor is held in memory
 * until it is written.
 */
#include "quantize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/threadpool.h"

/* What llama.cpp writes as general.quantization_version (GGML_QNT_VERSION). */
#define QL_QUANTIZATION_VERSION 2

ql_status ql_quant_model_info_read(const gguf_file *f, ql_quant_model_info *out, ql_error *err) {
    memset(out, 0, sizeof *out);
    gguf_str arch;
    if (!gguf_get_str(f, "general.architecture", &arch) || arch.len == 0)
        return ql_fail(err, QL_ERR_FORMAT,
                       "%s: no general.architecture; llama.cpp's quantization rules need a model",
                       gguf_path(f));
    if (arch.len >= sizeof out->arch)
        return ql_fail(err, QL_ERR_FORMAT, "%s: general.architecture is too long", gguf_path(f));
    gguf_str_copy(arch, out->arch, sizeof out->arch);

    char key[128];
    uint64_t v;
    snprintf(key, sizeof key, "%s.block_count", out->arch);
    if (!gguf_get_u64(f, key, &v) || v == 0 || v > 100000)
        return ql_fail(err, QL_ERR_FORMAT, "%s: %s is missing or not a layer count", gguf_path(f),
                       key);
    out->n_layer = (int64_t)v;

    /* head counts may be per-layer arrays; the rules read layer 0, as llama.cpp's n_gqa() does */
    snprintf(key, sizeof key, "%s.attention.head_count", out->arch);
    const gguf_value *arr = gguf_get_arr(f, key);
    int64_t n;
    if (arr ? gguf_arr_get_i64(arr, 0, &n) : (gguf_get_i64(f, key, &n))) out->n_head = n;
    out->n_head_kv = out->n_head;
    snprintf(key, sizeof key, "%s.attention.head_count_kv", out->arch);
    arr = gguf_get_arr(f, key);
    if (arr ? gguf_arr_get_i64(arr, 0, &n) : (gguf_get_i64(f, key, &n))) out->n_head_kv = n;
    snprintf(key, sizeof key, "%s.expert_count", out->arch);
    if (gguf_get_i64(f, key, &n)) out->n_expert = n;
    if (out->n_head < 0 || out->n_head_kv < 0 || out->n_expert < 0)
        return ql_fail(err, QL_ERR_FORMAT, "%s: negative head or expert count", gguf_path(f));
    return QL_OK;
}

/* One input tensor and its plan. */
typedef struct {
    const gguf_tensor *src;
    char *name;
    ql_quant_choice choice;
} planned_tensor;

static int compare_planned(const void *a, const void *b) {
    return ql_quant_tensor_order(((const planned_tensor *)a)->name,
                                 ((const planned_tensor *)b)->name);
}

static void free_plan(planned_tensor *plan, int64_t n) {
    if (!plan) return;
    for (int64_t i = 0; i < n; i++) free(plan[i].name);
    free(plan);
}

/* Rows of a tensor: the product of every dimension but the first. */
static int64_t row_count(const gguf_tensor *t) {
    int64_t rows = 1;
    for (int d = 1; d < GGUF_MAX_DIMS; d++) rows *= t->ne[d];
    return rows;
}

/* Every reason a planned conversion cannot run, found before any output exists. */
static ql_status check_plan(const planned_tensor *plan, int64_t n, bool allow_requantize,
                            ql_error *err) {
    for (int64_t i = 0; i < n; i++) {
        const planned_tensor *p = &plan[i];
        ql_type from = p->src->type, to = p->choice.type;
        if (from == to) continue;
        const ql_type_traits *tf = ql_type_traits_get((int)from), *tt = ql_type_traits_get((int)to);
        if (!tt || !tt->from_float_ref)
            return ql_fail(err, QL_ERR_UNSUPPORTED, "tensor %s: qlens cannot produce type %s",
                           p->name, ql_type_name((int)to));
        if (tf->is_quantized && !allow_requantize)
            return ql_fail(err, QL_ERR_UNSUPPORTED,
                           "tensor %s is already quantized (%s); requantizing from a quantized "
                           "type is disabled unless allowed (--allow-requantize)",
                           p->name, ql_type_name((int)from));
        if (!tf->to_float || (!tf->is_quantized && from != QL_TYPE_F32 && from != QL_TYPE_F16 &&
                              from != QL_TYPE_BF16))
            return ql_fail(err, QL_ERR_UNSUPPORTED, "tensor %s: cannot convert from type %s",
                           p->name, ql_type_name((int)from));
        if (p->src->ne[0] % tt->block_size != 0)
            return ql_fail(err, QL_ERR_UNSUPPORTED,
                           "tensor %s: rows of %lld elements are not whole %s blocks of %lld",
                           p->name, (long long)p->src->ne[0], ql_type_name((int)to),
                           (long long)tt->block_size);
    }
    return QL_OK;
}

/*
 * A tensor's rows, checked and (unless dst is NULL) converted by the pool:
 * thread ith takes its share of the rows.
 */
typedef struct {
    const uint8_t *src;
    uint8_t *dst; /* NULL: only check the input */
    const ql_type_traits *from, *to;
    size_t src_row_bytes, dst_row_bytes;
    int64_t n_rows, n_per_row;
    float *scratch;          /* 2 * n_per_row floats per thread */
    int64_t *bad_input_row;  /* per thread: a row holding NaN or infinity, or -1 */
    int64_t *bad_output_row; /* per thread: a row whose encoding is not finite, or -1 */
} convert_job;

static bool all_finite(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return false;
    return true;
}

static void convert_rows(void *arg, int ith, int nth) {
    convert_job *job = arg;
    long long begin, end;
    ql_split_range(job->n_rows, ith, nth, &begin, &end);
    float *values = job->scratch + (size_t)ith * 2 * (size_t)job->n_per_row;
    float *check = values + job->n_per_row;
    job->bad_input_row[ith] = job->bad_output_row[ith] = -1;
    for (int64_t r = begin; r < end; r++) {
        job->from->to_float(job->src + (size_t)r * job->src_row_bytes, values, job->n_per_row);
        /*
         * llama.cpp validates every tensor it loads and refuses NaN and
         * infinity (in quantized data: non-finite scales, which decode to
         * non-finite values). Quantizers are not defined on such values.
         */
        if (!all_finite(values, job->n_per_row)) {
            job->bad_input_row[ith] = r;
            return;
        }
        if (!job->dst) continue;
        uint8_t *out = job->dst + (size_t)r * job->dst_row_bytes;
        job->to->from_float_ref(values, out, job->n_per_row);
        /* and it validates what it wrote: values beyond f16's range give infinite scales */
        job->to->to_float(out, check, job->n_per_row);
        if (!all_finite(check, job->n_per_row)) {
            job->bad_output_row[ith] = r;
            return;
        }
    }
}

/* Everything one run holds, released in one place. */
typedef struct {
    gguf_file *in;
    planned_tensor *plan;
    int64_t n_plan;
    gguf_writer *writer;
    ql_pool *pool;
    uint8_t *converted;
    float *scratch;
    int64_t *bad_rows; /* 2 per thread: input, output */
} quantize_run;

static void release(quantize_run *run) {
    gguf_writer_free(run->writer); /* removes the temporary file if the output is unfinished */
    ql_pool_free(run->pool);
    free_plan(run->plan, run->n_plan);
    free(run->converted);
    free(run->scratch);
    free(run->bad_rows);
    gguf_close(run->in);
}

static ql_status plan_types(quantize_run *run, const ql_quantize_params *params, ql_error *err) {
    const gguf_file *in = run->in;
    ql_quant_model_info model;
    ql_status st = ql_quant_model_info_read(in, &model, err);
    if (st) return st;

    int64_t n = gguf_n_tensors(in);
    run->plan = calloc(n > 0 ? (size_t)n : 1, sizeof *run->plan);
    if (!run->plan) return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        const gguf_tensor *t = gguf_tensor_at(in, i);
        run->plan[i].src = t;
        run->plan[i].name = malloc(t->name.len + 1);
        run->n_plan = i + 1;
        if (!run->plan[i].name) return ql_fail(err, QL_ERR_NOMEM, "out of memory");
        memcpy(run->plan[i].name, t->name.ptr, t->name.len);
        run->plan[i].name[t->name.len] = 0;
    }
    /* llama.cpp visits (and writes) tensors in this order, and some rules count as they go */
    qsort(run->plan, (size_t)n, sizeof *run->plan, compare_planned);

    ql_quant_tensor *descs = calloc(n > 0 ? (size_t)n : 1, sizeof *descs);
    ql_quant_choice *choices = calloc(n > 0 ? (size_t)n : 1, sizeof *choices);
    if (!descs || !choices) {
        free(descs);
        free(choices);
        return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < n; i++) {
        descs[i].name = run->plan[i].name;
        memcpy(descs[i].ne, run->plan[i].src->ne, sizeof descs[i].ne);
        descs[i].type = run->plan[i].src->type;
    }
    st = ql_quant_choose_types(&model, &params->rules, descs, n, choices, err);
    for (int64_t i = 0; i < n && !st; i++) run->plan[i].choice = choices[i];
    free(descs);
    free(choices);
    if (!st) st = check_plan(run->plan, n, params->allow_requantize, err);
    if (st) ql_error_prefix(err, "%s", gguf_path(in));
    return st;
}

/* Buffers sized for the largest conversion (and the longest row checked), allocated once. */
static ql_status allocate_buffers(quantize_run *run, int n_threads, ql_error *err) {
    size_t max_out = 0;
    int64_t max_row = 0;
    for (int64_t i = 0; i < run->n_plan; i++) {
        const planned_tensor *p = &run->plan[i];
        if (p->src->ne[0] > max_row) max_row = p->src->ne[0];
        if (p->choice.type == p->src->type) continue;
        size_t bytes = ql_row_size(p->choice.type, p->src->ne[0]) * (size_t)row_count(p->src);
        if (bytes > max_out) max_out = bytes;
    }
    run->converted = malloc(max_out ? max_out : 1);
    run->scratch = malloc((size_t)n_threads * 2 * (size_t)(max_row ? max_row : 1) * sizeof(float));
    run->bad_rows = malloc((size_t)n_threads * 2 * sizeof(int64_t));
    if (!run->converted || !run->scratch || !run->bad_rows)
        return ql_fail(err, QL_ERR_NOMEM, "out of memory for a %zu-byte tensor", max_out);
    return QL_OK;
}

static ql_status begin_output(quantize_run *run, const char *out_path, ql_ftype ftype,
                              ql_error *err) {
    ql_status st = gguf_writer_create(&run->writer, err);
    if (st) return st;
    /*
     * Every key-value in its order, except those llama.cpp sets itself: the
     * two quantization keys are set anew, which in llama.cpp's gguf removes
     * them and appends them at the end; split keys describe the input's shards.
     */
    static const char *const replaced[] = {"general.quantization_version", "general.file_type",
                                           "split.no", "split.count", "split.tensors.count"};
    if ((st = gguf_writer_copy_kvs(run->writer, run->in, replaced,
                                   sizeof replaced / sizeof *replaced, err)) ||
        (st = gguf_writer_set_u32(run->writer, "general.quantization_version",
                                  QL_QUANTIZATION_VERSION, err)) ||
        (st = gguf_writer_set_u32(run->writer, "general.file_type", (uint32_t)ftype, err)))
        return st;
    for (int64_t i = 0; i < run->n_plan; i++) {
        const planned_tensor *p = &run->plan[i];
        /* unchanged tensors are written straight from the input's mapping */
        const void *data = p->choice.type == p->src->type ? p->src->data : NULL;
        /* llama.cpp writes a tensor with as many dims as it has up to its last one above 1
         * (a [256,1] shared-expert gate comes out as [256]); the output must match it */
        uint32_t n_dims = p->src->n_dims;
        while (n_dims > 1 && p->src->ne[n_dims - 1] == 1) n_dims--;
        if ((st = gguf_writer_add_tensor(run->writer, p->name, p->choice.type, n_dims, p->src->ne,
                                         data, err)))
            return st;
    }
    return gguf_writer_begin(run->writer, out_path, err);
}

/*
 * Checks a tensor's values and, when its type changes, converts it and
 * streams the result. Tensors whose type qlens cannot decode are copied
 * unchecked (the plan allows that only when they keep their type).
 */
static ql_status process_tensor(quantize_run *run, const planned_tensor *p, uint64_t *bytes_out,
                                ql_error *err) {
    const gguf_tensor *t = p->src;
    bool convert = p->choice.type != t->type;
    *bytes_out = t->n_bytes;
    const ql_type_traits *from = ql_type_traits_get((int)t->type);
    if (!convert && (!from || !from->to_float || gguf_tensor_nelements(t) == 0)) return QL_OK;
    int nth = ql_pool_size(run->pool);
    convert_job job = {
        .src = t->data,
        .dst = convert ? run->converted : NULL,
        .from = from,
        .to = ql_type_traits_get((int)p->choice.type),
        .src_row_bytes = ql_row_size(t->type, t->ne[0]),
        .dst_row_bytes = ql_row_size(p->choice.type, t->ne[0]),
        .n_rows = row_count(t),
        .n_per_row = t->ne[0],
        .scratch = run->scratch,
        .bad_input_row = run->bad_rows,
        .bad_output_row = run->bad_rows + nth,
    };
    ql_pool_run(run->pool, convert_rows, &job);
    for (int i = 0; i < nth; i++) {
        if (job.bad_input_row[i] >= 0)
            return ql_fail(err, QL_ERR_FORMAT,
                           "%s: tensor %s: row %lld holds NaN or infinite values",
                           gguf_path(run->in), p->name, (long long)job.bad_input_row[i]);
        if (job.bad_output_row[i] >= 0)
            return ql_fail(err, QL_ERR_FORMAT,
                           "%s: tensor %s: row %lld is not finite as %s (values beyond the "
                           "type's range)",
                           gguf_path(run->in), p->name, (long long)job.bad_output_row[i],
                           ql_type_name((int)p->choice.type));
    }
    if (!convert) return QL_OK; /* the writer copies it from the input itself */
    *bytes_out = job.dst_row_bytes * (uint64_t)job.n_rows;
    return gguf_writer_write_data(run->writer, run->converted, (size_t)*bytes_out, err);
}

ql_status ql_quantize_model(const char *in_path, const char *out_path,
                            const ql_quantize_params *params, ql_quantize_summary *summary,
                            ql_error *err) {
    quantize_run run = {0};
    ql_quantize_summary sum = {0};
    ql_status st = gguf_open(in_path, &run.in, err);
    if (st) return st;
    uint64_t n_splits;
    if (gguf_get_u64(run.in, "split.count", &n_splits) && n_splits > 1) {
        st = ql_fail(err, QL_ERR_UNSUPPORTED,
                     "%s is one of %llu parts of a split model; merge the parts first", in_path,
                     (unsigned long long)n_splits);
        goto done;
    }
    int n_threads = params->n_threads > 0 ? params->n_threads : 1;
    if ((st = plan_types(&run, params, err)) || (st = allocate_buffers(&run, n_threads, err)) ||
        (st = ql_pool_create(n_threads, &run.pool, err)) ||
        (st = begin_output(&run, out_path, params->rules.ftype, err)))
        goto done;

    for (int64_t i = 0; i < run.n_plan; i++) {
        const planned_tensor *p = &run.plan[i];
        const gguf_tensor *t = p->src;
        bool convert = p->choice.type != t->type;
        uint64_t bytes_out;
        if ((st = process_tensor(&run, p, &bytes_out, err))) goto done;
        sum.n_converted += convert;
        sum.n_tensors++;
        sum.n_elements += gguf_tensor_nelements(t);
        sum.bytes_in += t->n_bytes;
        sum.bytes_out += bytes_out;
        if (p->choice.fell_back) sum.n_fallback++;
        if (params->on_tensor) {
            ql_quantize_tensor_report r = {
                .index = i,
                .n_tensors = run.n_plan,
                .name = p->name,
                .n_dims = t->n_dims,
                .from = t->type,
                .to = p->choice.type,
                .converted = convert,
                .by_rule = p->choice.by_rule,
                .fell_back = p->choice.fell_back,
                .wanted = p->choice.wanted,
                .bytes_in = t->n_bytes,
                .bytes_out = bytes_out,
            };
            memcpy(r.ne, t->ne, sizeof r.ne);
            params->on_tensor(params->user, &r);
        }
    }
    st = gguf_writer_finish(run.writer, err);
done:
    release(&run);
    if (!st && summary) *summary = sum;
    return st;
}
