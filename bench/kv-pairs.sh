#!/bin/sh
# kv-pairs.sh - throughput of `qlens perplexity` (evaluation tokens/s) for every
# K cache type with every V cache type, SmolLM2-135M Q4_1, -c 512, and a
# representative subset at -c 4096. Prints markdown tables: tokens/s by K (rows)
# and V (columns), then each pair's slowdown against the slower of its two
# matched pairs (K/K and V/V): min(tps(K/K), tps(V/V)) / tps(K/V), so 1.00 or
# less means a mixed pair is as fast as its matched ones.
# usage: bench/kv-pairs.sh [RUNS]   (from the repository root; median of RUNS runs)
#   CHUNKS (default 1) chunks per run; THREADS (default 2); TYPES narrows the types;
#   LONG_PAIRS the -c 4096 subset ("" skips it).
set -eu
RUNS=${1:-1}
SHARED=${SHARED:-../shared}
TEXT=$SHARED/data/wikitext-2-raw/wiki.test.raw
QLENS=build/qlens
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
CHUNKS=${CHUNKS:-1}
THREADS=${THREADS:-2}
TYPES=${TYPES:-f32 f16 bf16 q8_0 q5_1 q5_0 q4_1 q4_0 iq4_nl}
LONG_PAIRS=${LONG_PAIRS-f16/f16 q8_0/q8_0 q4_0/q4_0 f16/q8_0 q8_0/f16 f16/q4_0 q4_0/f16 bf16/q8_0 q8_0/q4_0}
make -s "$QLENS"
[ -f "$MODEL" ] || { echo "bench/kv-pairs.sh: error: $MODEL not found (run scripts/fetch-models.sh)" >&2; exit 1; }

echo "$(date -u +%Y-%m-%d), $(uname -m), $(nproc) CPUs: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
echo
echo "CPU flags used by this build: $($QLENS --version | sed -n 's/^built for: //p')"
echo

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# tps CTX K V: median evaluation tokens/s of RUNS runs
tps() {
    i=0
    while [ "$i" -lt "$RUNS" ]; do
        $QLENS perplexity -m "$MODEL" -f "$TEXT" -c "$1" --chunks "$CHUNKS" -t "$THREADS" -ctk "$2" -ctv "$3" 2>&1 >/dev/null |
            sed -n 's/.*evaluation alone [0-9.]* s, \([0-9.]*\) tokens\/s).*/\1/p'
        i=$((i + 1))
    done | median
}

tab=$(mktemp)
trap 'rm -f "$tab"' EXIT
for k in $TYPES; do
    for v in $TYPES; do
        echo "$k $v $(tps 512 "$k" "$v")" >>"$tab"
    done
done

echo "Tokens/s, -c 512, $CHUNKS chunk(s), $THREADS threads, median of $RUNS (rows: K type, columns: V type):"
echo
awk -v types="$TYPES" '
    { t[$1 "/" $2] = $3 }
    END {
        n = split(types, ty, " ")
        h = "| K \\ V |"; s = "|---|"
        for (j = 1; j <= n; j++) { h = h " " ty[j] " |"; s = s "---|" }
        print h; print s
        for (i = 1; i <= n; i++) {
            r = "| " ty[i] " |"
            for (j = 1; j <= n; j++) r = r " " t[ty[i] "/" ty[j]] " |"
            print r
        }
        print ""
        print "Slowdown against the slower matched pair, min(K/K, V/V) / (K/V):"
        print ""
        print h; print s
        worst = 0
        for (i = 1; i <= n; i++) {
            r = "| " ty[i] " |"
            for (j = 1; j <= n; j++) {
                a = t[ty[i] "/" ty[i]]; b = t[ty[j] "/" ty[j]]; m = a < b ? a : b
                x = t[ty[i] "/" ty[j]] > 0 ? m / t[ty[i] "/" ty[j]] : 0
                if (x > worst) { worst = x; wp = ty[i] "/" ty[j] }
                r = r sprintf(" %.2f |", x)
            }
            print r
        }
        printf "\nworst: %.2f (%s)\n", worst, wp
    }' "$tab"

if [ -n "$LONG_PAIRS" ]; then
    echo
    echo "Tokens/s, -c 4096, 1 chunk, $THREADS threads, median of $RUNS:"
    echo
    echo "| K/V | tokens/s |"
    echo "|---|---|"
    for pair in $LONG_PAIRS; do
        CHUNKS=1
        echo "| $pair | $(tps 4096 "${pair%/*}" "${pair#*/}") |"
    done
fi
