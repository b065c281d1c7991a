#!/usr/bin/env bash
# install-llama-engine.sh - installs the library that `--engine llama.cpp` loads:
# llama-cpp-python 0.3.36 from PyPI, whose install builds libllama and ggml from
# their source (several minutes on two cores), into build/llama-cpp-python
# (git-ignored). qlens finds it there on its own (llama_cpp/lib/libllama.so
# beside the qlens binary's build folder); --llama-lib PATH or QLENS_LLAMA_LIB
# name another copy.
#
# Idempotent: an installed copy of the pinned version is left alone.
#
# The build is for the CPU. For a GPU build pass llama.cpp's CMake flags in
# CMAKE_ARGS, with FORCE=1 to rebuild an installed copy, e.g.
#   CMAKE_ARGS="-DGGML_CUDA=on" FORCE=1 scripts/install-llama-engine.sh
# (README.md lists the flags for CUDA, ROCm/HIP, Vulkan and Metal).
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VERSION=0.3.36
TARGET=${LLAMA_ENGINE_DIR:-build/llama-cpp-python}
LIB="$TARGET/llama_cpp/lib/libllama.so"

if [ "${FORCE:-0}" != 1 ] && [ -f "$LIB" ] &&
   [ -d "$TARGET/llama_cpp_python-$VERSION.dist-info" ]; then
    echo "install-llama-engine: llama-cpp-python $VERSION is installed ($LIB)"
    exit 0
fi

# pip and a C++ toolchain with CMake build the wheel
"$PYTHON" -m pip --version >/dev/null 2>&1 || {
    echo "install-llama-engine: error: $PYTHON has no pip" >&2
    exit 1
}
for tool in cmake c++; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "install-llama-engine: error: $tool is needed to build libllama" >&2
        exit 1
    }
done

echo "install-llama-engine: building llama-cpp-python $VERSION into $TARGET" \
     "(CMAKE_ARGS=${CMAKE_ARGS:-none})"
rm -rf "$TARGET.tmp"
# --no-deps: only the library is used, not the Python bindings' dependencies
CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)} \
    "$PYTHON" -m pip install --no-deps --no-cache-dir --target "$TARGET.tmp" \
    "llama-cpp-python==$VERSION"
[ -f "$TARGET.tmp/llama_cpp/lib/libllama.so" ] || {
    echo "install-llama-engine: error: the install holds no llama_cpp/lib/libllama.so" >&2
    exit 1
}
# the finished install replaces the old one whole, so an interrupted build leaves none half-made
rm -rf "$TARGET"
mv "$TARGET.tmp" "$TARGET"
echo "install-llama-engine: installed $LIB"
