#!/bin/sh
# hybrid.sh - throughput of `qlens perplexity` on the synthetic hybrids (qwen35:
# Gated DeltaNet and gated attention layers, dense FFN; qwen35moe: the same with
# routed and shared experts), tokens/s median of RUNS runs, -c 512 over 4 chunks,
# f16/f16, q8_0/q8_0 and q4_0/q4_0 caches. LLAMA_PERPLEXITY=/path/to/llama-perplexity
# adds llama.cpp's tokens/s for the same runs (from its "seconds per pass") and the
# ratio; the two programs alternate, so a slow spell of a noisy machine falls on both.
# With perf available (PERF=0 skips it), where qlens's time goes: the share of
# cycles of each part of the forward pass in one run at 1 thread.
# usage: bench/hybrid.sh [RUNS]   (from the repository root)
set -eu
RUNS=${1:-3}
SHARED=${SHARED:-../shared}
TEXT=$SHARED/data/wikitext-2-raw/wiki.test.raw
QLENS=build/qlens
THREADS=${THREADS:-2}
CTX=${CTX:-512}
CHUNKS=${CHUNKS:-4}
make -s "$QLENS"
for m in qwen35 qwen35moe; do
    [ -f "build/synth/synth-$m.gguf" ] || make -s "build/synth/synth-$m.gguf"
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

qlens_tps() {
    $QLENS perplexity -m "$1" -f "$TEXT" -c "$CTX" --chunks "$CHUNKS" -t "$THREADS" -ctk "${2%/*}" -ctv "${2#*/}" 2>&1 >/dev/null |
        sed -n 's/.*evaluation alone [0-9.]* s, \([0-9.]*\) tokens\/s).*/\1/p'
}

llama_tps() {
    "$LLAMA_PERPLEXITY" -m "$1" -f "$TEXT" -c "$CTX" --chunks "$CHUNKS" -t "$THREADS" -ctk "${2%/*}" -ctv "${2#*/}" 2>&1 |
        sed -n 's/.* \([0-9.]*\) seconds per pass.*/\1/p' | awk -v n="$CTX" '$1 > 0 { printf "%.1f\n", n / $1 }'
}

LLAMA=${LLAMA_PERPLEXITY:-}
echo "-c $CTX, $CHUNKS chunks, $THREADS threads, wiki.test.raw"
echo
if [ -n "$LLAMA" ]; then
    echo "| model | cache K/V | qlens tokens/s | llama.cpp tokens/s | qlens / llama.cpp |"
    echo "|---|---|---|---|---|"
else
    echo "| model | cache K/V | qlens tokens/s |"
    echo "|---|---|---|"
fi
for m in qwen35 qwen35moe; do
    path=build/synth/synth-$m.gguf
    for cache in f16/f16 q8_0/q8_0 q4_0/q4_0; do
        q=$(mktemp) l=$(mktemp)
        i=0
        while [ "$i" -lt "$RUNS" ]; do
            qlens_tps "$path" "$cache" >>"$q"
            [ -z "$LLAMA" ] || llama_tps "$path" "$cache" >>"$l"
            i=$((i + 1))
        done
        qm=$(median <"$q")
        if [ -n "$LLAMA" ]; then
            lm=$(median <"$l")
            ratio=$(awk -v a="$qm" -v b="$lm" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
            echo "| $m | $cache | $qm | $lm | $ratio |"
        else
            echo "| $m | $cache | $qm |"
        fi
        rm -f "$q" "$l"
    done
done

# where the time goes: perf's cycles per function, grouped into the parts of the pass
if [ "${PERF:-1}" = 1 ] && command -v perf >/dev/null 2>&1 &&
    perf record -q -o /dev/null true >/dev/null 2>&1; then
    data=$(mktemp)
    for m in qwen35 qwen35moe; do
        perf record -q -o "$data" $QLENS perplexity -m "build/synth/synth-$m.gguf" -f "$TEXT" \
            -c "$CTX" --chunks "$CHUNKS" -t 1 >/dev/null 2>&1
        echo
        echo "$m, f16/f16, 1 thread: share of cycles"
        echo
        echo '```'
        perf report -q -i "$data" --no-children --sort symbol 2>/dev/null | awk '
            $1 !~ /%$/ || ($2 != "[.]" && $2 != "[k]") { next }
            { sub("%", "", $1); s = $3 }
            s ~ /delta_rule/ { part["gated delta rule"] += $1; next }
            s ~ /conv_rows|gate_rows|gated_norm|advance_window|silu/ { part["DeltaNet conv, gates, norms"] += $1; next }
            s ~ /route|sum_slots|add_shared|argsort|run_experts/ { part["MoE routing and gathering"] += $1; next }
            s ~ /tinyblas|vecdot|tile_f|dot_rows|prepare|act_round|kg_|korder|qgemm|ql_kg|dot_q|vec_dot/ { part["matrix products (all layers, experts, output head)"] += $1; next }
            s ~ /attention|run_tiled|tile_scores|flash|kv_|hadamard|fwht|store_kv|rope/ { part["softmax attention and the KV cache"] += $1; next }
            s ~ /tok_|on_word|bigram|pretok|regex|utf8|bpe/ { part["tokenizing the text"] += $1; next }
            s ~ /ql_row_|exp_sum|score|logsoftmax/ { part["scoring the logits (log-softmax)"] += $1; next }
            $2 == "[k]" { part["the kernel (page faults, scheduling)"] += $1; next }
            { part["everything else"] += $1 }
            END { for (p in part) printf "%6.1f%%  %s\n", part[p], p }' | sort -rn
        echo '```'
    done
    rm -f "$data"
fi
