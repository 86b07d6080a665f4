#!/usr/bin/env python3
"""PyTorch twin of clinic's training step, for speed comparison only.

Same model as docs/model.md (decoder-only, Admin/Post-LN residuals, fused qkv,
tied embedding, ReLU FFN, dropout 0.1 everywhere), float32, Adam. Prints one
line per config:  <name> threads=<n> tokens/s=<x> peak_rss_mb=<y>

Run with Debian's interpreter: /usr/bin/python3 bench/torch_step.py --threads 2
(bench/compare.sh sets OMP_WAIT_POLICY=PASSIVE and OPENBLAS_CORETYPE=SkylakeX:
Debian's OpenBLAS 0.3.21 does not recognise Sapphire Rapids and otherwise
runs its generic Prescott kernels, about 3x slower). The line also names
the BLAS core in use, via threadpoolctl.
"""
import argparse
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    "L6_d256": dict(layers=6, d=256, h=4, ff=1024, t=128, b=16),
    "L18_d256": dict(layers=18, d=256, h=4, ff=1024, t=128, b=16),
    "L6_d512": dict(layers=6, d=512, h=8, ff=2048, t=256, b=8),
}


class Layer(nn.Module):
    def __init__(self, d, h, ff, p):
        super().__init__()
        self.h, self.p = h, p
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ln1 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ff)
        self.fc2 = nn.Linear(ff, d)
        self.ln2 = nn.LayerNorm(d)
        self.w1 = nn.Parameter(torch.ones(d))
        self.w2 = nn.Parameter(torch.ones(d))

    def forward(self, x, mask):
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=-1)
        q, k, v = (z.view(B, T, self.h, D // self.h).transpose(1, 2) for z in (q, k, v))
        s = q @ k.transpose(-1, -2) / math.sqrt(D // self.h)
        s = s.masked_fill(mask, float("-inf"))
        a = F.dropout(s.softmax(-1), self.p, self.training)
        o = (a @ v).transpose(1, 2).reshape(B, T, D)
        x = self.ln1(self.w1 * x + F.dropout(self.out(o), self.p, self.training))
        f = self.fc2(F.dropout(F.relu(self.fc1(x)), self.p, self.training))
        return self.ln2(self.w2 * x + F.dropout(f, self.p, self.training))


class LM(nn.Module):
    def __init__(self, layers, d, h, ff, t, p=0.1):
        super().__init__()
        self.d = d
        self.emb = nn.Embedding(256, d)
        pos = torch.arange(t)[:, None] * torch.exp(-torch.arange(0, d, 2) / d * math.log(10000))[None]
        pe = torch.zeros(t, d)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(pos), torch.cos(pos)
        self.register_buffer("pe", pe)
        self.register_buffer("mask", torch.triu(torch.ones(t, t, dtype=torch.bool), 1))
        self.layers = nn.ModuleList(Layer(d, h, ff, p) for _ in range(layers))
        self.p = p

    def forward(self, tok, tgt):
        x = F.dropout(self.emb(tok) * math.sqrt(self.d) + self.pe, self.p, self.training)
        for l in self.layers:
            x = l(x, self.mask)
        logits = x @ self.emb.weight.t()
        return F.cross_entropy(logits.view(-1, 256), tgt.view(-1))


def bench(name, threads, seconds, bf16=False):
    c = CONFIGS[name]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    m = LM(c["layers"], c["d"], c["h"], c["ff"], c["t"])
    m.train()
    opt = torch.optim.Adam(m.parameters(), lr=1e-4, betas=(0.9, 0.98))
    tok = torch.randint(0, 256, (c["b"], c["t"]))
    tgt = torch.randint(0, 256, (c["b"], c["t"]))

    def step():
        opt.zero_grad(set_to_none=True)
        # --bf16: autocast, the mixed precision PyTorch users train CPUs with:
        # linear layers and matmuls in bf16, master weights and the loss fp32.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = m(tok, tgt)
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
    print(f"{name} threads={threads} precision={'bf16' if bf16 else 'fp32'} tokens/s={c['b'] * c['t'] / med:.0f} peak_rss_mb={rss:.0f} blas={blas_core()}", flush=True)


def blas_core():
    """The BLAS library and the kernel core it runs (e.g. openblas:SkylakeX),
    as threadpoolctl reports it, or "unknown" without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown"
    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return ",".join(f"{i.get('internal_api')}:{i.get('architecture', '?')}" for i in libs) or "none"


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", choices=list(CONFIGS), required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--bf16", action="store_true", help="train under torch.autocast(cpu, bfloat16)")
    ap.add_argument("--batch", type=int, default=0, help="sequences per step (0: the config's own)")
    a = ap.parse_args()
    if a.batch > 0:
        CONFIGS[a.config]["b"] = a.batch
    bench(a.config, a.threads, a.seconds, a.bf16)
