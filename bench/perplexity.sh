#!/bin/sh
# perplexity.sh - throughput of `qlens perplexity` (tokens/s, median of RUNS
# runs) and its peak RSS, for SmolLM2-135M (the fetched Q4_1 file and its
# Q8_0, Q5_K_M and Q4_K_M requantizations), at -c 512 and -c 4096, with
# f16/f16, q8_0/q8_0 and q4_0/q4_0 caches, on 1 and 2 threads. Also counts
# instructions with callgrind (repeatable on a noisy machine) for one short
# run per weight type. Prints markdown tables.
# usage: bench/perplexity.sh [RUNS]   (from the repository root)
#   QUICK=1 limits to -c 512 and the Q4_1 file; CALLGRIND=0 skips instruction counts.
#   MODELS, CTXS, CACHES and THREADS narrow the matrix (see below).
#   LLAMA_PERPLEXITY=/path/to/llama-perplexity adds llama.cpp's throughput for
#   the same model, text, context, cache types and threads (its defaults
#   otherwise: weight repacking on, flash attention auto), from its "seconds per
#   pass", and the ratio qlens / llama.cpp (LLAMA_RUNS runs, default RUNS;
#   LLAMA_ARGS adds flags, e.g. --no-repack where its repacking fails). The
#   two programs' runs alternate, so a slow spell of a noisy machine falls on
#   both. The ratio compares evaluation alone on both sides: qlens's
#   "evaluation alone" (from the first token's evaluation to the last score,
#   log-softmax included) against llama.cpp's "seconds per pass" (its graph
#   evaluation). qlens's wall time from opening the model (loading and
#   tokenizing the text included) is the column after the ratio.
set -eu
RUNS=${1:-3}
SHARED=${SHARED:-../shared}
TEXT=$SHARED/data/wikitext-2-raw/wiki.test.raw
QLENS=build/qlens
SRC=models/SmolLM2-135M-Instruct.Q4_1.gguf
OUT=bench/out
make -s "$QLENS"
[ -f "$SRC" ] || { echo "bench/perplexity.sh: error: $SRC not found (run scripts/fetch-models.sh)" >&2; exit 1; }
mkdir -p "$OUT"

MODELS_DEFAULT="Q4_1 Q8_0 Q5_K_M Q4_K_M"
CTXS_DEFAULT="512 4096"
if [ "${QUICK:-0}" = 1 ]; then MODELS_DEFAULT="Q4_1" CTXS_DEFAULT="512"; fi
# any of these narrows the matrix, e.g. MODELS=Q4_1 CTXS=4096 CACHES="q8_0/q8_0"
MODELS=${MODELS:-$MODELS_DEFAULT}
CTXS=${CTXS:-$CTXS_DEFAULT}
CACHES=${CACHES:-f16/f16 q8_0/q8_0 q4_0/q4_0}
THREADS=${THREADS:-1 2}
LLAMA_RUNS=${LLAMA_RUNS:-$RUNS}
model_path() {
    if [ "$1" = Q4_1 ]; then echo "$SRC"; return; fi
    p=$OUT/SmolLM2-135M-$1.gguf
    [ -f "$p" ] || $QLENS quantize --allow-requantize "$SRC" "$p" "$1" >/dev/null
    echo "$p"
}

# run_one MODEL CTX CACHE THREADS: prints "eval_tokens_per_s rss_mib wall_tokens_per_s"
run_one() {
    k=${3%/*}
    v=${3#*/}
    $QLENS perplexity -m "$1" -f "$TEXT" -c "$2" --chunks 1 -t "$4" -ctk "$k" -ctv "$v" 2>&1 >/dev/null |
        sed -n 's/.*(\([0-9.]*\) tokens\/s; evaluation alone [0-9.]* s, \([0-9.]*\) tokens\/s), peak RSS \([0-9.]*\) MiB.*/\2 \3 \1/p'
}

# run_llama MODEL CTX CACHE THREADS: prints llama.cpp's tokens/s, the chunk's
# tokens over its "seconds per pass" (one chunk is one pass with --chunks 1)
run_llama() {
    # shellcheck disable=SC2086
    "$LLAMA_PERPLEXITY" ${LLAMA_ARGS:-} -m "$1" -f "$TEXT" -c "$2" --chunks 1 -t "$4" -ctk "${3%/*}" -ctv "${3#*/}" 2>&1 |
        sed -n 's/.* \([0-9.]*\) seconds per pass.*/\1/p' | awk -v n="$2" '$1 > 0 { printf "%.1f\n", n / $1 }'
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

LLAMA=${LLAMA_PERPLEXITY:-}
if [ -n "$LLAMA" ]; then
    echo "llama.cpp: $LLAMA"
    echo
    echo "| weights | -c | cache K/V | threads | qlens tokens/s (median of $RUNS) | llama.cpp tokens/s (median of $LLAMA_RUNS) | qlens / llama.cpp | qlens tokens/s with loading | qlens peak RSS MiB |"
    echo "|---|---|---|---|---|---|---|---|---|"
else
    echo "| weights | -c | cache K/V | threads | tokens/s (median of $RUNS) | tokens/s with loading | peak RSS MiB |"
    echo "|---|---|---|---|---|---|---|"
fi
for m in $MODELS; do
    path=$(model_path "$m")
    for c in $CTXS; do
        for cache in $CACHES; do
            for t in $THREADS; do
                i=0
                : >"$OUT/runs.txt"
                : >"$OUT/llama.txt"
                while [ "$i" -lt "$RUNS" ] || { [ -n "$LLAMA" ] && [ "$i" -lt "$LLAMA_RUNS" ]; }; do
                    [ "$i" -lt "$RUNS" ] && run_one "$path" "$c" "$cache" "$t" >>"$OUT/runs.txt"
                    [ -n "$LLAMA" ] && [ "$i" -lt "$LLAMA_RUNS" ] &&
                        run_llama "$path" "$c" "$cache" "$t" >>"$OUT/llama.txt"
                    i=$((i + 1))
                done
                tps=$(cut -d' ' -f1 "$OUT/runs.txt" | median)
                rss=$(cut -d' ' -f2 "$OUT/runs.txt" | sort -n | tail -1)
                wall=$(cut -d' ' -f3 "$OUT/runs.txt" | median)
                if [ -n "$LLAMA" ]; then
                    ltps=$(median <"$OUT/llama.txt")
                    ratio=$(awk -v a="$tps" -v b="$ltps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
                    echo "| $m | $c | $cache | $t | $tps | $ltps | $ratio | $wall | $rss |"
                else
                    echo "| $m | $c | $cache | $t | $tps | $wall | $rss |"
                fi
            done
        done
    done
done

# Valgrind does not decode AVX-512, so instructions are counted on an AVX2
# build of the same sources (build/avx2/): a stable measure of work, not of
# the AVX-512 build's speed.
if [ "${CALLGRIND:-1}" = 1 ] && command -v valgrind >/dev/null 2>&1; then
    VG_QLENS=build/avx2/qlens
    make -s BUILD=build/avx2 ARCH="-march=x86-64-v3" "$VG_QLENS" >/dev/null
    echo
    echo "Instructions (callgrind, AVX2 build, one chunk of 128 tokens, 1 thread, f16 cache):"
    echo
    echo "| weights | instructions |"
    echo "|---|---|"
    for m in $MODELS; do
        path=$(model_path "$m")
        n=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$VG_QLENS" perplexity -m "$path" \
            -f "$TEXT" -c 128 --chunks 1 -t 1 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
        echo "| $m | $n |"
    done
fi
