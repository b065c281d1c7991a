/*
 * fuzz_main.c - the libFuzzer entry point of one fuzz target; `make fuzz`
 * compiles it once per target with -DQL_FUZZ_TARGET=<function> (see
 * fuzz_targets.h for what each target checks).
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_targets.h"

#ifndef QL_FUZZ_TARGET
#error "build with -DQL_FUZZ_TARGET=ql_fuzz_<name>"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return QL_FUZZ_TARGET(data, size);
}
