#!/usr/bin/env python3
"""gen_corpus.py - writes the fuzz targets' seed corpora, tests/fuzz/corpus/<target>/.

The seeds are small (a few KB each) so they can live in the repository: tiny
but valid files of every format a target reads, plus the broken variants a
mutator reaches slowly (truncations, a wrong magic, counts far beyond the
file). The tokenizer seeds are the golden tokenizer test strings. Files are
written byte-for-byte from this script and a fixed random seed, so rerunning
it reproduces the committed corpus.

    tests/fuzz/gen_corpus.py [--shared ../shared]
"""
import argparse
import os
import random
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")

# ---------------------------------------------------------------- GGUF writer

T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)
SCALAR = {T_U8: "<B", T_I8: "<b", T_U16: "<H", T_I16: "<h", T_U32: "<I", T_I32: "<i",
          T_F32: "<f", T_BOOL: "<?", T_U64: "<Q", T_I64: "<q", T_F64: "<d"}
GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q8_0, GGML_Q4_K = 0, 1, 2, 8, 12


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gval(t, v):
    if t == T_STR:
        return gstr(v)
    if t == T_ARR:
        et, items = v
        out = struct.pack("<IQ", et, len(items))
        return out + b"".join(gval(et, x) for x in items)
    return struct.pack(SCALAR[t], v)


def gguf(kvs, tensors, version=3, align=32):
    """kvs: [(key, type, value)]; tensors: [(name, dims, ggml type, bytes)]."""
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, t, v in kvs:
        head += gstr(k) + struct.pack("<I", t) + gval(t, v)
    data, offsets = b"", []
    for _, _, _, blob in tensors:
        data += b"\0" * (-len(data) % align)
        offsets.append(len(data))
        data += blob
    for (name, dims, typ, _), off in zip(tensors, offsets):
        head += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        head += struct.pack("<IQ", typ, off)
    head += b"\0" * (-len(head) % align)
    return head + data


def q4_0_rows(rng, rows, cols):
    out = b""
    for _ in range(rows * cols // 32):
        out += struct.pack("<e", 0.02) + bytes(rng.randrange(256) for _ in range(16))
    return out


def f32s(values):
    return struct.pack("<%df" % len(values), *values)


def bpe_tokenizer():
    toks = ["<|endoftext|>", "H", "e", "l", "o", "\u0120", "w", "r", "d", ",", "1", "ll", "\u0120w", "Hello"]
    types = [3] + [1] * (len(toks) - 1)
    return [
        ("tokenizer.ggml.model", T_STR, "gpt2"),
        ("tokenizer.ggml.pre", T_STR, "gpt-2"),
        ("tokenizer.ggml.tokens", T_ARR, (T_STR, toks)),
        ("tokenizer.ggml.token_type", T_ARR, (T_I32, types)),
        ("tokenizer.ggml.merges", T_ARR, (T_STR, ["l l", "\u0120 w", "H e", "He ll", "Hell o"])),
        ("tokenizer.ggml.bos_token_id", T_U32, 0),
        ("tokenizer.ggml.eos_token_id", T_U32, 0),
    ], len(toks)


def spm_tokenizer():
    toks = ["<unk>", "<s>", "</s>", "<0x0A>", "<0x41>", "<0xFF>", "\u2581", "\u2581H", "e", "l", "o", "\u2581w", "ll"]
    types = [2, 3, 3, 6, 6, 6, 1, 1, 1, 1, 1, 1, 1]
    scores = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, -2.0, -3.0, -3.5, -4.0, -2.5, -1.5]
    return [
        ("tokenizer.ggml.model", T_STR, "llama"),
        ("tokenizer.ggml.tokens", T_ARR, (T_STR, toks)),
        ("tokenizer.ggml.scores", T_ARR, (T_F32, scores)),
        ("tokenizer.ggml.token_type", T_ARR, (T_I32, types)),
        ("tokenizer.ggml.bos_token_id", T_U32, 1),
        ("tokenizer.ggml.eos_token_id", T_U32, 2),
        ("tokenizer.ggml.unknown_token_id", T_U32, 0),
        ("tokenizer.ggml.add_bos_token", T_BOOL, True),
    ], len(toks)


def tiny_model(rng, arch, tok):
    """One layer, n_embd = n_ff = head size = 32, one head, q4_0 matrices, f32 norms."""
    tk, n_vocab = tok
    e = 32
    kvs = [("general.architecture", T_STR, arch), ("general.name", T_STR, "tiny-" + arch)]
    for k, v in [("context_length", 64), ("embedding_length", e), ("block_count", 1),
                 ("feed_forward_length", e), ("attention.head_count", 1), ("attention.head_count_kv", 1),
                 ("attention.key_length", e), ("attention.value_length", e), ("rope.dimension_count", e)]:
        kvs.append(("%s.%s" % (arch, k), T_U32, v))
    kvs.append(("%s.attention.layer_norm_rms_epsilon" % arch, T_F32, 1e-6))
    kvs += tk
    norm = f32s([1.0] * e)
    ts = [("token_embd.weight", [e, n_vocab], GGML_Q4_0, q4_0_rows(rng, n_vocab, e)),
          ("output_norm.weight", [e], GGML_F32, norm),
          ("blk.0.attn_norm.weight", [e], GGML_F32, norm)]
    for m in ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]:
        ts.append(("blk.0.%s.weight" % m, [e, e], GGML_Q4_0, q4_0_rows(rng, e, e)))
    if arch == "qwen3":
        ts.append(("blk.0.attn_q_norm.weight", [e], GGML_F32, norm))
        ts.append(("blk.0.attn_k_norm.weight", [e], GGML_F32, norm))
    ts.append(("blk.0.ffn_norm.weight", [e], GGML_F32, norm))
    return gguf(kvs, ts)


def kitchen_sink(version):
    """Every value type, nested arrays, several tensor types, an empty tensor."""
    kvs = [("general.architecture", T_STR, "llama"), ("general.alignment", T_U32, 64)]
    for i, t in enumerate([T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_U64, T_I64]):
        kvs.append(("k.int%d" % i, t, 1 if t in (T_U8, T_U16, T_U32, T_U64) else -1))
    kvs += [("k.f32", T_F32, 1.5), ("k.f64", T_F64, -2.25), ("k.bool", T_BOOL, True),
            ("k.str", T_STR, "caf\u00e9 \x01 \\"), ("k.arr.f32", T_ARR, (T_F32, [1.0, 2.0])),
            ("k.arr.str", T_ARR, (T_STR, ["a", "", "bc"])),
            ("k.arr.nested", T_ARR, (T_ARR, [(T_U8, [1, 2]), (T_STR, ["x"])])),
            ("k.arr.empty", T_ARR, (T_I64, []))]
    ts = [("f32", [4], GGML_F32, f32s([1, 2, 3, 4])),
          ("f16", [2, 2], GGML_F16, struct.pack("<4e", 1, -1, 0.5, 2)),
          ("q8_0", [32, 1], GGML_Q8_0, struct.pack("<e", 0.1) + bytes(range(32))),
          ("q4_K", [256], GGML_Q4_K, bytes(144)),
          ("empty", [0, 3], GGML_F32, b"")]
    return gguf(kvs, ts, version=version, align=64)


# ---------------------------------------------------------------- references

def qlens_ref(rng, n_ctx=8, n_chunks=2, n_vocab=14, n_embd=32, out_type=GGML_F16):
    n_scored = n_ctx - 1 - n_ctx // 2
    a64 = lambda v: (v + 63) // 64 * 64
    row = {GGML_F16: 2 * n_embd, GGML_F32: 4 * n_embd, GGML_Q8_0: 34 * n_embd // 32}[out_type]
    tokens = struct.pack("<%di" % (n_ctx * n_chunks), *[rng.randrange(n_vocab) for _ in range(n_ctx * n_chunks)])
    if out_type == GGML_F16:
        matrix = struct.pack("<%de" % (n_embd * n_vocab), *[rng.uniform(-1, 1) for _ in range(n_embd * n_vocab)])
    elif out_type == GGML_F32:
        matrix = f32s([rng.uniform(-1, 1) for _ in range(n_embd * n_vocab)])
    else:
        matrix = b"".join(struct.pack("<e", 0.01) + bytes(rng.randrange(256) for _ in range(32))
                          for _ in range(n_vocab * n_embd // 32))
    assert len(matrix) == row * n_vocab
    chunks = [f32s([rng.uniform(-1, 1) for _ in range(n_scored * n_embd)]) for _ in range(n_chunks)]
    t_off = 1024
    m_off = a64(t_off + len(tokens))
    h_off = a64(m_off + len(matrix))
    chunk_bytes = 4 * n_scored * n_embd
    c_off = h_off + chunk_bytes * n_chunks
    table = b"".join(struct.pack("<I", zlib.crc32(c)) for c in chunks)
    h = bytearray(1024)
    h[0:8] = b"QLENSREF"
    struct.pack_into("<IIIIIIiI", h, 8, 1, 1024, n_ctx, n_chunks, n_scored, 1, 1, out_type)
    struct.pack_into("<QQfxxxxQQ", h, 40, n_vocab, n_embd, 0.0, 0x1234, 99999)
    struct.pack_into("<QQQQQQQ", h, 80, t_off, len(tokens), m_off, len(matrix), h_off, chunk_bytes, c_off)
    struct.pack_into("<III", h, 136, zlib.crc32(tokens), zlib.crc32(matrix), zlib.crc32(table))
    h[176:176 + 5] = b"llama"
    h[208:208 + 4] = b"tiny"
    cfg = b"weights=F16 ctk=f16 ctv=f16 rot=auto"
    h[336:336 + len(cfg)] = cfg
    struct.pack_into("<I", h, 1020, zlib.crc32(bytes(h[:1020])))
    out = bytes(h) + tokens
    out += b"\0" * (m_off - len(out)) + matrix
    out += b"\0" * (h_off - len(out)) + b"".join(chunks) + table
    return out


def llama_kld(rng, n_ctx=8, n_vocab=14, n_chunk=2):
    n_scored = n_ctx - 1 - n_ctx // 2
    nv = 2 * ((n_vocab + 1) // 2) + 4
    out = b"_logits_" + struct.pack("<Iii", n_ctx, n_vocab, n_chunk)
    out += struct.pack("<%di" % (n_ctx * n_chunk), *[rng.randrange(n_vocab) for _ in range(n_ctx * n_chunk)])
    for _ in range(n_chunk * n_scored):
        row = struct.pack("<ff", 16.0 / 65535, -18.5)
        row += struct.pack("<%dH" % n_vocab, *[rng.randrange(65536) for _ in range(n_vocab)])
        row += b"\0" * (2 * nv - len(row))
        out += row
    return out


# ---------------------------------------------------------------- journals

def jline(text):
    b = text.encode()
    return b"%08x " % zlib.crc32(b) + b + b"\n"


IDENTITY = "sweep 0123456789abcdef"  # must match FUZZ_IDENTITY in fuzz_targets.c


# ---------------------------------------------------------------- main

def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def golden_texts(shared, vocab):
    path = os.path.join(shared, "golden", "tokenizer", vocab + ".inp")
    with open(path, "rb") as f:
        parts = f.read().split(b"\n__ggml_vocab_test__\n")
    return [p for p in parts if len(p) <= 2048]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "..", "..", "shared"))
    args = ap.parse_args()
    rng = random.Random(1234)

    # gguf
    write("gguf", "tiny-llama-bpe.gguf", tiny_model(rng, "llama", bpe_tokenizer()))
    write("gguf", "tiny-qwen3-spm.gguf", tiny_model(rng, "qwen3", spm_tokenizer()))
    sink3 = kitchen_sink(3)
    write("gguf", "kitchen-sink-v3.gguf", sink3)
    write("gguf", "kitchen-sink-v2.gguf", kitchen_sink(2))
    write("gguf", "vocab-only-spm.gguf", gguf(spm_tokenizer()[0], []))
    write("gguf", "truncated-in-kv.gguf", sink3[:200])
    write("gguf", "wrong-magic.gguf", b"GGUG" + sink3[4:300])
    write("gguf", "big-endian.gguf", b"GGUF\0\0\0\3" + sink3[8:100])
    write("gguf", "huge-counts.gguf", b"GGUF" + struct.pack("<IQQ", 3, 1 << 62, 1 << 62) + sink3[24:64])
    write("gguf", "empty.gguf", b"")

    # tokenizers and pre-tokenizers: option byte + text
    texts = golden_texts(args.shared, "ggml-vocab-gpt-2.gguf")
    texts += [b"Hello world", "caf\u00e9 \u4e2d\u6587 \U0001f600 123456".encode(), b"\xff\xfe\xc3(\xe2\x82",
              b"<s>x</s><|endoftext|> <unk>", b"  \t\n\r\n  trailing   "]
    for i, t in enumerate(texts):
        opt = bytes([(i * 37) & 0x7f])
        write("tok_bpe", "text-%02d" % i, opt + t)
        write("tok_spm", "text-%02d" % i, opt + t)
        write("pretok", "text-%02d" % i, bytes([i & 0xff]) + t)

    # reference files: option byte (bit 0: fix checksums) + file
    for i, (ot, ctx, ch) in enumerate([(GGML_F16, 8, 2), (GGML_F32, 6, 1), (GGML_Q8_0, 10, 1)]):
        ref = qlens_ref(rng, n_ctx=ctx, n_chunks=ch, out_type=ot)
        write("refstore", "valid-%d.qlref" % i, b"\0" + ref)
        write("refstore", "valid-%d-fixcrc.qlref" % i, b"\1" + ref)
    ref = qlens_ref(rng)
    write("refstore", "truncated.qlref", b"\1" + ref[:1500])
    bad = bytearray(ref)
    bad[1100] ^= 0xff
    write("refstore", "bad-crc.qlref", b"\0" + bytes(bad))
    write("refstore", "llama-format.kld", b"\0" + llama_kld(rng))

    # llama.cpp .kld files
    write("kld_llama", "valid-8x2.kld", llama_kld(rng))
    write("kld_llama", "valid-4x1.kld", llama_kld(rng, n_ctx=4, n_vocab=3, n_chunk=1))
    k = llama_kld(rng)
    write("kld_llama", "truncated.kld", k[:-7])
    write("kld_llama", "trailing.kld", k + b"\0\0")
    write("kld_llama", "huge-dims.kld", b"_logits_" + struct.pack("<Iii", 1 << 24, 0x7fffffff, 0x7fffffff))

    # journals: option byte (bit 0: fix CRCs) + journal
    head = jline("qlens-sweep-journal 1 " + IDENTITY)
    steps = [jline("quantize Q4_K_M"), jline("reference"), jline("run Q4_K_M f16/f16")]
    j = head + b"".join(steps)
    write("journal", "valid", b"\0" + j)
    write("journal", "valid-fixcrc", b"\1" + j)
    write("journal", "torn-last-line", b"\0" + j[:-5])
    write("journal", "bad-crc-line", b"\0" + head + b"00000000 run x\n" + steps[0])
    write("journal", "other-identity", b"\0" + jline("qlens-sweep-journal 1 sweep ffff"))
    write("journal", "not-a-journal", b"\1" + b"hello\nworld\n")

    # --tensor-type patterns: pattern, NUL, texts separated by NULs (or the pattern alone)
    names = [b"blk.0.attn_v.weight", b"blk.12.ffn_down.weight", b"token_embd.weight",
             b"output.weight", b"blk.3.attn_q.bias", b""]
    patterns = [rb"attn_v", rb"blk\.(0|1|2)\.ffn_down", rb"^token_embd\.weight$", rb"\bffn_\w+",
                rb"blk\.\d{1,2}\.attn_[qkv]\.weight", rb"[^a-z.]+", rb"(a*)*b", rb"(a|aa)*?c",
                rb"x{2,5}y{0,}z{3}", rb"\x41\cJ\0[\]\\-]", rb"(?:out|in)put\B", rb"weight$|^blk",
                rb"a(b", rb"(?=x)", rb"\1", rb"\q", rb"[z-a]", rb"a{1001}"]
    for i, p in enumerate(patterns):
        texts = names if i % 2 else [b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", b"xxyyyzzz", b"A\n0]"]
        write("regex", "pattern-%02d" % i, p + b"\0" + b"\0".join(texts))
    write("regex", "pattern-alone", rb"ffn_(gate|up)")

    # results.csv as the sweep writes it, and what a hand or a mutator makes of it
    cols = ("rank,weights,weights_path,cache_type_k,cache_type_v,kld,kld_unc,ppl_ratio,"
            "ppl_ratio_unc,ln_ppl_ratio,ln_ppl_ratio_unc,same_top,same_top_unc,ppl_q,ppl_base,"
            "weight_bytes,kv_bytes_per_token,target_ctx,total_bytes_target,budget_bytes,"
            "max_ctx_budget,d_kld_vs_above,d_kld_vs_above_unc,sigma_vs_above\n")
    rows = ('1,"Q8_0","out/weights/m-Q8_0.gguf",f16,f16,0.000512,2.1e-05,1.0003,0.0001,0.0003,'
            '0.0001,0.991,0.002,12.5,12.49,36000000,9216,4096,74000000,209715200,81234,,,\n'
            '2,"Q4_K_M","out/weights/m-Q4_K_M.gguf",q8_0,q5_1,0.0213,0.0009,1.02,0.001,0.019,'
            '0.001,0.93,0.004,12.8,12.49,19000000,5184,4096,41000000,209715200,150000,0.0208,'
            '0.0009,23.1\n')
    write("plan_csv", "sweep-results.csv", (cols + rows).encode())
    write("plan_csv", "crlf-quoted.csv",
          b'weights,weights_path,cache_type_k,cache_type_v,kld,kld_unc\r\n'
          b'"a, ""b""","p\nq.gguf",q4_0,iq4_nl,1e-3,0\r\n')
    write("plan_csv", "malformed-type.csv",
          b"weights,weights_path,cache_type_k,cache_type_v,kld,kld_unc\nQ4_0,x.gguf,f16,q9_9,0.1,0.01\n")
    write("plan_csv", "short-row.csv",
          b"weights,weights_path,cache_type_k,cache_type_v,kld,kld_unc\nQ4_0,x.gguf,f16\n")
    write("plan_csv", "header-only.csv", b"kld,kld_unc,weights,weights_path,cache_type_k,cache_type_v\n")


if __name__ == "__main__":
    main()
