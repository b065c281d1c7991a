/*
 * kgemm.h - products of 16 weight rows at a time with activation rows, in
 * the float orders of llama.cpp's tiled k-quant kernel and its repacked
 * 8x8 tiles (korder.h states each order in scalar code; these give the
 * same bits). Implemented with AVX-512 VNNI in kgemm_x86.c; other builds
 * have none (ql_kg_available is false) and use the scalar forms.
 *
 * The lanes of a vector are 16 weight rows. Weights are unpacked into
 * "panels": per 256-element step, every code as an unsigned byte with the
 * rows interleaved by groups of four elements (one VNNI dot covers four
 * products of 16 rows), the sub-block scales and mins as int32 per row,
 * and the block scales as f32. An activation row is prepared once per
 * product: its q8 values, its scales as f32, and per sub-block the sum of
 * its values (for the mins) and that sum times the codes' bias, which
 * turns the unsigned dot back into the signed one exactly.
 */
#ifndef QL_KERNELS_KGEMM_H
#define QL_KERNELS_KGEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../quant/quant.h"

typedef enum {
    QL_KG_TILED, /* k-quants, ggml's tiled product (8 or more rows) */
    QL_KG_GEMM,  /* q4_K / q2_K repacked tiles, rows in groups of four */
    QL_KG_GEMV,  /* their one-row form (the last n % 4 rows) */
    QL_KG_BLOCKS /* q4_0 / iq4_nl repacked tiles: a multiply-add per 32-element block */
} ql_kg_order;

enum { QL_KG_ROWS = 16 };

/* Whether this build has the kernels for weight type t. */
bool ql_kg_available(ql_type t);

/* Bytes of one prepared activation row of n_in elements (a multiple of 64). */
size_t ql_kg_act_bytes(ql_type t, int64_t n_in);

/* Bytes of a panel of QL_KG_ROWS weight rows of n_in elements. */
size_t ql_kg_panel_bytes(ql_type t, int64_t n_in);

/* Prepares an f32 activation row for weight type t (quantized as ggml's matmul does). */
void ql_kg_prepare(ql_type t, const float *x, int64_t n_in, void *dst);

/* Packs n_rows (<= QL_KG_ROWS) consecutive weight rows; rows past n_rows are zeros. */
void ql_kg_pack(ql_type t, const void *w, size_t w_row_bytes, int n_rows, int64_t n_in,
                void *panel);

/*
 * y[c * y_stride + r] = the product of panel row r (r < n_rows) and
 * activation row c (c < n_cols, prepared rows act_stride bytes apart), in
 * the given order.
 */
void ql_kg_run(ql_type t, ql_kg_order order, const void *panel, int64_t n_in, const void *act,
               size_t act_stride, int n_cols, float *y, int64_t y_stride, int n_rows);

#endif
