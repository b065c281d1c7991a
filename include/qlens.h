/*
 * qlens.h - public API of libqlens.
 *
 * qlens measures how much quality an LLM loses to quantization of its
 * weights and of its KV cache: perplexity and KL divergence against a
 * reference, sweeps over configurations, and a memory planner. The library
 * exposes the same building blocks the `qlens` command uses.
 *
 * Conventions: functions return ql_status (QL_OK == 0) and fill an optional
 * ql_error with a one-line message; handles are opaque and come in
 * create/free pairs; nothing here prints or exits.
 */
#ifndef QLENS_H
#define QLENS_H

#define QLENS_VERSION_MAJOR 0
#define QLENS_VERSION_MINOR 1
#define QLENS_VERSION_PATCH 0
#define QLENS_VERSION_STRING "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

const char *qlens_version(void);

#ifdef __cplusplus
}
#endif

#endif
