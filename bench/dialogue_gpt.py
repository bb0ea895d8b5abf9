"""Benchmarks for notebook 04 (DialogueGPT), on the CPU.

    python bench/dialogue_gpt.py --minutes 5 --threads 2

1. The plain baseline of the issue against the notebook's recipe, each trained for the same wall-clock
   budget on the same data and vocabulary (first 90% of the turns for training, last 10% for validation,
   words seen at least twice, turns truncated to 64 tokens): validation perplexity and bits per character.
   Baseline: 4 layers, width 128, 4 heads, MLP 512, untied embeddings, batch 32 in random order,
   AdamW 1e-3 with cosine decay, no dropout. Notebook: the same shape with tied embeddings, fixed GloVe
   vectors added through a learned projection, rare words replaced by <unk> with probability
   1 / (1 + count), dropout 0.2, AdamW 1e-3 with warm-up, weight decay 0.1, batches of 16 similar-length turns,
   and at most the notebook's CPU epochs (it stops early if they end before the budget). With --ablations, the
   recipe is also run without GloVe and without the rare-word replacement.
   The learning rate follows the elapsed fraction of the budget, so every schedule ends on time.
2. KV-cache speed-up: 256 new tokens after a 32-token prompt, greedy, with and without the cache, on one
   thread and on --threads, --kv-repeats times each, cached and uncached runs interleaved; the speed-up is the
   ratio of the fastest runs (and of the medians), and every cached output must equal the uncached one. With
   --kv-ablations, each change to course_utils.blocks is also measured on its own, cumulatively, from the
   cache before issue 16 (torch.cat at every step, the mask always applied, exact GELU, every token through
   the modules' calls).
3. Training throughput (tokens/s) of the notebook's model against the same model built from torch's own
   nn.TransformerEncoderLayer, as a ratio measured in the same run.
"""

import argparse
import math
import os
import random
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import notebook_code
from machine import cpu_model
from course_utils import blocks, data, embeddings, training

SHAPE = dict(dim=128, attn_dim=32, mlp_dim=512, num_heads=4, num_layers=4)
EPOCHS, UNK_ALPHA = 10, 1.0     # the notebook's CPU recipe


def load_notebook():
    ns = notebook_code.load("04_dialogue_gpt", ["setup", "tokenizer", "dataset", "dialogue_gpt", "dialogue_loss",
                                                "filters", "sample_next", "generate"])
    return ns


def batches(ns, dataset, batch_size, bucketed, generator, counts=None, unk_alpha=0.0):
    lengths = [len(ids) for ids in dataset.items]
    if bucketed:
        groups = training.length_buckets(lengths, batch_size, generator)
    else:
        order = torch.randperm(len(lengths), generator=generator).tolist()
        groups = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    tok = ns["MyTokenizer"]
    out = []
    for idx in groups:
        input_ids, input_mask = ns["collate"]([dataset[i] for i in idx], tok.pad_id)
        if unk_alpha:
            input_ids = training.rare_word_dropout(input_ids, input_mask, counts, unk_alpha, tok.unk_id, generator)
        out.append((input_ids, input_mask))
    return out


def train_for(ns, model, train_data, minutes, lr, weight_decay, warmup, bucketed, batch_size=32, epochs=None,
              unk_alpha=0.0, counts=None):
    loss_fn = ns["DialogueLoss"]()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}], lr=lr)
    g = torch.Generator().manual_seed(0)
    budget, elapsed, steps, tokens = minutes * 60, 0.0, 0, 0   # only optimisation steps count
    total_steps = epochs * math.ceil(len(train_data) / batch_size) if epochs else None
    model.train()
    while True:
        for input_ids, input_mask in batches(ns, train_data, batch_size, bucketed, g, counts, unk_alpha):
            # the schedule follows the budget, or the epochs if they end first
            frac = max(elapsed / budget, steps / total_steps if total_steps else 0.0)
            if frac >= 1:
                return steps, tokens / elapsed, elapsed / 60
            start = time.perf_counter()
            scale = min(1.0, frac / warmup) if warmup else 1.0
            for group in opt.param_groups:
                group["lr"] = lr * scale * 0.5 * (1 + math.cos(math.pi * frac))
            loss = loss_fn(model(input_ids), input_ids, input_mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            elapsed += time.perf_counter() - start
            steps += 1
            tokens += int(input_mask.sum())


@torch.no_grad()
def evaluate(ns, model, val_data):
    """Validation perplexity, bits per character, and the perplexity of the known-word targets only
    (how well the model predicts the words it has a name for, whatever it thinks of <unk>)."""
    model.eval()
    loss_fn = ns["DialogueLoss"]()
    total, count, known_total, known_count = 0.0, 0, 0.0, 0
    for input_ids, input_mask in batches(ns, val_data, 128, True, torch.Generator().manual_seed(0)):
        logits = model(input_ids)
        n = int(input_mask[:, 1:].sum())
        total += float(loss_fn(logits, input_ids, input_mask)) * n
        count += n
        known = input_mask * (input_ids != ns["MyTokenizer"].unk_id)   # a target whose mask is 0 is not scored
        n = int(known[:, 1:].sum())
        known_total += float(loss_fn(logits, input_ids, known)) * n
        known_count += n
    chars = sum(len(" ".join(words)) + 1 for words in val_data.words)
    return math.exp(total / count), total / math.log(2) / chars, math.exp(known_total / known_count)


def untie(model):
    model.lm_head.weight = nn.Parameter(torch.randn_like(model.lm_head.weight) * model.lm_head.in_features ** -0.5)
    for emb in (model.tok_emb, model.pos_emb):
        nn.init.normal_(emb.weight)            # nn.Embedding's default N(0, 1)
    return model


class TorchLayersGPT(nn.Module):
    """The same model built from torch's own nn.TransformerEncoderLayer (pre-norm, causal mask)."""

    def __init__(self, vocab_size, max_N, dim, attn_dim, mlp_dim, num_heads, num_layers):
        super().__init__()
        self.tok_emb, self.pos_emb = nn.Embedding(vocab_size, dim), nn.Embedding(max_N, dim)
        layer = nn.TransformerEncoderLayer(dim, num_heads, mlp_dim, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.lm_head = nn.Linear(dim, vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight

    def forward(self, ids, cache=None):
        T = ids.shape[1]
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(T))
        mask = nn.Transformer.generate_square_subsequent_mask(T)
        return self.lm_head(self.norm(self.encoder(x, mask=mask, is_causal=True)))


def throughput(ns, model, batch, seconds=20):
    loss_fn = ns["DialogueLoss"]()
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    model.train()
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        loss = loss_fn(model(batch[0]), *batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        n += int(batch[1].sum())
    return n / (time.perf_counter() - start)


class ConcatKVCache:
    """The KV cache before issue 16, for the ablation: torch.cat of all keys and values at every step."""

    def __init__(self):
        self.layers = {}

    def update(self, layer, k, v):
        if layer in self.layers:
            k_old, v_old = self.layers[layer]
            k, v = torch.cat([k_old, k], dim=2), torch.cat([v_old, v], dim=2)
        self.layers[layer] = (k, v)
        return k, v

    def __len__(self):
        return next(iter(self.layers.values()))[0].shape[2] if self.layers else 0


# cumulative changes to the KV-cache path: (label, cache class, skip the full mask of one new token, GELU form,
# one new token through Block._step)
KV_CHANGES = [("before: torch.cat cache, mask, exact GELU", ConcatKVCache, False, "none", False),
              ("+ preallocated cache written in place", blocks.KVCache, False, "none", False),
              ("+ no mask for one new token", blocks.KVCache, True, "none", False),
              ("+ tanh GELU", blocks.KVCache, True, "tanh", False),
              ("+ one-token step without module calls (the notebook)", blocks.KVCache, True, "tanh", True)]


def kv_cache_speedup(ns, model, threads, repeats, changes):
    """Time generate() with and without the cache for each configuration, interleaved, and print the ratios.
    The uncached runs use the same GELU as the cached runs they are compared with (the same model)."""
    torch.set_num_threads(threads)
    gelus = [m for m in model.modules() if isinstance(m, nn.GELU)]
    form = gelus[0].approximate
    prompt, wall, cpu, outputs = list(range(32)), {}, {}, {}

    def run(key, cache_class, skip, gelu, step, use_cache):
        ns["KVCache"], blocks.SelfAttention.skip_full_mask, blocks.Block.one_token_step = cache_class, skip, step
        for m in gelus:
            m.approximate = gelu
        start, start_cpu = time.perf_counter(), time.process_time()
        out = ns["generate"](model, prompt, 256, use_cache=use_cache)
        wall.setdefault(key, []).append(time.perf_counter() - start)
        cpu.setdefault(key, []).append(time.process_time() - start_cpu)
        assert outputs.setdefault(gelu, out) == out, f"{key}: the output differs from the uncached one"

    load = os.getloadavg()[0]
    try:
        for _ in range(repeats):
            for gelu in dict.fromkeys(c[3] for c in changes):
                run(("uncached", gelu), blocks.KVCache, True, gelu, True, False)
            for label, cache_class, skip, gelu, step in changes:
                run(label, cache_class, skip, gelu, step, True)
    finally:
        ns["KVCache"], blocks.SelfAttention.skip_full_mask, blocks.Block.one_token_step = blocks.KVCache, True, True
        for m in gelus:
            m.approximate = form
    print(f"\nKV cache, 256 new tokens after 32, {threads} thread(s), {repeats} runs each, {cpu_model()}, "
          f"load average {load:.1f} before and {os.getloadavg()[0]:.1f} after")
    print("| configuration | without cache (fastest / median s) | with cache (fastest / median s) "
          "| speed-up, fastest | speed-up, median | speed-up, CPU time |")
    print("|---|---|---|---|---|---|")
    for label, _, _, gelu, _ in changes:
        u, c = wall[("uncached", gelu)], wall[label]
        print(f"| {label} | {min(u):.2f} / {statistics.median(u):.2f} | {min(c):.3f} / {statistics.median(c):.3f} "
              f"| **{min(u) / min(c):.1f}x** | {statistics.median(u) / statistics.median(c):.1f}x "
              f"| {min(cpu[('uncached', gelu)]) / min(cpu[label]):.1f}x |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--ablations", action="store_true", help="also train the recipe without each of its two data tricks")
    parser.add_argument("--kv-repeats", type=int, default=5, help="runs of each KV-cache configuration")
    parser.add_argument("--kv-ablations", action="store_true", help="measure each change to the KV-cache path on its own")
    parser.add_argument("--kv-only", action="store_true", help="only the KV-cache measurement (no training, no throughput)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    random.seed(0)
    ns = load_notebook()
    turns = [t.strip() for t in data.shakespeare().split("\n\n") if t.strip()]
    n_train = int(0.9 * len(turns))
    tok = ns["MyTokenizer"](turns[:n_train], min_freq=2)
    train_data, val_data = ns["DialogueDataset"](turns[:n_train], tok), ns["DialogueDataset"](turns[n_train:], tok)
    val_ids = [i for ids in val_data.items for i in ids[1:]]
    print(f"torch {torch.__version__}, {args.threads} threads | vocabulary {tok.vocab_size} | "
          f"{sum(i == tok.unk_id for i in val_ids) / len(val_ids):.1%} of validation tokens unknown")

    glove = embeddings.glove([w.lower() for w in tok.itos], subset="shakespeare")
    vectors, _ = embeddings.embedding_matrix([w.lower() for w in tok.itos], glove, std=0.0)
    counts = torch.bincount(torch.tensor([i for ids in train_data.items for i in ids[1:]]), minlength=tok.vocab_size)
    recipe = dict(lr=1e-3, weight_decay=0.1, warmup=0.05, bucketed=True, batch_size=16, epochs=EPOCHS, counts=counts)
    runs = [("baseline (issue)", lambda: untie(ns["DialogueGPT"](tok.vocab_size, 64, **SHAPE)),
             dict(lr=1e-3, weight_decay=0.01, warmup=0.0, bucketed=False)),
            ("notebook recipe", lambda: ns["DialogueGPT"](tok.vocab_size, 64, **SHAPE, dropout=0.2, pretrained=vectors),
             dict(recipe, unk_alpha=UNK_ALPHA))]
    if args.ablations:
        runs += [("recipe without GloVe", lambda: ns["DialogueGPT"](tok.vocab_size, 64, **SHAPE, dropout=0.2),
                  dict(recipe, unk_alpha=UNK_ALPHA)),
                 ("recipe without rare words -> <unk>",
                  lambda: ns["DialogueGPT"](tok.vocab_size, 64, **SHAPE, dropout=0.2, pretrained=vectors), recipe)]
    rows = []
    if not (args.skip_training or args.kv_only):
        for name, make, recipe in runs:
            torch.manual_seed(0)
            model = make()
            params = sum(p.numel() for p in model.parameters())
            steps, tps, used = train_for(ns, model, train_data, args.minutes, **recipe)
            ppl, bpc, known = evaluate(ns, model, val_data)
            rows.append((name, params, steps, used, tps, ppl, bpc, known))
            print(f"  {name}: {params / 1e6:.2f}M parameters, {steps} steps in {used:.1f} min, {tps:.0f} tokens/s, "
                  f"val perplexity {ppl:.1f}, {bpc:.3f} bits/char, known-word perplexity {known:.1f}", flush=True)
        print(f"\n| model | parameters | steps | minutes (budget {args.minutes:g}) | train tokens/s | val perplexity "
              f"| bits/char | known-word perplexity |")
        print("|---|---|---|---|---|---|---|---|")
        for name, params, steps, used, tps, ppl, bpc, known in rows:
            print(f"| {name} | {params / 1e6:.2f}M | {steps} | {used:.1f} | {tps:.0f} | {ppl:.1f} | {bpc:.3f} | {known:.1f} |")
        print(f"\nperplexity ratio notebook / baseline: {rows[1][5] / rows[0][5]:.3f}")

    # KV cache: 256 new tokens after a 32-token prompt, one sequence; with one thread and with --threads
    torch.manual_seed(0)
    model = ns["DialogueGPT"](tok.vocab_size, 32 + 256, **SHAPE).eval()
    for threads in sorted({1, args.threads}):
        kv_cache_speedup(ns, model, threads, args.kv_repeats, KV_CHANGES if args.kv_ablations else KV_CHANGES[-1:])
    torch.set_num_threads(args.threads)
    if args.kv_only:
        return

    # training throughput against torch's own layers
    batch = ns["collate"]([train_data[i] for i in range(64)], tok.pad_id)
    ours = ns["DialogueGPT"](tok.vocab_size, 64, **SHAPE)
    theirs = TorchLayersGPT(tok.vocab_size, 64, **SHAPE)
    a, b = throughput(ns, ours, batch), throughput(ns, theirs, batch)
    a2, b2 = throughput(ns, ours, batch), throughput(ns, theirs, batch)
    a, b = max(a, a2), max(b, b2)
    print(f"training throughput: notebook model {a:.0f} tokens/s, torch TransformerEncoderLayer {b:.0f} tokens/s, "
          f"ratio {a / b:.2f}")


if __name__ == "__main__":
    main()
