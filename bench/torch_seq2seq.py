#!/usr/bin/env python3
"""PyTorch twin of clinic's encoder-decoder training step, for speed only.

The model of clinic's Seq2Seq (docs/model.md): Admin residuals
x = LN(w*x + Drop(F(x))) in encoder and decoder, fused qkv self-attention
(key-padding masks in the encoder, causal in the decoder), cross-attention
with a fused kv projection, ReLU FFN, one embedding for source, target and
output, sinusoidal positions, dropout 0.1 everywhere, label smoothing 0.1
ignoring padding, Adam with gradient clipping, float32.

The batch is the one BenchmarkTrainStep/T6_d256 uses: 128 sentence pairs,
sources and targets padded to 32 tokens, lengths 17..32, vocabulary 8192.
Prints: <name> threads=<n> tokens/s=<target tokens per second>
peak_rss_mb=<y> blas=<core>.

Run with Debian's interpreter under OPENBLAS_CORETYPE=SkylakeX (see
bench/compare.sh).
"""
import argparse
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    "T6_d256": dict(enc=6, dec=6, d=256, h=4, ff=1024, t=32, b=128, v=8192),
}


def attention(q, k, v, h, mask, p, training):
    B, Tq, D = q.shape
    Tk = k.shape[1]
    q = q.view(B, Tq, h, D // h).transpose(1, 2)
    k = k.view(B, Tk, h, D // h).transpose(1, 2)
    v = v.view(B, Tk, h, D // h).transpose(1, 2)
    s = (q @ k.transpose(-1, -2)) / math.sqrt(D // h)
    s = s.masked_fill(mask, float("-inf"))
    a = F.dropout(s.softmax(-1), p, training)
    return (a @ v).transpose(1, 2).reshape(B, Tq, D)


class Sub(nn.Module):
    """One Admin residual sublayer: LN(w*x + Drop(f))."""

    def __init__(self, d):
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.w = nn.Parameter(torch.ones(d))

    def forward(self, x, f, p, training):
        return self.ln(self.w * x + F.dropout(f, p, training))


class EncLayer(nn.Module):
    def __init__(self, d, h, ff):
        super().__init__()
        self.h = h
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.s1, self.s2 = Sub(d), Sub(d)

    def forward(self, x, mask, p):
        q, k, v = self.qkv(x).split(x.shape[-1], -1)
        x = self.s1(x, self.out(attention(q, k, v, self.h, mask, p, self.training)), p, self.training)
        f = self.fc2(F.dropout(F.relu(self.fc1(x)), p, self.training))
        return self.s2(x, f, p, self.training)


class DecLayer(EncLayer):
    def __init__(self, d, h, ff):
        super().__init__(d, h, ff)
        self.q, self.kv, self.xout = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)
        self.s3 = Sub(d)

    def forward(self, x, enc, causal, src_mask, p):
        D = x.shape[-1]
        q, k, v = self.qkv(x).split(D, -1)
        x = self.s1(x, self.out(attention(q, k, v, self.h, causal, p, self.training)), p, self.training)
        k, v = self.kv(enc).split(D, -1)
        x = self.s3(x, self.xout(attention(self.q(x), k, v, self.h, src_mask, p, self.training)), p, self.training)
        f = self.fc2(F.dropout(F.relu(self.fc1(x)), p, self.training))
        return self.s2(x, f, p, self.training)


class Seq2Seq(nn.Module):
    def __init__(self, c, p=0.1):
        super().__init__()
        d, t = c["d"], c["t"]
        self.d, self.p = d, p
        self.emb = nn.Embedding(c["v"], d)
        pos = torch.arange(t)[:, None] * torch.exp(-torch.arange(0, d, 2) / d * math.log(10000))[None]
        pe = torch.zeros(t, d)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(pos), torch.cos(pos)
        self.register_buffer("pe", pe)
        self.register_buffer("causal", torch.triu(torch.ones(t, t, dtype=torch.bool), 1))
        self.enc = nn.ModuleList(EncLayer(d, c["h"], c["ff"]) for _ in range(c["enc"]))
        self.dec = nn.ModuleList(DecLayer(d, c["h"], c["ff"]) for _ in range(c["dec"]))

    def embed(self, tok):
        return F.dropout(self.emb(tok) * math.sqrt(self.d) + self.pe[: tok.shape[1]], self.p, self.training)

    def forward(self, src, src_lens, tgt_in, tgt_out):
        T = src.shape[1]
        src_mask = (torch.arange(T)[None] >= src_lens[:, None])[:, None, None, :]
        x = self.embed(src)
        for l in self.enc:
            x = l(x, src_mask, self.p)
        y = self.embed(tgt_in)
        for l in self.dec:
            y = l(y, x, self.causal, src_mask, self.p)
        logits = y @ self.emb.weight.t()
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), tgt_out.view(-1), ignore_index=-1, label_smoothing=0.1)


def blas_core():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown"
    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return ",".join(f"{i.get('internal_api')}:{i.get('architecture', '?')}" for i in libs) or "none"


def bench(name, threads, seconds, bf16=False):
    c = CONFIGS[name]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    m = Seq2Seq(c)
    m.train()
    opt = torch.optim.Adam(m.parameters(), lr=1e-4, betas=(0.9, 0.98))
    B, T, V = c["b"], c["t"], c["v"]
    g = torch.Generator().manual_seed(1)
    src_lens = torch.randint(17, T + 1, (B,), generator=g)
    tgt_lens = torch.randint(17, T + 1, (B,), generator=g)
    src = torch.randint(3, V, (B, T), generator=g)
    tgt_in = torch.randint(3, V, (B, T), generator=g)
    tgt_out = torch.randint(3, V, (B, T), generator=g)
    tgt_out[torch.arange(T)[None] >= tgt_lens[:, None]] = -1
    ntok = int(tgt_lens.sum())

    def step():
        opt.zero_grad(set_to_none=True)
        # --bf16: autocast, the mixed precision PyTorch users train CPUs with:
        # linear layers and matmuls in bf16, master weights and the loss fp32.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = m(src, src_lens, tgt_in, tgt_out)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()

    for _ in range(2):
        step()
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 3:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{name} threads={threads} precision={'bf16' if bf16 else 'fp32'} tokens/s={ntok / med:.0f} peak_rss_mb={rss:.0f} blas={blas_core()}", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", choices=list(CONFIGS), required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--bf16", action="store_true", help="train under torch.autocast(cpu, bfloat16)")
    a = ap.parse_args()
    bench(a.config, a.threads, a.seconds, a.bf16)
