#!/usr/bin/env bash
# measure-real-models.sh - measures the expected perplexities of
# tests/data/real-models.tsv with llama.cpp's llama-perplexity, so that the
# test of the real models (tests/test_real_models.c) compares qlens with
# llama.cpp itself. Not part of any build or test: run it by hand when the
# pinned llama.cpp or the set of configurations changes, and say in the
# file's header which llama.cpp, options and CPU measured it.
#
#   scripts/measure-real-models.sh /path/to/llama-perplexity /path/to/llama-quantize > tests/data/real-models.tsv
#
# The requantizations of SmolLM2 are made with llama-quantize (qlens's
# quantize writes byte-identical files; the test makes its own).
set -euo pipefail
cd "$(dirname "$0")/.."
PPL=${1:?usage: measure-real-models.sh LLAMA_PERPLEXITY LLAMA_QUANTIZE}
QUANT=${2:?usage: measure-real-models.sh LLAMA_PERPLEXITY LLAMA_QUANTIZE}
TEXT=${TEXT:-../shared/data/wikitext-2-raw/wiki.test.raw}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
SMOL=models/SmolLM2-135M-Instruct.Q4_1.gguf
GEMMA=models/gemma-3-270m-Q4_K_M.gguf
for ft in Q8_0 Q4_K_M; do
    "$QUANT" --allow-requantize "$SMOL" "$TMP/smollm2-$ft.gguf" "$ft" 2 > /dev/null 2>&1
done
path_of() {
    case $1 in
    smollm2-Q4_1) echo "$SMOL" ;;
    smollm2-Q8_0 | smollm2-Q4_K_M) echo "$TMP/$1.gguf" ;;
    gemma3-Q4_K_M) echo "$GEMMA" ;;
    esac
}
# model  ctk/ctv  n_ctx  chunks  extra llama-perplexity flags
configs() {
    for m in smollm2-Q4_1 smollm2-Q8_0 smollm2-Q4_K_M gemma3-Q4_K_M; do
        for kv in f16/f16 q8_0/q8_0 q4_0/q4_0 q5_1/q5_1 q8_0/q4_0 f16/q4_0; do
            echo "$m $kv 512 2 -"
        done
    done
    echo "gemma3-Q4_K_M q8_0/f16 512 2 -"
    echo "smollm2-Q4_K_M f16/f16 512 2 --no-repack"
    echo "gemma3-Q4_K_M f16/f16 512 2 --no-repack"
    echo "gemma3-Q4_K_M q4_0/q4_0 512 2 --no-repack"
    echo "gemma3-Q4_K_M f16/f16 2048 1 -"
    echo "gemma3-Q4_K_M q8_0/q4_0 2048 1 -"
}
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^avx512|^avx2$|^avx_vnni' | tr '\n' ' ')
echo "# Perplexities of the real models measured with llama.cpp's llama-perplexity (wiki.test.raw, -t 2)."
echo "# llama.cpp: $("$PPL" --version 2>&1 | grep -m1 -i version | tr -d '\n')"
echo "# build: the copy vendored in llama-cpp-python 0.3.36, CMake Release with default options (GGML_NATIVE)"
echo "# cpu: $cpu; $flags"
echo "# made by scripts/measure-real-models.sh; the SmolLM2 requantizations by llama-quantize --allow-requantize"
printf 'model\tctk\tctv\tn_ctx\tchunks\tflags\tchunk_ppls\tfinal_ppl\tfinal_unc\n'
configs | while read -r m kv c n extra; do
    args=()
    [ "$extra" != "-" ] && args+=("$extra")
    out=$("$PPL" -m "$(path_of "$m")" -f "$TEXT" -c "$c" --chunks "$n" -t 2 \
        -ctk "${kv%/*}" -ctv "${kv#*/}" "${args[@]}" 2>&1)
    chunks=$(echo "$out" | grep -E '^\[1\]' | tr -d ' ')
    final=$(echo "$out" | sed -n 's/.*Final estimate: PPL = \([0-9.]*\) +\/- \([0-9.]*\).*/\1\t\2/p')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$m" "${kv%/*}" "${kv#*/}" "$c" "$n" "$extra" "$chunks" "$final"
done
