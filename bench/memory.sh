#!/bin/sh
# memory.sh - peak RSS of perplexity and KL-divergence runs at -c 512 and
# -c 32768 on a synthetic model (50k vocabulary): the weights, the KV cache
# and O(batch x vocabulary) - never O(context x vocabulary). One chunk each.
# usage: bench/memory.sh   (from the repository root, after `make synth`)
set -eu
SHARED=${SHARED:-../shared}
TEXT=$SHARED/data/wikitext-2-raw/wiki.test.raw
QLENS=build/qlens
MODEL=${MODEL:-build/synth/synth-llama.gguf}
OUT=bench/out
make -s "$QLENS"
mkdir -p "$OUT"
rss() { sed -n 's/.*peak RSS \([0-9.]*\) MiB.*/\1/p'; }
secs() { sed -n 's/.* in \([0-9.]*\) s .*/\1/p'; }
echo "| run | -c | KV cache MiB | peak RSS MiB | seconds |"
echo "|---|---|---|---|---|"
for c in 512 32768; do
    kv=$(awk -v c="$c" 'BEGIN { printf "%.1f", 4 * c * 2 * 64 * 2 * 2 / 1048576 }')
    log=$($QLENS perplexity -m "$MODEL" -f "$TEXT" -c "$c" --chunks 1 2>&1 >/dev/null)
    echo "| perplexity | $c | $kv | $(echo "$log" | rss) | $(echo "$log" | secs) |"
    log=$($QLENS perplexity -m "$MODEL" -f "$TEXT" -c "$c" --chunks 1 --kl-divergence-base "$OUT/base-$c.qlref" 2>&1 >/dev/null)
    echo "| save a KLD base | $c | $kv | $(echo "$log" | rss) | $(echo "$log" | secs) |"
    log=$($QLENS perplexity -m "$MODEL" --kl-divergence-base "$OUT/base-$c.qlref" --kl-divergence -ctk q8_0 -ctv q8_0 2>&1 >/dev/null)
    echo "| KLD against it (q8_0 cache) | $c | $kv | $(echo "$log" | rss) | $(echo "$log" | secs) |"
    log=$($QLENS kld --ref "$MODEL" -m "$MODEL" -f "$TEXT" -c "$c" --chunks 1 -ctk q8_0 -ctv q8_0 2>&1 >/dev/null)
    echo "| KLD lockstep | $c | $kv x 2 | $(echo "$log" | rss) | $(echo "$log" | secs) |"
    rm -f "$OUT/base-$c.qlref"
done
