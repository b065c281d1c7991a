#!/usr/bin/env python3
"""Float64 forward pass of a gemma3 GGUF with F16/F32 tensors (numpy), for the
regression test of the Gemma 3 270M shape (tests/test_gemma3_shape.c).

usage: ref_gemma3.py MODEL TEXT_IDS N_CTX N_CHUNKS CACHE [--no-window] [--swap-bases]

TEXT_IDS: comma-separated token ids of the text without BOS (the SentencePiece
golden ids); BOS (1) is prepended and each chunk's first token set to BOS, as
llama-perplexity does. CACHE: f16 (K and V rounded to f16), q8_0 or q4_0 (llama.cpp's
Hadamard rotation of quantized caches: Q and K in blocks of 256, V in blocks of
64; K and V quantized to that type, Q to q8_0 for its dot products; --k64
rotates K in blocks of 64 instead). Activations are
rounded to f16 before every product with an F16 matrix, as ggml does. Prints the
final perplexity. --no-window and --swap-bases change the model (window ignored,
the two rope bases exchanged): they show how far a wrong convention moves it.
"""
import struct, sys
import numpy as np

F32, F16 = 0, 1


def load(path):
    data = open(path, 'rb').read()
    _, n_t, n_kv = struct.unpack_from('<IQQ', data, 4)
    off, kv = 24, {}
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def value(t, off):
        if t == 8:
            n = struct.unpack_from('<Q', data, off)[0]
            return data[off + 8:off + 8 + n].decode('utf-8', 'replace'), off + 8 + n
        if t == 9:
            et, n = struct.unpack_from('<IQ', data, off)
            off += 12
            out = []
            for _ in range(n):
                v, off = value(et, off)
                out.append(v)
            return out, off
        fmt = {0: '<B', 1: '<b', 2: '<H', 3: '<h', 4: '<I', 5: '<i', 6: '<f', 7: '<?', 10: '<Q', 11: '<q', 12: '<d'}[t]
        return struct.unpack_from(fmt, data, off)[0], off + sizes[t]

    for _ in range(n_kv):
        n = struct.unpack_from('<Q', data, off)[0]
        key = data[off + 8:off + 8 + n].decode()
        off += 8 + n
        t = struct.unpack_from('<I', data, off)[0]
        kv[key], off = value(t, off + 4)
    infos = []
    for _ in range(n_t):
        n = struct.unpack_from('<Q', data, off)[0]
        name = data[off + 8:off + 8 + n].decode()
        off += 8 + n
        nd = struct.unpack_from('<I', data, off)[0]
        dims = struct.unpack_from('<%dQ' % nd, data, off + 4)
        off += 4 + 8 * nd
        typ, o = struct.unpack_from('<IQ', data, off)
        off += 12
        infos.append((name, dims, typ, o))
    base = off + (-off) % kv.get('general.alignment', 32)
    W = {}
    for name, dims, typ, o in infos:
        assert typ in (F32, F16), f'{name}: only F16/F32 tensors'
        a = np.frombuffer(data, dtype=np.float16 if typ == F16 else np.float32,
                          count=int(np.prod(dims)), offset=base + o)
        W[name] = (a.astype(np.float64).reshape(tuple(reversed(dims))), typ)
    return kv, W


def f16(x):
    return x.astype(np.float16).astype(np.float64)


def q8_0(x):
    """ggml's run-time q8_0 quantizer: d = amax/127 (stored f16), q = round(x * 127/amax)."""
    s = x.shape
    b = x.reshape(-1, 32).astype(np.float32)
    amax = np.abs(b).max(1)
    d = (amax / np.float32(127)).astype(np.float32)
    idv = np.where(amax > 0, np.float32(127) / np.where(amax > 0, amax, 1), np.float32(0)).astype(np.float32)
    q = np.round(b * idv[:, None]).astype(np.float64)
    return (q * f16(d)[:, None]).reshape(s)


def q4_0(x):
    """ggml's q4_0 reference quantizer: d = max / -8 (the signed extreme), q = min(15, x/d + 8.5)."""
    s = x.shape
    b = x.reshape(-1, 32).astype(np.float32)
    mx = b[np.arange(len(b)), np.abs(b).argmax(1)]
    d = (mx / np.float32(-8)).astype(np.float32)
    idv = np.where(d != 0, np.float32(1) / np.where(d != 0, d, 1), np.float32(0)).astype(np.float32)
    q = np.minimum(15, (b * idv[:, None] + np.float32(8.5)).astype(np.int8)).astype(np.float64)
    return ((q - 8) * f16(d)[:, None]).reshape(s)


def hadamard(n):
    h = np.array([[1.0]])
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h / np.sqrt(n)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    no_window, swap = '--no-window' in sys.argv, '--swap-bases' in sys.argv
    path, ids_path, nc, nch, cache = args[0], args[1], int(args[2]), int(args[3]), args[4]
    kv, W = load(path)
    a = 'gemma3.'
    E, L = kv[a + 'embedding_length'], kv[a + 'block_count']
    NH, NKV = kv[a + 'attention.head_count'], kv[a + 'attention.head_count_kv']
    HD, SWA = kv[a + 'attention.key_length'], kv[a + 'attention.sliding_window']
    base_g, base_l = kv[a + 'rope.freq_base'], kv.get(a + 'rope.freq_base_swa', 10000.0)
    if swap:
        base_g, base_l = base_l, base_g
    eps = kv[a + 'attention.layer_norm_rms_epsilon']

    def mm(h, name):
        w, typ = W[name]
        return (f16(h) if typ == F16 else h) @ w.T

    def rms(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w

    def rope(x, pos, base):
        d = x.shape[-1]
        i = np.arange(d // 2)
        th = pos[:, None] * base ** (-2 * i / d)
        c, s = np.cos(th)[:, None, :], np.sin(th)[:, None, :]
        x0, x1 = x[..., :d // 2], x[..., d // 2:]
        return np.concatenate([x0 * c - x1 * s, x0 * s + x1 * c], -1)

    def gelu(x):
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))

    hk, hv = hadamard(64 if '--k64' in sys.argv else HD), hadamard(64)
    quant = q8_0 if cache == 'q8_0' else q4_0
    ids = [1] + [int(v) for v in open(ids_path).read().strip().split(',')]
    emb = W['token_embd.weight'][0]
    nll = []
    for ch in range(nch):
        tok = list(ids[ch * nc:(ch + 1) * nc])
        tok[0] = 1
        x = emb[tok] * np.sqrt(np.float32(E))
        T = len(tok)
        pos = np.arange(T, dtype=np.float64)
        for l in range(L):
            p = f'blk.{l}.'
            is_swa = l % 6 < 5
            h = rms(x, W[p + 'attn_norm.weight'][0])
            q = mm(h, p + 'attn_q.weight').reshape(T, NH, HD)
            k = mm(h, p + 'attn_k.weight').reshape(T, NKV, HD)
            v = mm(h, p + 'attn_v.weight').reshape(T, NKV, HD)
            q = rms(q, W[p + 'attn_q_norm.weight'][0])
            k = rms(k, W[p + 'attn_k_norm.weight'][0])
            base = base_l if is_swa else base_g
            q, k = rope(q, pos, base) / np.sqrt(HD), rope(k, pos, base)
            if cache == 'f16':
                k, v = f16(k), f16(v)
            else:
                nb = HD // hk.shape[0]
                q = q8_0((q.reshape(T, NH, nb, -1) @ hk).reshape(T, NH, HD))
                k = quant((k.reshape(T, NKV, nb, -1) @ hk).reshape(T, NKV, HD))
                v = quant(v.reshape(T, NKV, HD // 64, 64) @ hv).reshape(T, NKV, HD)
            qi, ki = np.arange(T)[:, None], np.arange(T)[None, :]
            ok = (ki <= qi) & ((qi - ki < SWA) if is_swa and not no_window else True)
            mask = np.where(ok, 0.0, -np.inf)
            out = np.zeros((T, NH, HD))
            for hh in range(NH):
                g = hh // (NH // NKV)
                s = q[:, hh, :] @ k[:, g, :].T + mask
                s = np.exp(s - s.max(1, keepdims=True))
                out[:, hh, :] = (s / s.sum(1, keepdims=True)) @ v[:, g, :]
            if cache != 'f16':
                out = (out.reshape(T, NH, HD // 64, 64) @ hv).reshape(T, NH, HD)
            x = x + rms(mm(out.reshape(T, NH * HD), p + 'attn_output.weight'), W[p + 'post_attention_norm.weight'][0])
            h = rms(x, W[p + 'ffn_norm.weight'][0])
            f = mm(gelu(mm(h, p + 'ffn_gate.weight')) * mm(h, p + 'ffn_up.weight'), p + 'ffn_down.weight')
            x = x + rms(f, W[p + 'post_ffw_norm.weight'][0])
        z = mm(rms(x, W['output_norm.weight'][0]), 'token_embd.weight')
        for j in range(nc // 2, nc - 1):
            m = z[j].max()
            nll.append(m + np.log(np.exp(z[j] - m).sum()) - z[j][tok[j + 1]])
    print(f'{np.exp(np.mean(nll)):.6f}')


if __name__ == '__main__':
    main()
