"""Benchmark for notebook 05: train the notebook's Seq2SeqTransformer with its default recipe for a fixed
number of epochs, then report time, validation perplexity and test2016 BLEU (greedy and beam 4).

    python bench/translator.py --epochs 8 --threads 2
    python bench/translator.py --epochs 2 --max-tokens 1000 --beam-sentences 200   # another recipe, a quicker beam

It executes the notebook's own cells (data preparation, model, loss, decoding and BLEU), so the figures
are those of the notebook's default training on this machine.
"""

import argparse
import os
import time

os.environ.setdefault("COURSE_OFFLINE", "1")  # the bundled Multi30k is the full data set

import torch  # noqa: E402

import notebook_code  # noqa: E402

CELLS = ["setup", "masks", "decoder_layer", "seq2seq", "loss", "greedy", "beam"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, help="tokens per batch (default: the notebook's)")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: the notebook's)")
    parser.add_argument("--beam-sentences", type=int, help="beam search on the first N test sentences only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = notebook_code.ROOT / "solutions" / "05_translator" / "05_translator.ipynb"
    import json
    code = [("".join(c["source"])) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    ns = notebook_code.load("05_translator", ["setup"])
    exec(code[1], ns)                                   # data: tokenizer, vocabularies, batches
    ns = notebook_code.load("05_translator", CELLS[1:], ns)
    bleu_cell = next(c for c in code if c.startswith("import sacrebleu"))
    exec(bleu_cell.split("if RECIPE")[0], ns)           # bleu() and translate_all()
    train_cell = next(c for c in code if c.startswith("ON_GPU"))
    exec(train_cell.split("if RECIPE")[0], ns)          # CONFIG, RECIPE, train_translator()
    recipe = {**ns["RECIPE"], "epochs": args.epochs}
    recipe.update({k: v for k, v in [("max_tokens", args.max_tokens), ("lr", args.lr)] if v is not None})
    torch.manual_seed(0)
    model = ns["Seq2SeqTransformer"](len(ns["src_vocab"]), len(ns["tgt_vocab"]), **ns["CONFIG"])
    print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, {recipe}", flush=True)
    history = ns["train_translator"](model, **recipe)
    minutes = history["seconds"][-1] / 60
    ppl = ns["perplexity"](model, ns["batches"](ns["encoded"]["val"], 4000))
    rows = []
    test = ns["encoded"]["test"]
    prefix = test[:args.beam_sentences]
    runs = [(1, test)] + ([(1, prefix)] if len(prefix) < len(test) else []) + [(4, prefix)]  # greedy beside beam
    for beam, pairs in runs:
        start = time.perf_counter()
        scores = ns["bleu"](ns["translate_all"](model, pairs, beam))
        rows.append((beam, len(pairs), scores, time.perf_counter() - start))
    print(f"\ntraining: {args.epochs} epochs in {minutes:.1f} min; validation perplexity {ppl:.2f}")
    print("\n| decoding | test2016 sentences | BLEU, lowercased tokens | BLEU, detokenized (case-insensitive) | seconds |")
    print("|---|---|---|---|---|")
    for beam, n, scores, seconds in rows:
        print(f"| {'greedy' if beam == 1 else f'beam {beam}'} | {n} | {scores['BLEU (lowercased tokens)']:.1f} | "
              f"{scores['BLEU (detokenized, case-insensitive)']:.1f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
