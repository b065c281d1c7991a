#!/usr/bin/env bash
# measure-qwen3moe.sh - measures tests/data/qwen3moe-ppl.tsv, the expected
# perplexities of the synthetic qwen3moe model (tests/tools/synth_gguf.py; no
# shared golden data covers this arch), with llama.cpp's llama-perplexity, so
# that ppl_golden_qwen3moe compares qlens with llama.cpp itself. Not part of any
# build or test: run it by hand when the pinned llama.cpp changes, on the CPU
# the file's header then names (the f16 arithmetic of ggml differs between CPUs
# with and without AVX512-FP16; the test selects the matching numerics).
#
#   make synth && scripts/measure-qwen3moe.sh /path/to/llama-perplexity > tests/data/qwen3moe-ppl.tsv
#
# The test expects ggml's arithmetic on AVX-512 without AVX512-FP16 (as golden/hybrid). On a
# CPU that has it, build llama.cpp without it and add a '# build:' line saying how:
#   cmake -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
#         -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON
#
# The rows are golden/hybrid/ppl.tsv's: wikitext, -t 2, n_ctx 128 x 8 chunks and
# 512 x 2, five K/V cache pairs with rotation auto, q4_0/q4_0 with rotation off
# (LLAMA_ATTN_ROT_DISABLE=1) at n_ctx 128.
set -euo pipefail
cd "$(dirname "$0")/.."
PPL=${1:?usage: measure-qwen3moe.sh LLAMA_PERPLEXITY}
TEXT=${TEXT:-../shared/data/wikitext-2-raw/wiki.test.raw}
MODEL=build/synth/synth-qwen3moe.gguf
[ -f "$MODEL" ] || { echo "measure-qwen3moe: $MODEL missing (make synth)" >&2; exit 1; }
flags=$(grep -o 'avx512[a-z0-9_]*' /proc/cpuinfo | sort -u | tr '\n' ' ')
echo "# llama-perplexity -m $MODEL -f wiki.test.raw -c N_CTX --chunks CHUNKS -t 2 -ctk K -ctv V"
echo "# llama.cpp: $({ "$PPL" --version 2>&1 || true; } | grep -m1 version)"
echo "# CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); $flags"
printf 'model\tctk\tctv\trot\tn_ctx\tchunks\tchunk_ppls\tfinal_ppl\tfinal_unc\n'
row() { # ctk ctv rot n_ctx chunks
    local env=()
    [ "$3" = off ] && env=(LLAMA_ATTN_ROT_DISABLE=1)
    local out
    out=$(env "${env[@]}" "$PPL" -m "$MODEL" -f "$TEXT" -c "$4" --chunks "$5" -t 2 \
          -ctk "$1" -ctv "$2" 2>&1)
    local chunks final unc
    chunks=$(echo "$out" | grep -o '\[[0-9]*\][0-9.]*,' | tr -d '\n')
    final=$(echo "$out" | sed -n 's/.*Final estimate: PPL = \([0-9.]*\) +\/- \([0-9.]*\).*/\1/p')
    unc=$(echo "$out" | sed -n 's/.*Final estimate: PPL = \([0-9.]*\) +\/- \([0-9.]*\).*/\2/p')
    [ -n "$final" ] || { echo "measure-qwen3moe: no result for $*:" >&2; echo "$out" | tail -5 >&2; exit 1; }
    printf 'qwen3moe\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$chunks" "$final" "$unc"
}
for c in "128 8" "512 2"; do
    for kv in "f16 f16" "q8_0 q8_0" "q4_0 q4_0" "f16 q4_0" "q8_0 q4_0"; do
        # shellcheck disable=SC2086
        row $kv auto $c
    done
done
row q4_0 q4_0 off 128 8
