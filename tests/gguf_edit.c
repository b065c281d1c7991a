/* gguf_edit.c - see gguf_edit.h. */
#include "gguf_edit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fp16.h"
#include "gguf/gguf.h"

static bool set_key(gguf_writer *w, const ql_test_key_edit *e, ql_error *err) {
    switch (e->kind) {
    case EDIT_F32:
        return gguf_writer_set_f32(w, e->key, (float)e->f, err) == QL_OK;
    case EDIT_U32:
        return gguf_writer_set_u32(w, e->key, (uint32_t)e->u, err) == QL_OK;
    case EDIT_U64:
        return gguf_writer_set_u64(w, e->key, e->u, err) == QL_OK;
    case EDIT_I64:
        return gguf_writer_set_i64(w, e->key, e->i, err) == QL_OK;
    case EDIT_REMOVE:
        return true; /* left out of the copy */
    }
    return false;
}

/* Overwrites one element of a copy of t's data; false for a type this helper cannot write. */
static bool patch(const gguf_tensor *t, uint8_t *data, const ql_test_tensor_edit *e) {
    if (e->index < 0 || e->index >= gguf_tensor_nelements(t)) return false;
    if (t->type == QL_TYPE_F32) {
        memcpy(data + 4 * e->index, &e->value, 4);
        return true;
    }
    if (t->type == QL_TYPE_F16) {
        const uint16_t h = ql_fp32_to_fp16(e->value);
        memcpy(data + 2 * e->index, &h, 2);
        return true;
    }
    return false;
}

bool ql_test_gguf_edit(const char *src, const char *dst, const ql_test_key_edit *keys, int n_keys,
                       const ql_test_tensor_edit *tensors, int n_tensors) {
    gguf_file *f;
    gguf_writer *w = NULL;
    ql_error err = {0};
    if (gguf_open(src, &f, &err) != QL_OK) {
        fprintf(stderr, "gguf_edit: %s\n", err.msg);
        return false;
    }
    const int64_t n = gguf_n_tensors(f);
    uint8_t **copies = calloc((size_t)n + 1, sizeof *copies);
    const char *skip[64];
    int n_skip = 0;
    for (int i = 0; i < n_keys && n_skip < 64; i++)
        if (keys[i].kind == EDIT_REMOVE) skip[n_skip++] = keys[i].key;
    bool ok = copies && gguf_writer_create(&w, &err) == QL_OK &&
              gguf_writer_copy_kvs(w, f, n_skip ? skip : NULL, n_skip, &err) == QL_OK;
    for (int i = 0; ok && i < n_keys; i++) ok = set_key(w, &keys[i], &err);
    for (int64_t i = 0; ok && i < n; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        const void *data = t->data;
        bool drop = false;
        for (int e = 0; e < n_tensors; e++)
            drop = drop || (gguf_str_eq(t->name, tensors[e].tensor) &&
                            tensors[e].index == QL_TEST_DROP_TENSOR);
        if (drop) continue;
        for (int e = 0; ok && e < n_tensors; e++) {
            if (!gguf_str_eq(t->name, tensors[e].tensor)) continue;
            if (!copies[i]) {
                copies[i] = malloc(t->n_bytes ? t->n_bytes : 1);
                if (!copies[i]) ok = false;
                if (ok) memcpy(copies[i], t->data, t->n_bytes);
            }
            if (ok && !patch(t, copies[i], &tensors[e])) {
                fprintf(stderr, "gguf_edit: cannot write element %lld of %s\n",
                        (long long)tensors[e].index, tensors[e].tensor);
                ok = false;
            }
            data = copies[i];
        }
        if (ok) ok = gguf_writer_add_tensor_like(w, t, t->type, data, &err) == QL_OK;
    }
    if (ok) ok = gguf_writer_write_file(w, dst, &err) == QL_OK;
    if (!ok && err.msg[0]) fprintf(stderr, "gguf_edit: %s\n", err.msg);
    for (int64_t i = 0; copies && i < n; i++) free(copies[i]);
    free(copies);
    gguf_writer_free(w);
    gguf_close(f);
    return ok;
}
