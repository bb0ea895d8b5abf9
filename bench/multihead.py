"""Benchmark: the vectorized MultiHeadedAttention of notebook 02 against torch.nn.MultiheadAttention on the CPU.

    python bench/multihead.py                      # all CPU threads
    python bench/multihead.py --threads 2 --repeats 7

The graded class lives in the solution notebook, so this script executes the notebook's own cells (setup, the
read-only helpers, which define `softargmax`, and the solution cell `mha`) instead of keeping a copy that could drift.

Configuration (issue "Notebook 02"): B=32, T in {64, 256, 1024}, dim=256, h=8 heads of 32, float32, no mask.
Two references, with the same weights:
  * nn.MultiheadAttention(need_weights=True, average_attn_weights=False): the same outputs as the notebook's class
    (the output and every head's attention map), so the same work. This is the reference of the target (ratio <= 1.5).
  * nn.MultiheadAttention(need_weights=False): torch's fast path, F.scaled_dot_product_attention, which never
    materialises the maps. Shown for information: no implementation that returns the maps can match it.
Times are the minimum over interleaved repeats (A, B, C, A, B, C, ...), so that load on a shared machine hits every
contender alike; ratios are ours / reference, measured in the same run.
"""

import argparse
import contextlib
import io
import os
import platform
import time
from pathlib import Path

import torch
import torch.nn as nn

import notebook_code


def load_solution_class():
    """Execute the notebook's setup, helper and `mha` cells; return its MultiHeadedAttention."""
    with contextlib.redirect_stdout(io.StringIO()):          # the setup cell prints where it runs
        namespace = notebook_code.load("02_multihead", ["setup", "helpers", "mha"])
    return namespace["MultiHeadedAttention"]


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def make_pair(MultiHeadedAttention, dim, heads):
    torch.manual_seed(0)
    ours = MultiHeadedAttention(dim, dim // heads, heads)
    ref = nn.MultiheadAttention(dim, heads, bias=False, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.W_Q.weight, ours.W_K.weight, ours.W_V.weight]))
        ref.out_proj.weight.copy_(ours.W_O.weight)
    return ours, ref


def interleaved_min(fns, repeats, warmup=1):
    """Minimum wall time of each function over `repeats` interleaved rounds."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch CPU threads (default: all)")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved timing rounds (default: 7)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 256, 1024])
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    MultiHeadedAttention = load_solution_class()
    ours, ref = make_pair(MultiHeadedAttention, args.dim, args.heads)
    print(f"torch {torch.__version__}, CPU: {cpu_name()}, torch threads: {torch.get_num_threads()} "
          f"(of {os.cpu_count()} logical CPUs), float32")
    print(f"B={args.batch}, dim={args.dim}, h={args.heads} (d_k={args.dim // args.heads}), "
          f"min of {args.repeats} interleaved repeats\n")

    rows = []
    for T in args.lengths:
        x = torch.randn(args.batch, T, args.dim)
        with torch.no_grad():                                     # the two compute the same thing
            out, A = ours(x)
            out_ref, A_ref = ref(x, x, x, need_weights=True, average_attn_weights=False)
            err = max((out - out_ref).abs().max().item(), (A - A_ref).abs().max().item())

        xg = x.clone().requires_grad_()

        def backward(y):
            y.sum().backward()
            xg.grad = None

        forward = {"ours": lambda: ours(x),
                   "torch": lambda: ref(x, x, x, need_weights=True, average_attn_weights=False),
                   "sdpa": lambda: ref(x, x, x, need_weights=False)}
        train = {"ours": lambda: backward(ours(xg)[0]),
                 "torch": lambda: backward(ref(xg, xg, xg, need_weights=True, average_attn_weights=False)[0]),
                 "sdpa": lambda: backward(ref(xg, xg, xg, need_weights=False)[0])}
        with torch.no_grad():
            t_fwd = interleaved_min(forward, args.repeats)
        t_train = interleaved_min(train, args.repeats)
        for name, t in (("forward", t_fwd), ("forward+backward", t_train)):
            rows.append((T, name, t["ours"], t["torch"], t["sdpa"], err))
            print(f"T={T:5d} {name:17s} ours {1e3 * t['ours']:9.1f} ms   nn.MHA(maps) {1e3 * t['torch']:9.1f} ms   "
                  f"ratio {t['ours'] / t['torch']:.2f}   nn.MHA(SDPA) {1e3 * t['sdpa']:9.1f} ms   "
                  f"ratio {t['ours'] / t['sdpa']:.2f}", flush=True)

    print("\n| T | pass | ours (ms) | nn.MultiheadAttention, maps (ms) | **ratio** | nn.MultiheadAttention, SDPA (ms) | ratio | max abs diff |")
    print("|---|---|---|---|---|---|---|---|")
    for T, name, t_ours, t_torch, t_sdpa, err in rows:
        print(f"| {T} | {name} | {1e3 * t_ours:.1f} | {1e3 * t_torch:.1f} | **{t_ours / t_torch:.2f}** | "
              f"{1e3 * t_sdpa:.1f} | {t_ours / t_sdpa:.2f} | {err:.1e} |")


if __name__ == "__main__":
    main()
