#!/usr/bin/env python3
"""PyTorch twin of BenchmarkTranslate/beam=1 (greedy decoding), for speed only.

The 6+6-layer d256 Admin encoder-decoder of torch_seq2seq.py, random
weights, decoding the Acts sources that BenchmarkTranslate uses
(written by: go test -run '^$' -bench Translate -benchtime 1x ./bench/
-args -acts-ids-out acts.ids) incrementally, as fairseq does: the
encoder once per batch, every decoder layer's cross-attention keys and
values once per batch, self-attention keys and values cached and
extended by one position per step, finished sentences dropped from the
batch. Batches of 32 sentences sorted longest first; each sentence runs
to its length cap int(1.2*source + 10) and one more step for the EOS, as
clinic's random-weight model does (it never chooses EOS earlier), so
both do the same work.

Prints: greedy threads=<n> sentences/s=<x> seconds=<s> tokens/sentence=<t>
blas=<core>. Run with Debian's interpreter under OPENBLAS_CORETYPE=SkylakeX.
"""
import argparse
import math
import time

import torch
import torch.nn.functional as F

from torch_seq2seq import Seq2Seq, blas_core

BOS = 1  # any id: the weights are random


def heads(x, h):
    B, T, D = x.shape
    return x.view(B, T, h, D // h).transpose(1, 2)


def decode_batch(m, src, lens, caps, h):
    B, S = src.shape
    D = m.d
    src_mask = (torch.arange(S)[None] >= lens[:, None])[:, None, None, :]
    x = m.embed(src)
    for l in m.enc:
        x = l(x, src_mask, 0.0)
    cross = []
    for l in m.dec:
        k, v = l.kv(x).split(D, -1)
        cross.append((heads(k, h), heads(v, h)))
    cache = [None] * len(m.dec)
    tok = torch.full((B,), BOS, dtype=torch.long)
    scale = 1 / math.sqrt(D // h)
    steps = 0
    for t in range(int(caps.max()) + 1):
        y = m.emb(tok)[:, None] * math.sqrt(D) + m.pe[t]
        for i, l in enumerate(m.dec):
            q, k, v = l.qkv(y).split(D, -1)
            q, k, v = heads(q, h), heads(k, h), heads(v, h)
            if cache[i] is not None:
                k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
            cache[i] = (k, v)
            a = ((q @ k.transpose(-1, -2)) * scale).softmax(-1) @ v
            y = l.s1(y, l.out(a.transpose(1, 2).reshape(-1, 1, D)), 0.0, False)
            ck, cv = cross[i]
            s = (heads(l.q(y), h) @ ck.transpose(-1, -2)) * scale
            a = s.masked_fill(src_mask, float("-inf")).softmax(-1) @ cv
            y = l.s3(y, l.xout(a.transpose(1, 2).reshape(-1, 1, D)), 0.0, False)
            y = l.s2(y, l.fc2(F.relu(l.fc1(y))), 0.0, False)
        lp = F.log_softmax(y[:, 0] @ m.emb.weight.t(), -1)
        tok = lp.argmax(-1)
        steps += tok.shape[0]
        keep = caps > t
        if not bool(keep.all()):
            idx = keep.nonzero()[:, 0]
            if idx.numel() == 0:
                break
            tok, caps, src_mask = tok[idx], caps[idx], src_mask[idx]
            cache = [(k[idx], v[idx]) for k, v in cache]
            cross = [(k[idx], v[idx]) for k, v in cross]
    return steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ids", required=True, help="source ids, one sentence per line (bench -acts-ids-out)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    a = ap.parse_args()
    srcs, vocab = [], None
    with open(a.ids) as f:
        for line in f:
            if line.startswith("# vocab"):
                vocab = int(line.split()[2])
                continue
            srcs.append([int(x) for x in line.split()])
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c = dict(enc=6, dec=6, d=256, h=4, ff=1024, t=256, v=vocab)
    m = Seq2Seq(c, p=0.0)
    m.eval()
    order = sorted(range(len(srcs)), key=lambda i: -len(srcs[i]))
    tokens = 0
    start = time.perf_counter()
    with torch.no_grad():
        for at in range(0, len(order), a.batch):
            idx = order[at : at + a.batch]
            S = max(len(srcs[i]) for i in idx)
            src = torch.zeros((len(idx), S), dtype=torch.long)
            for r, i in enumerate(idx):
                src[r, : len(srcs[i])] = torch.tensor(srcs[i])
            lens = torch.tensor([len(srcs[i]) for i in idx])
            caps = torch.clamp((1.2 * lens.double() + 10).floor().long(), max=c["t"] - 1)
            tokens += decode_batch(m, src, lens, caps, c["h"])
    sec = time.perf_counter() - start
    print(f"greedy threads={a.threads} sentences/s={len(srcs) / sec:.1f} seconds={sec:.1f} "
          f"tokens/sentence={tokens / len(srcs):.2f} blas={blas_core()}", flush=True)


if __name__ == "__main__":
    main()
