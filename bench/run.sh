#!/bin/sh
# run.sh - `make bench`: every benchmark, results collected in bench/results.md
# with the machine's CPU. Benchmarks are measurements, not tests: they never
# fail on a number. QUICK=1 runs a short version.
set -eu
OUT=bench/results.md
tmp=$(mktemp)
{
    echo "# qlens benchmarks"
    echo
    echo "$(date -u +%Y-%m-%d), $(uname -m), $(nproc) CPUs: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
    echo
    echo "CPU flags used by this build: $(build/qlens --version | sed -n 's/^built for: //p')"
    echo
    echo "## Tokenizer (wiki.test.raw, 1.3 MB, one core)"
    echo
    echo '```'
    bench/tokenize.sh 5
    echo '```'
    echo
    echo "## Matrix products (SmolLM2-135M shapes, 512 activation rows, one core)"
    echo
    echo '```'
    bench/matmul.sh 21
    echo '```'
    echo
    echo "## Perplexity throughput (SmolLM2-135M)"
    echo
    bench/perplexity.sh 3
    echo
    echo "## K and V cache types: every pair (SmolLM2-135M)"
    echo
    if [ "${QUICK:-0}" = 1 ]; then LONG_PAIRS="" bench/kv-pairs.sh 1; else bench/kv-pairs.sh 1; fi | sed 1,4d
    echo
    echo "## Hybrid models: synthetic qwen35 and qwen35moe (Gated DeltaNet, experts)"
    echo
    bench/hybrid.sh 3
    echo
    echo "## Memory: perplexity and KL divergence at -c 512 and -c 32768"
    echo
    bench/memory.sh
    echo
    echo "## Quantization (SmolLM2-135M)"
    echo
    echo '```'
    bench/quantize.sh 3
    echo '```'
    if [ "${QUICK:-0}" != 1 ]; then
        echo
        echo "## Long context: one chunk of -c 131072 (synthetic llama, q8_0 cache)"
        echo
        echo '```'
        bench/longctx.sh 131072 2>&1 | tail -3
        echo '```'
    fi
} | tee "$tmp"
mv "$tmp" "$OUT"
echo "bench: results in $OUT"
