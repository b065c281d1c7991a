/*
 * fuzz_targets.h - what each fuzz target does with one input, shared by the
 * libFuzzer binaries (tests/fuzz/fuzz_main.c, built by `make fuzz`) and the
 * regression tests (tests/test_fuzz_regressions.c), which replay the seed
 * corpora and every input a fuzzer once crashed on through the same code
 * under the ordinary test build.
 *
 * A target feeds the bytes to one reader, walks whatever the reader accepted
 * and checks the reader's promises (ids in range, words that tile the text,
 * offsets inside the buffer). A broken promise calls abort(), which both
 * libFuzzer and the test runner report as a crash. Inputs never make a
 * target print anything.
 */
#ifndef QL_TESTS_FUZZ_TARGETS_H
#define QL_TESTS_FUZZ_TARGETS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name; /* also the directory name under tests/fuzz/corpus and regressions */
    int (*run)(const uint8_t *data, size_t size);
} ql_fuzz_target;

int ql_fuzz_gguf(const uint8_t *data, size_t size);
int ql_fuzz_tok_bpe(const uint8_t *data, size_t size);
int ql_fuzz_tok_spm(const uint8_t *data, size_t size);
int ql_fuzz_pretok(const uint8_t *data, size_t size);
int ql_fuzz_refstore(const uint8_t *data, size_t size);
int ql_fuzz_kld_llama(const uint8_t *data, size_t size);
int ql_fuzz_journal(const uint8_t *data, size_t size);
int ql_fuzz_regex(const uint8_t *data, size_t size);
int ql_fuzz_plan_csv(const uint8_t *data, size_t size);

extern const ql_fuzz_target ql_fuzz_targets[];
extern const int ql_fuzz_n_targets;

/* The target called name, or NULL. */
const ql_fuzz_target *ql_fuzz_find(const char *name);

#endif
