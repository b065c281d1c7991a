#!/bin/sh
# quantize.sh - times `qlens quantize` on SmolLM2-135M-Instruct: its Q4_1 file
# dequantized to F16 (--allow-requantize), then that F16 file quantized to
# Q4_K_M, each with 1 and 2 threads. Prints the best wall-clock time of RUNS
# runs per step, and checks that both thread counts wrote identical files.
# usage: bench/quantize.sh [RUNS]   (from the repository root; the model comes
#        from scripts/fetch-models.sh; MODEL=path overrides it)
set -eu
RUNS=${1:-3}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
OUT=bench/out
QLENS=build/qlens

if [ ! -f "$MODEL" ]; then
    echo "bench/quantize.sh: error: $MODEL not found (run scripts/fetch-models.sh)" >&2
    exit 1
fi
make -s "$QLENS"
mkdir -p "$OUT"

now() { date +%s.%N; }

# best_of RUNS CMD...: runs CMD RUNS times (output discarded), prints the fastest seconds
best_of() {
    n=$1
    shift
    best=""
    i=0
    while [ "$i" -lt "$n" ]; do
        t0=$(now)
        "$@" >/dev/null
        t1=$(now)
        best=$(echo "$t0 $t1 $best" | awk '{ d = $2 - $1; if ($3 == "" || d < $3) print d; else print $3 }')
        i=$((i + 1))
    done
    printf '%.3f' "$best"
}

printf '%-34s %8s %10s\n' "step" "threads" "seconds"
for threads in 1 2; do
    s=$(best_of "$RUNS" "$QLENS" quantize --allow-requantize -t "$threads" "$MODEL" "$OUT/smollm2-f16-t$threads.gguf" F16)
    printf '%-34s %8d %10s\n' "Q4_1 -> F16 (--allow-requantize)" "$threads" "$s"
done
for threads in 1 2; do
    s=$(best_of "$RUNS" "$QLENS" quantize -t "$threads" "$OUT/smollm2-f16-t1.gguf" "$OUT/smollm2-q4_k_m-t$threads.gguf" Q4_K_M)
    printf '%-34s %8d %10s\n' "F16 -> Q4_K_M" "$threads" "$s"
done

cmp -s "$OUT/smollm2-f16-t1.gguf" "$OUT/smollm2-f16-t2.gguf" || { echo "bench/quantize.sh: error: F16 outputs differ between 1 and 2 threads" >&2; exit 1; }
cmp -s "$OUT/smollm2-q4_k_m-t1.gguf" "$OUT/smollm2-q4_k_m-t2.gguf" || { echo "bench/quantize.sh: error: Q4_K_M outputs differ between 1 and 2 threads" >&2; exit 1; }
echo "outputs identical for 1 and 2 threads; sizes:"
ls -l "$MODEL" "$OUT/smollm2-f16-t1.gguf" "$OUT/smollm2-q4_k_m-t1.gguf" | awk '{ printf "  %12d  %s\n", $5, $9 }'
