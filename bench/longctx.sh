#!/bin/sh
# longctx.sh - one chunk of -c 131072 on a synthetic model: 64-bit sizes and
# offsets all the way, memory bounded by the KV cache. Prints the run's
# throughput and peak RSS.
# usage: bench/longctx.sh [CTX]   (from the repository root, after `make synth`)
set -eu
SHARED=${SHARED:-../shared}
CTX=${1:-131072}
MODEL=${MODEL:-build/synth/synth-llama.gguf}
make -s build/qlens
build/qlens perplexity -m "$MODEL" -f "$SHARED/data/wikitext-2-raw/wiki.test.raw" -c "$CTX" --chunks 1 -ctk q8_0 -ctv q8_0
