/*
 * gguf_edit.h - a copy of a GGUF model with a few things changed: keys set
 * to hostile values and single tensor elements overwritten (NaN, infinity,
 * the f16 maximum), for the tests of what qlens does with such models.
 */
#ifndef QL_TESTS_GGUF_EDIT_H
#define QL_TESTS_GGUF_EDIT_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { EDIT_F32, EDIT_U32, EDIT_U64, EDIT_I64, EDIT_REMOVE } ql_test_key_kind;

typedef struct {
    const char *key; /* "{arch}." is not added: give the whole key */
    ql_test_key_kind kind;
    double f;
    uint64_t u;
    int64_t i;
} ql_test_key_edit;

/* Element `index` (in the tensor's f32 or f16 data) becomes value; index QL_TEST_DROP_TENSOR
 * leaves the tensor out of the copy. */
#define QL_TEST_DROP_TENSOR INT64_MIN
typedef struct {
    const char *tensor;
    int64_t index;
    float value;
} ql_test_tensor_edit;

/* Writes src with the edits to dst; false (and a message on stderr) when it cannot. */
bool ql_test_gguf_edit(const char *src, const char *dst, const ql_test_key_edit *keys, int n_keys,
                       const ql_test_tensor_edit *tensors, int n_tensors);

#endif
