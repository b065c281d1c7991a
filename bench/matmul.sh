#!/bin/sh
# matmul.sh - multiply-adds per second of the batched matrix product for each
# weight type, on SmolLM2-135M's shapes (bench/matmul.c): the kernels alone,
# without the rest of a forward pass. Prints the median and the fastest of RUNS.
# usage: bench/matmul.sh [RUNS]      (from the repository root)
set -eu
CC=${CC:-cc}
RUNS=${1:-21}
make -s build/libqlens.a
$CC -std=c11 -O2 -march=native -D_GNU_SOURCE -Isrc -o build/bench-matmul bench/matmul.c build/libqlens.a -lm -pthread
PIN=""
if command -v taskset >/dev/null 2>&1; then PIN="taskset -c 0"; fi
$PIN build/bench-matmul -n "$RUNS" -v 1
