#!/bin/sh
# tokenize.sh - times tokenizing wikitext-2's test split (1.3 MB) on one core
# with each golden vocabulary; prints the median of several runs per vocabulary.
# usage: bench/tokenize.sh [RUNS]     (run from the repository root; SHARED=../shared)
set -eu
SHARED=${SHARED:-../shared}
CC=${CC:-cc}
RUNS=${1:-9}
make -s build/libqlens.a
$CC -std=c11 -O2 -march=native -D_GNU_SOURCE -Isrc -o build/bench-tokenize bench/tokenize.c build/libqlens.a -lm -pthread
PIN=""
if command -v taskset >/dev/null 2>&1; then PIN="taskset -c 0"; fi
V=$SHARED/golden/tokenizer
$PIN build/bench-tokenize -n "$RUNS" "$SHARED/data/wikitext-2-raw/wiki.test.raw" \
    "$V/ggml-vocab-gpt-2.gguf" "$V/ggml-vocab-llama-spm.gguf" "$V/ggml-vocab-starcoder.gguf" \
    "$V/ggml-vocab-falcon.gguf" "$V/ggml-vocab-deepseek-coder.gguf" "$V/ggml-vocab-phi-3.gguf"
