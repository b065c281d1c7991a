#!/usr/bin/env python3
"""Write small deterministic GGUF models with random weights, for testing.

usage: synth_gguf.py ARCH VOCAB_GGUF OUT_GGUF [--seed N] [--shape NAME]

ARCH is one of llama, qwen2, qwen3, gemma3, qwen3moe, or one of the hybrid archs
qwen35, qwen35moe (Qwen3.5/3.6: Gated DeltaNet linear-attention layers with a
short conv and a recurrent state, and every few layers a gated full-attention
layer with a KV cache; qwen35moe has a routed + shared-expert MoE FFN). The
tokenizer (every tokenizer.* key) is copied from VOCAB_GGUF, so the model
tokenizes text like the model that vocabulary came from. Weights come from a
fixed splitmix64 + Box-Muller stream: the same arguments give the same bytes
on every machine. Pure Python 3, no third-party packages.

--shape picks the dimensions: `tiny` (default; what the golden numbers were
measured on) or a real model's shape for benchmarks — smollm2-135m,
qwen3-0.6b, qwen3-8b — and, for regression tests of qlens's numbers,
gemma3-270m: Gemma 3 270M's attention (4 query heads and 1 KV head of 256,
sliding window 512, rope bases 1e6 global and 1e4 sliding), width 640 and
FFN 2048, with 6 layers (5 sliding, the 6th global) instead of 18. The larger
shapes draw their values from a 1M-value pool at pseudo-random offsets, so
they are fast to make; use them for speed, not for accuracy.

(This copy of ../shared/tools/synth_gguf.py adds the gemma3-270m shape and the
qwen3moe arch: qwen3's 4 layers with a routed MoE FFN of 8 experts, 2 used,
expert n_ff 256, an F32 router and no shared expert. Every other arch and
shape writes the same bytes as the original.)

The hybrid archs exist in the tiny shape only:

  qwen35     8 layers; layers 3 and 7 are full attention (key
             qwen35.full_attention_interval = 4), the others Gated DeltaNet.
             Tied output (no output.weight). Dense SiLU FFN, n_ff 512.
  qwen35moe  6 layers; layers 2 and 5 are full attention, given only by the
             bool array qwen35moe.attention.recurrent_layers (no interval
             key). Separate output.weight. MoE FFN: 8 experts, 2 used, expert
             n_ff 256, one shared expert of n_ff 512 with a sigmoid gate.
  both       n_embd 256. Attention: 4 query heads, 2 KV heads, head_dim 256,
             a joint Q+gate projection (per head 256 query rows, then 256 gate
             rows), per-head RMS q/k norms, interleaved M-RoPE on the first 64
             dims (sections 11,11,10,0; freq_base 1e7). DeltaNet: conv kernel
             4, 2 key heads and 4 value heads of 128 (ssm.state_size 128,
             ssm.group_count 2, ssm.time_step_rank 4, ssm.inner_size 512).
             ssm_conv1d, ffn_gate_inp, ffn_gate_inp_shexp and all 1-D tensors
             are F32, the other matrices F16.
"""
import math
import struct
import sys

# GGUF value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i",
          F32: "<f", BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}
GGML_F32, GGML_F16 = 0, 1
ALIGN = 32

# Shapes shared by every synthetic model: small, but every row a multiple of 256
# so that k-quants apply, and heads of 64 so that quantized caches and Hadamard
# rotation apply.
N_EMBD, N_HEAD, N_HEAD_KV, HEAD_DIM, N_FF, N_CTX_TRAIN = 256, 4, 2, 64, 512, 4096
#          n_embd n_head n_head_kv head_dim n_ff  n_layer (None: the arch's default)
SHAPES = {"tiny":         (256,   4,  2,  64,   512,   None),
          "smollm2-135m": (576,   9,  3,  64,   1536,  30),
          "qwen3-0.6b":   (1024, 16,  8, 128,   3072,  28),
          "qwen3-8b":     (4096, 32,  8, 128,  12288,  36),
          "gemma3-270m":  (640,   4,  1, 256,   2048,   6)}
# sliding window of gemma3 models per shape (tiny: 32)
SWA_WINDOW = {"gemma3-270m": 512}
ARCHS = {
    #         layers  biases  qk_norm  post_norms
    "llama":  (4,     False,  False,   False),
    "qwen2":  (4,     True,   False,   False),
    "qwen3":  (4,     False,  True,    False),
    "gemma3": (6,     False,  True,    True),
    # qwen3's attention with a routed MoE FFN (no shared expert), as Qwen3-30B-A3B
    "qwen3moe": (4,   False,  True,    False),
}
# routed-MoE dense archs: their FFN is H_N_EXPERT experts of n_ff H_N_FF_EXP, H_N_EXPERT_USED used
MOE_ARCHS = {"qwen3moe"}
# Hybrid archs (tiny shape only): n_layer, how the layer kinds are given, MoE FFN,
# separate output.weight. Attention layers are those with (il + 1) % interval == 0.
HYBRID = {
    #             layers  interval  layer kinds by      moe    output.weight
    "qwen35":    (8,      4,        "interval",         False, False),
    "qwen35moe": (6,      3,        "recurrent_layers", True,  True),
}
# gated full attention: heads, KV heads, head_dim, rotated dims, M-RoPE sections, rope base
H_N_HEAD, H_N_HEAD_KV, H_HEAD_DIM, H_N_ROT = 4, 2, 256, 64
H_ROPE_SECTIONS, H_ROPE_BASE = (11, 11, 10, 0), 10000000.0
# Gated DeltaNet: conv kernel, head size (keys = values), key heads, value heads
H_SSM_CONV, H_SSM_HEAD, H_SSM_K_HEADS, H_SSM_V_HEADS = 4, 128, 2, 4
# MoE: experts, experts used, expert n_ff, shared-expert n_ff
H_N_EXPERT, H_N_EXPERT_USED, H_N_FF_EXP, H_N_FF_SHEXP = 8, 2, 256, 512


class Rng:
    def __init__(self, seed):
        self.s = seed & 0xFFFFFFFFFFFFFFFF
        self.spare = None

    def u64(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return z ^ (z >> 31)

    def uniform(self):  # in (0, 1]
        return ((self.u64() >> 11) + 1) * (1.0 / 9007199254740992.0)

    def gauss(self):
        if self.spare is not None:
            v, self.spare = self.spare, None
            return v
        r = math.sqrt(-2.0 * math.log(self.uniform()))
        t = 2.0 * math.pi * self.uniform()
        self.spare = r * math.sin(t)
        return r * math.cos(t)


def read_kv(path):
    """Return the ordered list of (key, type, raw value bytes) of a GGUF file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"GGUF":
        sys.exit(f"{path}: not a GGUF file")
    version, n_tensors, n_kv = struct.unpack_from("<IQQ", data, 4)
    off = 24

    def skip_value(t, off):
        if t in SCALAR:
            return off + struct.calcsize(SCALAR[t])
        if t == STR:
            (n,) = struct.unpack_from("<Q", data, off)
            return off + 8 + n
        if t == ARR:
            et, n = struct.unpack_from("<IQ", data, off)
            off += 12
            if et in SCALAR:
                return off + n * struct.calcsize(SCALAR[et])
            for _ in range(n):
                off = skip_value(et, off)
            return off
        sys.exit(f"{path}: unknown value type {t}")

    kvs = []
    for _ in range(n_kv):
        (n,) = struct.unpack_from("<Q", data, off)
        key = data[off + 8: off + 8 + n].decode()
        off += 8 + n
        (t,) = struct.unpack_from("<I", data, off)
        off += 4
        end = skip_value(t, off)
        kvs.append((key, t, data[off:end]))
        off = end
    return kvs


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv_scalar(key, t, v):
    return gguf_str(key) + struct.pack("<I", t) + struct.pack(SCALAR[t], v)


def kv_string(key, v):
    return gguf_str(key) + struct.pack("<I", STR) + gguf_str(v)


def kv_array(key, t, vals):
    return (gguf_str(key) + struct.pack("<IIQ", ARR, t, len(vals))
            + b"".join(struct.pack(SCALAR[t], v) for v in vals))


def hybrid_kv(arch, n_layer, interval, kinds, moe):
    """Hyperparameters of a qwen35 / qwen35moe model (tiny shape)."""
    a = arch
    kv = [kv_scalar(f"{a}.context_length", U32, N_CTX_TRAIN),
          kv_scalar(f"{a}.embedding_length", U32, N_EMBD),
          kv_scalar(f"{a}.block_count", U32, n_layer)]
    if not moe:
        kv.append(kv_scalar(f"{a}.feed_forward_length", U32, N_FF))
    kv += [kv_scalar(f"{a}.attention.head_count", U32, H_N_HEAD),
           kv_scalar(f"{a}.attention.head_count_kv", U32, H_N_HEAD_KV),
           kv_scalar(f"{a}.attention.key_length", U32, H_HEAD_DIM),
           kv_scalar(f"{a}.attention.value_length", U32, H_HEAD_DIM),
           kv_scalar(f"{a}.attention.layer_norm_rms_epsilon", F32, 1e-6),
           kv_scalar(f"{a}.rope.dimension_count", U32, H_N_ROT),
           kv_array(f"{a}.rope.dimension_sections", I32, H_ROPE_SECTIONS),
           kv_scalar(f"{a}.rope.freq_base", F32, H_ROPE_BASE),
           kv_scalar(f"{a}.ssm.conv_kernel", U32, H_SSM_CONV),
           kv_scalar(f"{a}.ssm.state_size", U32, H_SSM_HEAD),
           kv_scalar(f"{a}.ssm.group_count", U32, H_SSM_K_HEADS),
           kv_scalar(f"{a}.ssm.time_step_rank", U32, H_SSM_V_HEADS),
           kv_scalar(f"{a}.ssm.inner_size", U32, H_SSM_HEAD * H_SSM_V_HEADS)]
    if kinds == "interval":
        kv.append(kv_scalar(f"{a}.full_attention_interval", U32, interval))
    else:
        kv.append(kv_array(f"{a}.attention.recurrent_layers", BOOL,
                           [(il + 1) % interval != 0 for il in range(n_layer)]))
    if moe:
        kv += [kv_scalar(f"{a}.expert_count", U32, H_N_EXPERT),
               kv_scalar(f"{a}.expert_used_count", U32, H_N_EXPERT_USED),
               kv_scalar(f"{a}.expert_feed_forward_length", U32, H_N_FF_EXP),
               kv_scalar(f"{a}.expert_shared_feed_forward_length", U32, H_N_FF_SHEXP)]
    return kv


def hybrid_tensors(add, n_layer, interval, moe, output, n_vocab):
    """Tensors of a qwen35 / qwen35moe model, in the order their values are drawn."""
    add("token_embd.weight", [N_EMBD, n_vocab], 0.1)
    add("output_norm.weight", [N_EMBD], 0.1, 1.0)
    if output:
        add("output.weight", [N_EMBD, n_vocab], 0.1)
    q_dim, kv_dim = H_N_HEAD * H_HEAD_DIM, H_N_HEAD_KV * H_HEAD_DIM
    key_dim, value_dim = H_SSM_K_HEADS * H_SSM_HEAD, H_SSM_V_HEADS * H_SSM_HEAD
    conv_dim = 2 * key_dim + value_dim
    for il in range(n_layer):
        p = f"blk.{il}."
        add(p + "attn_norm.weight", [N_EMBD], 0.1, 1.0)
        if (il + 1) % interval != 0:  # Gated DeltaNet
            add(p + "attn_qkv.weight", [N_EMBD, conv_dim], 1.0 / math.sqrt(N_EMBD))
            add(p + "attn_gate.weight", [N_EMBD, value_dim], 1.0 / math.sqrt(N_EMBD))
            add(p + "ssm_conv1d.weight", [H_SSM_CONV, conv_dim], 0.5, typ=GGML_F32)
            add(p + "ssm_dt.bias", [H_SSM_V_HEADS], 1.0, -1.5)
            # ssm_a = -exp(A_log), A_log ~ N(0.5, 0.6): per-head decay rates
            add(p + "ssm_a", [H_SSM_V_HEADS], 0.6, 0.5, post=lambda x: -math.exp(x))
            add(p + "ssm_alpha.weight", [N_EMBD, H_SSM_V_HEADS], 1.0 / math.sqrt(N_EMBD))
            add(p + "ssm_beta.weight", [N_EMBD, H_SSM_V_HEADS], 1.0 / math.sqrt(N_EMBD))
            add(p + "ssm_norm.weight", [H_SSM_HEAD], 0.1, 1.0)
            add(p + "ssm_out.weight", [value_dim, N_EMBD], 1.0 / math.sqrt(value_dim))
        else:  # gated full attention
            add(p + "attn_q.weight", [N_EMBD, 2 * q_dim], 1.0 / math.sqrt(N_EMBD))
            add(p + "attn_k.weight", [N_EMBD, kv_dim], 1.0 / math.sqrt(N_EMBD),
                outlier_rows=(3, 70 + il))
            add(p + "attn_v.weight", [N_EMBD, kv_dim], 1.0 / math.sqrt(N_EMBD))
            add(p + "attn_q_norm.weight", [H_HEAD_DIM], 0.1, 1.0)
            add(p + "attn_k_norm.weight", [H_HEAD_DIM], 0.1, 1.0)
            # x3: the gated, averaged attention output would otherwise be ~3x smaller
            # than a DeltaNet layer's, and the KV cache would matter little
            add(p + "attn_output.weight", [q_dim, N_EMBD], 3.0 / math.sqrt(q_dim))
        add(p + "post_attention_norm.weight", [N_EMBD], 0.1, 1.0)
        if moe:
            # router logits of std ~4: a peaked choice, few near-ties between experts
            add(p + "ffn_gate_inp.weight", [N_EMBD, H_N_EXPERT], 4.0 / math.sqrt(N_EMBD), typ=GGML_F32)
            add(p + "ffn_gate_exps.weight", [N_EMBD, H_N_FF_EXP, H_N_EXPERT], 1.0 / math.sqrt(N_EMBD))
            add(p + "ffn_up_exps.weight", [N_EMBD, H_N_FF_EXP, H_N_EXPERT], 1.0 / math.sqrt(N_EMBD))
            add(p + "ffn_down_exps.weight", [H_N_FF_EXP, N_EMBD, H_N_EXPERT], 1.0 / math.sqrt(H_N_FF_EXP))
            add(p + "ffn_gate_inp_shexp.weight", [N_EMBD, 1], 1.0 / math.sqrt(N_EMBD), typ=GGML_F32)
            add(p + "ffn_gate_shexp.weight", [N_EMBD, H_N_FF_SHEXP], 1.0 / math.sqrt(N_EMBD))
            add(p + "ffn_up_shexp.weight", [N_EMBD, H_N_FF_SHEXP], 1.0 / math.sqrt(N_EMBD))
            add(p + "ffn_down_shexp.weight", [H_N_FF_SHEXP, N_EMBD], 1.0 / math.sqrt(H_N_FF_SHEXP))
        else:
            add(p + "ffn_gate.weight", [N_EMBD, N_FF], 1.0 / math.sqrt(N_EMBD))
            add(p + "ffn_up.weight", [N_EMBD, N_FF], 1.0 / math.sqrt(N_EMBD))
            add(p + "ffn_down.weight", [N_FF, N_EMBD], 1.0 / math.sqrt(N_FF))


def main():
    args = sys.argv[1:]
    seed, shape = 1, "tiny"
    if "--shape" in args:
        i = args.index("--shape")
        shape = args[i + 1]
        del args[i:i + 2]
        if shape not in SHAPES:
            sys.exit(f"unknown shape {shape}; known: {', '.join(SHAPES)}")
    if "--seed" in args:
        i = args.index("--seed")
        seed = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 3 or (args[0] not in ARCHS and args[0] not in HYBRID):
        sys.exit(__doc__)
    arch, vocab_path, out_path = args
    hybrid = HYBRID.get(arch)  # (n_layer, interval, layer kinds by, moe, output.weight)
    if hybrid:
        if shape != "tiny":
            sys.exit(f"{arch}: only the tiny shape exists")
        n_layer = hybrid[0]
    else:
        n_layer, biases, qk_norm, post_norms = ARCHS[arch]
    global N_EMBD, N_HEAD, N_HEAD_KV, HEAD_DIM, N_FF
    N_EMBD, N_HEAD, N_HEAD_KV, HEAD_DIM, N_FF, layers = SHAPES[shape]
    if layers:
        n_layer = layers
    rng = Rng(seed * 1000003 + sum(map(ord, arch)))
    pools = {} if shape != "tiny" else None  # std -> 1M normals packed as (f16, f32)

    def pool(std):
        if std not in pools:
            vals = [std * rng.gauss() for _ in range(1 << 20)]
            pools[std] = (struct.pack("<%de" % len(vals), *vals), struct.pack("<%df" % len(vals), *vals))
        return pools[std]

    tok_kvs = [kv for kv in read_kv(vocab_path) if kv[0].startswith("tokenizer.")]
    n_vocab = None
    for key, t, raw in tok_kvs:
        if key == "tokenizer.ggml.tokens":
            n_vocab = struct.unpack_from("<IQ", raw, 0)[1]
    if not n_vocab:
        sys.exit(f"{vocab_path}: no tokenizer.ggml.tokens")

    kv = [kv_string("general.architecture", arch),
          kv_string("general.name", f"synth-{arch}"),
          kv_scalar("general.alignment", U32, ALIGN)]
    a = arch
    if hybrid:
        kv += hybrid_kv(arch, *hybrid[:4])
    else:
        kv += [kv_scalar(f"{a}.context_length", U32, N_CTX_TRAIN),
               kv_scalar(f"{a}.embedding_length", U32, N_EMBD),
               kv_scalar(f"{a}.block_count", U32, n_layer),
               kv_scalar(f"{a}.feed_forward_length", U32, N_FF),
               kv_scalar(f"{a}.attention.head_count", U32, N_HEAD),
               kv_scalar(f"{a}.attention.head_count_kv", U32, N_HEAD_KV),
               kv_scalar(f"{a}.attention.key_length", U32, HEAD_DIM),
               kv_scalar(f"{a}.attention.value_length", U32, HEAD_DIM),
               kv_scalar(f"{a}.attention.layer_norm_rms_epsilon", F32, 1e-6),
               kv_scalar(f"{a}.rope.dimension_count", U32, HEAD_DIM),
               kv_scalar(f"{a}.rope.freq_base", F32, 1000000.0 if arch == "gemma3" else 10000.0)]
        if arch in MOE_ARCHS:
            kv += [kv_scalar(f"{a}.expert_count", U32, H_N_EXPERT),
                   kv_scalar(f"{a}.expert_used_count", U32, H_N_EXPERT_USED),
                   kv_scalar(f"{a}.expert_feed_forward_length", U32, H_N_FF_EXP)]
        if arch == "gemma3":
            kv += [kv_scalar("gemma3.attention.sliding_window", U32, SWA_WINDOW.get(shape, 32)),
                   kv_scalar("gemma3.rope.freq_base_swa", F32, 10000.0)]
    kv += [gguf_str(k) + struct.pack("<I", t) + raw for k, t, raw in tok_kvs]

    # tensors: (name, dims (ne0 first), ggml type, generator of values)
    tensors = []

    def add(name, dims, std, mean=0.0, outlier_rows=(), typ=None, post=None):
        n = 1
        for d in dims:
            n *= d
        if pools is not None and (len(dims) > 1 or mean == 0.0):
            typ = GGML_F32 if len(dims) == 1 else GGML_F16
            tensors.append((name, dims, typ, (pool(std), n)))
            return
        vals = [mean + std * rng.gauss() for _ in range(n)]
        if post:  # a function of each drawn value (e.g. ssm_a = -exp(A_log))
            vals = [post(v) for v in vals]
        if outlier_rows:  # scale whole output rows: outlier channels, as real K projections have
            row = dims[0]
            for r in outlier_rows:
                for j in range(r * row, (r + 1) * row):
                    vals[j] *= 8.0
        if typ is None:
            typ = GGML_F32 if len(dims) == 1 else GGML_F16
        tensors.append((name, dims, typ, vals))

    if hybrid:
        hybrid_tensors(add, n_layer, hybrid[1], hybrid[3], hybrid[4], n_vocab)
    else:
        add("token_embd.weight", [N_EMBD, n_vocab], 0.1)
        add("output_norm.weight", [N_EMBD], 0.1, 1.0)
        q_dim, kv_dim = N_HEAD * HEAD_DIM, N_HEAD_KV * HEAD_DIM
        for il in range(n_layer):
            p = f"blk.{il}."
            add(p + "attn_norm.weight", [N_EMBD], 0.1, 1.0)
            add(p + "attn_q.weight", [N_EMBD, q_dim], 1.0 / math.sqrt(N_EMBD))
            add(p + "attn_k.weight", [N_EMBD, kv_dim], 1.0 / math.sqrt(N_EMBD),
                outlier_rows=(3, 70 + il))
            add(p + "attn_v.weight", [N_EMBD, kv_dim], 1.0 / math.sqrt(N_EMBD))
            if biases:
                add(p + "attn_q.bias", [q_dim], 0.1)
                add(p + "attn_k.bias", [kv_dim], 0.1)
                add(p + "attn_v.bias", [kv_dim], 0.1)
            if qk_norm:
                add(p + "attn_q_norm.weight", [HEAD_DIM], 0.1, 1.0)
                add(p + "attn_k_norm.weight", [HEAD_DIM], 0.1, 1.0)
            add(p + "attn_output.weight", [q_dim, N_EMBD], 1.0 / math.sqrt(q_dim))
            if post_norms:
                add(p + "post_attention_norm.weight", [N_EMBD], 0.1, 1.0)
            add(p + "ffn_norm.weight", [N_EMBD], 0.1, 1.0)
            if arch in MOE_ARCHS:
                # router logits of std ~4, as in the hybrid MoE: a peaked choice
                add(p + "ffn_gate_inp.weight", [N_EMBD, H_N_EXPERT], 4.0 / math.sqrt(N_EMBD), typ=GGML_F32)
                add(p + "ffn_gate_exps.weight", [N_EMBD, H_N_FF_EXP, H_N_EXPERT], 1.0 / math.sqrt(N_EMBD))
                add(p + "ffn_up_exps.weight", [N_EMBD, H_N_FF_EXP, H_N_EXPERT], 1.0 / math.sqrt(N_EMBD))
                add(p + "ffn_down_exps.weight", [H_N_FF_EXP, N_EMBD, H_N_EXPERT], 1.0 / math.sqrt(H_N_FF_EXP))
            else:
                add(p + "ffn_gate.weight", [N_EMBD, N_FF], 1.0 / math.sqrt(N_EMBD))
                add(p + "ffn_up.weight", [N_EMBD, N_FF], 1.0 / math.sqrt(N_EMBD))
                add(p + "ffn_down.weight", [N_FF, N_EMBD], 1.0 / math.sqrt(N_FF))
            if post_norms:
                add(p + "post_ffw_norm.weight", [N_EMBD], 0.1, 1.0)

    infos, blobs, offset = [], [], 0
    for name, dims, typ, vals in tensors:
        if isinstance(vals, tuple):  # pooled: random slices of the packed pool of that std
            packed, n = vals
            src, esz = (packed[0], 2) if typ == GGML_F16 else (packed[1], 4)
            parts, left = [], n
            while left:
                take = min(left, 1 << 18)
                off = rng.u64() % ((1 << 20) - take + 1)
                parts.append(src[off * esz:(off + take) * esz])
                left -= take
            blob = b"".join(parts)
        else:
            fmt = "<%d%s" % (len(vals), "f" if typ == GGML_F32 else "e")
            blob = struct.pack(fmt, *vals)
        pad = (-offset) % ALIGN
        blobs.append(b"\0" * pad + blob)
        offset += pad
        infos.append(gguf_str(name) + struct.pack("<I", len(dims))
                     + b"".join(struct.pack("<Q", d) for d in dims)
                     + struct.pack("<IQ", typ, offset))
        offset += len(blob)

    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)) + b"".join(kv) + b"".join(infos)
    head += b"\0" * ((-len(head)) % ALIGN)
    with open(out_path, "wb") as f:
        f.write(head)
        for b in blobs:
            f.write(b)


if __name__ == "__main__":
    main()
