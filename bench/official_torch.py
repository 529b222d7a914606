#!/usr/bin/env python3
"""The official LittleBit QAT recipe in PyTorch: the baseline that examples/train is measured against,
on the same machine, model, ranks, data and loss (issue 14). Independent of littlebit's C++ code: it
reads the GGUF with the `gguf` package, builds its own Dual-SVID init with torch, and trains with
torch autograd and torch.optim, as the official (SamsungLabs/LittleBit) does:

  student   every q, k, v, o, gate, up, down projection ((((x v2) sign(V)^T) (v1 u2)) sign(U)^T) u1,
            primary + residual; latents U (m x r), V (r x n) FP32; sign() with 0 -> +1 and SmoothSign's
            backward 100 (1 - tanh(100 z)^2) (--sign ste: 1[|z| < 1]); all RMSNorm gains trainable;
            embedding and tied head frozen
  rank      the official per-layer rule: r = (b m n - 32 (m + n)) / (2 (m + n + 16)) (k/v times
            --kv-factor), truncated, down to a multiple of 8, at least 8; capped at min(m, n) rounded
            down to 8 as littlebit does (the official rule asks 216 of SmolLM2's 192 x 576 k/v at 1.0)
  init      Dual-SVID: torch.svd_lowrank(W, q=r) (the official's; --svd exact: torch.linalg.svd),
            U = U_t sqrt(S), V = sqrt(S) V_t^T, rank-1 svd_lowrank of |U| and |V| for (u1, u2), (v1, v2);
            the residual path the same on W - approximation
  loss      kl_div(log_softmax(student), softmax(teacher), "batchmean") + lambda sum over
            hidden_states[1:] of mse_loss; lambda 10 x seq / 2048 by default (littlebit's rule,
            docs/trainer.md), --l2l-scale sets it
  optimizer torch.optim.AdamW(0.9, 0.999, 1e-8, decay 0), clip_grad_norm_(1.0), cosine to 0 with
            ceil(2%) linear warm-up (first update at lr 0)
  data      littlebit's token cache (--tokens: the trainer's CACHE/tokens-*.i32, so the same
            stream), consecutive --seq windows in the trainer's order (Fisher-Yates from
            SplitMix64(seed, epoch), examples/train/data.hpp)
  eval      perplexity on the first --eval-n tokens of --eval-tokens (an int32 file: `eval
            --save-tokens`), windows of 512, stride 512, no BOS: the protocol of examples/eval

    official_torch.py --model M.gguf --bpw 0.55 --tokens CACHE.i32 --eval-tokens EVAL.i32 --minutes 20
    official_torch.py --model M.gguf --bpw 0.55 --tokens CACHE.i32 --steps 6 --time   (a timed mode)

Prints progress lines and, last, one JSON object (steps, tokens, train_seconds, tokens_per_s,
step_seconds (every step's wall time), step_median_s, losses, loss_first, loss_last, ppl_init, ppl_after,
ppl_also (--also-eval NAME -> perplexity),
eval_tokens, peak_rss_mb, threads, torch). Fails (exit 1), naming the module, when torch, numpy or
gguf is missing.
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    import gguf
except ImportError as e:
    sys.exit(f"FAIL: {sys.executable} cannot import {e.name}: needs python3-torch, python3-numpy (scripts/setup.sh) "
             f"and gguf (scripts/fetch_data.sh, data/pylib on PYTHONPATH)")

PROJ = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
M64 = (1 << 64) - 1


def sign_fn(grad):
    """sign() with 0 -> +1 forward; backward g * grad(z)."""
    class Sign(torch.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            ctx.save_for_backward(z)
            return torch.where(z >= 0, torch.ones_like(z), -torch.ones_like(z))

        @staticmethod
        def backward(ctx, g):
            z, = ctx.saved_tensors
            return g * grad(z)
    return Sign.apply


SMOOTHSIGN = sign_fn(lambda z: 100.0 * (1 - torch.tanh(100.0 * z) ** 2))   # the official alpha = 100
STE = sign_fn(lambda z: ((z > -1) & (z < 1)).to(z.dtype))


def official_rank(m, n, bpw, factor):
    r = (bpw * m * n - 32.0 * (m + n)) / (2.0 * (m + n + 16)) * factor
    r = max(8, int(r) // 8 * 8)
    return min(r, max(8, min(m, n) // 8 * 8))


def rank_one(a, lowrank):
    if lowrank:
        u, s, v = torch.svd_lowrank(a, q=1)
    else:
        u, s, vh = torch.linalg.svd(a.double(), full_matrices=False)
        v = vh.t()
    r = torch.sqrt(s[0])
    return (u[:, 0] * r), (v[:, 0] * r)


def dual_svid(w, r, lowrank):
    if lowrank:
        ut, s, vt = torch.svd_lowrank(w, q=r)
    else:  # in double, rounded to float at the end (littlebit's exact path is as accurate)
        ut, s, vh = torch.linalg.svd(w.double(), full_matrices=False)
        vt = vh.t()
    ut, s, vt = ut[:, :r], s[:r], vt[:, :r]
    U = ut * torch.sqrt(s)            # m x r
    V = (vt * torch.sqrt(s)).t()      # r x n
    u1, u2 = rank_one(U.abs(), lowrank)   # m, r
    v1, v2 = rank_one(V.abs(), lowrank)   # r, n
    f = lambda t: t.float().contiguous()
    return {"U": f(U), "V": f(V), "u1": f(u1), "u2": f(u2), "v1": f(v1), "v2": f(v2)}


def approx(p):
    sgn = lambda z: torch.where(z >= 0, torch.ones_like(z), -torch.ones_like(z))
    return (sgn(p["U"]) * torch.outer(p["u1"], p["u2"])) @ (sgn(p["V"]) * torch.outer(p["v1"], p["v2"]))


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


class Batches:
    """examples/train/data.hpp's order: sample j is window perm_e[j mod n] of epoch e = j / n."""

    def __init__(self, stream, seq, seed, shuffle):
        self.s, self.T, self.seed, self.shuffle = stream, seq, seed, shuffle
        self.n = len(stream) // seq
        if self.n < 1:
            sys.exit(f"FAIL: the token stream has {len(stream)} tokens, fewer than one sequence of --seq {seq}")
        self.epoch, self.perm = -1, None

    def window(self, j):
        e, i = divmod(j, self.n)
        if self.shuffle and e != self.epoch:
            perm = list(range(self.n))
            st = (self.seed * 0x100000001B3 + e) & M64
            for k in range(self.n - 1, 0, -1):
                st, z = splitmix64(st)
                r = z % (k + 1)
                perm[k], perm[r] = perm[r], perm[k]
            self.epoch, self.perm = e, perm
        w = self.perm[i] if self.shuffle else i
        return self.s[w * self.T:(w + 1) * self.T]

    def batch(self, j0, count):
        return torch.tensor(np.stack([self.window(j) for j in range(j0, j0 + count)]).astype(np.int64))


def load_gguf(path, layers):
    r = gguf.GGUFReader(path)

    def field(k):
        f = r.fields[k]
        return f.parts[f.data[0]][0]

    cfg = {"nh": int(field("llama.attention.head_count")), "nkv": int(field("llama.attention.head_count_kv")),
           "eps": float(field("llama.attention.layer_norm_rms_epsilon")), "base": float(field("llama.rope.freq_base")),
           "L": int(field("llama.block_count"))}
    if layers:
        cfg["L"] = min(cfg["L"], layers)
    W = {}
    for t in r.tensors:
        if t.name.startswith("blk.") and int(t.name.split(".")[1]) >= cfg["L"]:
            continue
        a = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        W[t.name] = torch.from_numpy(a.reshape([int(s) for s in reversed(t.shape)]).copy())
    if "output.weight" in W:
        sys.exit("FAIL: the model has an untied output head; this reference trains tied-head Llamas (SmolLM2)")
    return W, cfg


class Model:
    """The Llama forward of B x T tokens, with the projection and norm functions given."""

    def __init__(self, cfg, E, T):
        self.cfg, self.E = cfg, E
        d = E.shape[1]
        self.hd = d // cfg["nh"]
        inv = cfg["base"] ** (-2.0 * np.arange(self.hd // 2) / self.hd)
        ang = np.arange(T)[:, None] * inv
        self.cos, self.sin = torch.tensor(np.cos(ang), dtype=torch.float32), torch.tensor(np.sin(ang), dtype=torch.float32)
        self.mask = torch.triu(torch.full((T, T), float("-inf")), 1)

    def rms(self, x, w):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + self.cfg["eps"]) * w

    def rope(self, x, heads):  # adjacent pairs (GGUF row order)
        B, T, _ = x.shape
        x = x.view(B, T, heads, self.hd // 2, 2)
        a, b = x[..., 0], x[..., 1]
        c, s = self.cos[None, :T, None, :], self.sin[None, :T, None, :]
        return torch.stack([a * c - b * s, a * s + b * c], -1).reshape(B, T, heads * self.hd)

    def attn(self, q, k, v):
        B, T, _ = q.shape
        nh, nkv, hd = self.cfg["nh"], self.cfg["nkv"], self.hd
        q = q.view(B, T, nh, hd).transpose(1, 2)
        k = k.view(B, T, nkv, hd).transpose(1, 2).repeat_interleave(nh // nkv, dim=1)
        v = v.view(B, T, nkv, hd).transpose(1, 2).repeat_interleave(nh // nkv, dim=1)
        p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + self.mask[:T, :T], dim=-1)
        return (p @ v).transpose(1, 2).reshape(B, T, nh * hd)

    def forward(self, tokens, lin, norm):
        L = self.cfg["L"]
        x = self.E[tokens]
        hidden = []
        for l in range(L):
            p = f"blk.{l}."
            a = self.rms(x, norm(p + "attn_norm.weight"))
            q = self.rope(lin(a, p + "attn_q"), self.cfg["nh"])
            k = self.rope(lin(a, p + "attn_k"), self.cfg["nkv"])
            h = x + lin(self.attn(q, k, lin(a, p + "attn_v")), p + "attn_output")
            a = self.rms(h, norm(p + "ffn_norm.weight"))
            x = h + lin(F.silu(lin(a, p + "ffn_gate")) * lin(a, p + "ffn_up"), p + "ffn_down")
            if l < L - 1:
                hidden.append(x)
        y = self.rms(x, norm("output_norm.weight"))
        hidden.append(y)
        return y @ self.E.t(), hidden


def perplexity(model, lin, norm, ids, n, ctx=512):
    ids = ids[:n] if n else ids
    nll, count = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(ids) - 1, ctx):
            w = ids[s:s + ctx]
            if len(w) < 2:
                break
            t = torch.tensor(w.astype(np.int64))[None]
            logits, _ = model.forward(t, lin, norm)
            lp = F.log_softmax(logits[0, :-1].double(), -1)
            nll -= lp.gather(1, t[0, 1:, None]).sum().item()
            count += len(w) - 1
    return math.exp(nll / count), count


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--bpw", type=float, required=True)
    ap.add_argument("--kv-factor", type=float, default=4.0)
    ap.add_argument("--no-residual", action="store_true")
    ap.add_argument("--svd", choices=["randomized", "exact"], default="randomized")
    ap.add_argument("--sign", choices=["smoothsign", "ste"], default="smoothsign")
    ap.add_argument("--tokens", required=True, help="littlebit's training token cache (int32)")
    ap.add_argument("--eval-tokens", help="int32 token ids of the evaluation text (eval --save-tokens)")
    ap.add_argument("--eval-n", type=int, default=8192)
    ap.add_argument("--also-eval", action="append", default=[], metavar="NAME=FILE.i32",
                    help="after training (outside --minutes), also the perplexity on the first --eval-n tokens of FILE")
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--batch", type=int, default=1)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--steps", type=int)
    g.add_argument("--minutes", type=float)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--warmup-ratio", type=float, default=0.02)
    ap.add_argument("--l2l-scale", type=float)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-shuffle", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layers", type=int, default=0, help="only the first K blocks (tests)")
    ap.add_argument("--log-every", type=int, default=10)
    a = ap.parse_args()
    t_start = time.time()
    also = {}
    for spec in a.also_eval:
        name, sep, path = spec.partition("=")
        if not sep or not name or not os.path.isfile(path):
            sys.exit(f"FAIL: --also-eval {spec!r} is not NAME=FILE.i32 with an existing file")
        also[name] = np.fromfile(path, dtype="<i4")
    if not 0 < a.bpw <= 16:
        sys.exit(f"FAIL: --bpw {a.bpw} is not a bits-per-weight target in (0, 16]")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    lr = a.lr if a.lr is not None else (8e-5 if a.bpw >= 0.9 else 1.2e-4 if a.bpw > 0.3 else 2e-4)
    lam = a.l2l_scale if a.l2l_scale is not None else 10.0 * a.seq / 2048

    W, cfg = load_gguf(a.model, a.layers)
    E = W["token_embd.weight"]
    sign = SMOOTHSIGN if a.sign == "smoothsign" else STE
    t0 = time.time()
    params, bits, weights = {}, 0.0, 0
    for l in range(cfg["L"]):
        for pr in PROJ:
            name = f"blk.{l}.{pr}"
            w = W[name + ".weight"]
            m, n = w.shape
            r = official_rank(m, n, a.bpw, a.kv_factor if pr in ("attn_k", "attn_v") else 1.0)
            paths = [dual_svid(w, r, a.svd == "randomized")]
            if not a.no_residual:
                paths.append(dual_svid(w - approx(paths[0]), r, a.svd == "randomized"))
            for i, p in enumerate(paths):
                for k, v in p.items():
                    params[f"{name}.{k}{'_R' if i else ''}"] = torch.nn.Parameter(v.float().contiguous())
            bits += len(paths) * (r * (m + n + 16) + 16 * (m + n))
            weights += m * n
    norms = {k: torch.nn.Parameter(v.clone()) for k, v in W.items() if k.endswith("norm.weight")}
    print(f"init: Dual-SVID ({a.svd}) of {cfg['L'] * len(PROJ)} layers in {time.time() - t0:.1f} s, "
          f"{bits / weights:.4f} bits per weight, {sum(p.numel() for p in params.values()) + sum(p.numel() for p in norms.values())} "
          f"trainable values", flush=True)
    Wt = W  # the teacher: the dense weights, frozen

    def t_lin(x, name):
        return x @ Wt[name + ".weight"].t()

    def t_norm(name):
        return Wt[name]

    def s_lin(x, name):
        y = 0
        for sfx in (["", "_R"] if not a.no_residual else [""]):
            P = lambda b: params[f"{name}.{b}{sfx}"]
            y = y + ((((x * P("v2")) @ sign(P("V")).t()) * (P("v1") * P("u2"))) @ sign(P("U")).t()) * P("u1")
        return y

    def s_norm(name):
        return norms[name]

    model = Model(cfg, E, max(a.seq, 512))  # training windows and the evaluation windows of 512
    stream = np.fromfile(a.tokens, dtype="<i4")
    data = Batches(stream, a.seq, a.seed, not a.no_shuffle)
    eval_ids = np.fromfile(a.eval_tokens, dtype="<i4") if a.eval_tokens else None
    ppl_dense = ppl_init = None
    n_eval = 0
    if eval_ids is not None:
        t0 = time.time()
        ppl_dense, n_eval = perplexity(model, t_lin, t_norm, eval_ids, a.eval_n)
        ppl_init, _ = perplexity(model, s_lin, s_norm, eval_ids, a.eval_n)
        print(f"perplexity on {n_eval} predicted tokens: dense {ppl_dense:.4g}, init {ppl_init:.4g} "
              f"({(time.time() - t0) / 2:.1f} s each)", flush=True)

    trainable = list(params.values()) + list(norms.values())
    opt = torch.optim.AdamW(trainable, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    total = a.steps
    sched_state = {"total": total}

    def sched(s):
        tot = sched_state["total"] or 1_000_000
        warm = math.ceil(a.warmup_ratio * tot)
        if s < warm:
            return s / max(1, warm)
        return max(0.0, 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, tot - warm))))

    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, sched)
    losses, times = [], []
    step, t_train = 0, time.time()
    while total is None or step < total:
        ts = time.time()
        tokens = data.batch(step * a.batch, a.batch)
        with torch.no_grad():
            zt, ht = model.forward(tokens, t_lin, t_norm)
        zs, hs = model.forward(tokens, s_lin, s_norm)
        kl = F.kl_div(F.log_softmax(zs, -1), F.softmax(zt, -1), reduction="batchmean")
        mse = sum(F.mse_loss(x, y) for x, y in zip(hs, ht))
        loss = kl + lam * mse
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if not math.isfinite(loss.item()):
            sys.exit(f"FAIL: the loss is {loss.item()} at step {step + 1}")
        if total is None and step == 1:
            # as littlebit's --minutes: plan after the second step's forward and backward, from its time
            left = a.minutes * 60 - (time.time() - t_start) - (0 if eval_ids is None else 60)
            total = max(2, 2 + int(left / ((time.time() - ts) * 1.02)))
            sched_state["total"] = total
            print(f"plan: {total} steps in {a.minutes} minutes (step {time.time() - ts:.2f} s)", flush=True)
        gn = torch.nn.utils.clip_grad_norm_(trainable, 1.0).item()
        lr_now = opt.param_groups[0]["lr"]
        opt.step()
        lr_sched.step()
        step += 1
        times.append(time.time() - ts)
        losses.append(loss.item())
        if step == 1 or step % a.log_every == 0 or step == total:
            print(f"step {step}/{total or '?'}  loss {loss.item():.5g} (KL {kl.item():.4g}, lambda MSE {lam * mse.item():.4g})  "
                  f"lr {lr_now:.3g}  |g| {gn:.3g}  {a.batch * a.seq / times[-1]:.1f} tokens/s", flush=True)
    train_s = time.time() - t_train
    ppl_after = None
    if eval_ids is not None:
        ppl_after, _ = perplexity(model, s_lin, s_norm, eval_ids, a.eval_n)
        print(f"perplexity after {step} steps: {ppl_after:.4g}", flush=True)
    ppl_also = {}
    for name, ids in also.items():
        ppl_also[name], _ = perplexity(model, s_lin, s_norm, ids, a.eval_n)
        print(f"perplexity after {step} steps on {name}: {ppl_also[name]:.4g}", flush=True)
    steady = times[1:] if len(times) > 1 else times
    print(json.dumps({
        "steps": step, "tokens": step * a.batch * a.seq, "train_seconds": train_s,
        "tokens_per_s": step * a.batch * a.seq / train_s, "step_seconds": times,
        "step_median_s": statistics.median(steady), "losses": losses, "loss_first": losses[0], "loss_last": losses[-1],
        "ppl_dense": ppl_dense, "ppl_init": ppl_init, "ppl_after": ppl_after,
        "ppl_also": ppl_also,
        "eval_tokens": n_eval,
        "bpw": bits / weights, "lr": lr, "lambda": lam, "batch": a.batch, "seq": a.seq,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "threads": a.threads,
        "torch": torch.__version__}))


if __name__ == "__main__":
    main()
