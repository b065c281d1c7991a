/*
 * test.h - the test harness. A test is `QL_TEST(name) { ... }` in any
 * tests/test_*.c file; the Makefile collects the names into a registry, so
 * adding a test is writing it. CHECK records a failure and goes on; REQUIRE
 * records it and ends the test. Messages say what was expected and found.
 */
#ifndef QL_TESTS_TEST_H
#define QL_TESTS_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    const char *name;
    int failures;
    int checks;
    bool skipped;
    char skip_reason[256];
} ql_test_ctx;

#define QL_TEST(name)                                                                              \
    void ql_test_##name(ql_test_ctx *t);                                                           \
    void ql_test_##name(ql_test_ctx *t)

void ql_test_failf(ql_test_ctx *t, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void ql_test_skip(ql_test_ctx *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        t->checks++;                                                                               \
        if (!(cond)) ql_test_failf(t, __FILE__, __LINE__, __VA_ARGS__);                            \
    } while (0)
#define CHECK(cond) CHECK_MSG(cond, "check failed: %s", #cond)
#define REQUIRE_MSG(cond, ...)                                                                     \
    do {                                                                                           \
        t->checks++;                                                                               \
        if (!(cond)) {                                                                             \
            ql_test_failf(t, __FILE__, __LINE__, __VA_ARGS__);                                     \
            return;                                                                                \
        }                                                                                          \
    } while (0)
#define REQUIRE(cond) REQUIRE_MSG(cond, "requirement failed: %s", #cond)
#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                      \
        CHECK_MSG(va_ == vb_, "%s == %s: %lld != %lld", #a, #b, va_, vb_);                         \
    } while (0)
#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double va_ = (double)(a), vb_ = (double)(b), tol_ = (double)(tol);                         \
        CHECK_MSG(fabs(va_ - vb_) <= tol_, "%s ~ %s: %.9g vs %.9g (|diff| %.3g > %.3g)", #a, #b,   \
                  va_, vb_, fabs(va_ - vb_), tol_);                                                \
    } while (0)
#define SKIP(...)                                                                                  \
    do {                                                                                           \
        ql_test_skip(t, __VA_ARGS__);                                                              \
        return;                                                                                    \
    } while (0)

/* --- helpers shared by tests (tests/util.c) --- */

/* Directory of the shared golden data (env QLENS_SHARED, else ../shared). */
const char *ql_test_shared_dir(void);
/* "<shared>/<rel>" in a static rotating buffer. */
const char *ql_test_shared_path(const char *rel);
/* A fresh empty directory under build/test-tmp for this test. */
const char *ql_test_tmpdir(ql_test_ctx *t);
/* Path of the built CLI binary (env QLENS_BIN, else build/qlens). */
const char *ql_test_qlens_bin(void);

/* Reads a whole file; returns malloc'd bytes (NUL-terminated) or NULL. */
unsigned char *ql_test_read_file(const char *path, size_t *size);
/* Newlines in a file (0 when it cannot be read): how far a journal has got. */
int ql_test_count_lines(const char *path);
bool ql_test_write_file(const char *path, const void *data, size_t size);

/*
 * Runs `qlens ARGS` through /bin/sh (args is a shell fragment), capturing
 * stdout and stderr (malloc'd, NUL-terminated; pass NULL to discard).
 * Returns the exit status, or -1 if the command could not be run.
 */
int ql_test_run_qlens(const char *args, char **out, char **err);
/*
 * The same with a shell fragment before the binary: "ulimit -f 2;" (runs in
 * the same shell, so the limit applies to qlens) or a wrapper command such as
 * "setpriv --reuid=65534 ..." (qlens runs as its argument). NULL or "" is none.
 */
int ql_test_run_qlens_prefixed(const char *prefix, const char *args, char **out, char **err);

/*
 * A light run of the slow golden tests: true in a sanitizer build, whose
 * model runs are 6-8 times slower (the Makefile's SANITIZE comment says why
 * that is enough there), or with QLENS_TEST_LIGHT=1; QLENS_TEST_LIGHT=0
 * forces the full run anywhere.
 */
bool ql_test_light(void);
/*
 * Whether the k-th (from 0) of a golden test's configurations is checked:
 * every one, or in a light run every QL_TEST_LIGHT_STRIDE-th starting at a
 * shift. The golden tests come one per synthetic architecture and shift by
 * the architecture (ql_test_arch_index), so a light run still checks every
 * configuration, each on one of the four. ql_test_picked(n, shift) is how
 * many of n are checked.
 */
#define QL_TEST_LIGHT_STRIDE 4
bool ql_test_pick(int k, int shift);
int ql_test_picked(int n, int shift);
/* 0..3 for llama, qwen2, qwen3, gemma3 (the synthetic models); 0 for anything else. */
int ql_test_arch_index(const char *arch);

/* Path of a cached synthetic model (built by `make synth`): build/synth/synth-ARCH.gguf */
const char *ql_test_synth_model(const char *arch);

#endif
