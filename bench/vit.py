"""Benchmarks for notebook 03 (ViT on CIFAR-10), on the CPU (or the GPU when there is one).

    COURSE_SHARED_DATA=../shared/data python bench/vit.py --minutes 10 --threads 2

1. The plain baseline recipe of the issue against the notebook's recipe, same model code (the notebook's
   VisionTransformer), same data (45,000 training images; test accuracy on the 10,000 test images),
   trained for the same wall-clock budget, with test accuracy recorded at 2, 5 and 10 minutes of training
   (evaluation time excluded). The learning-rate schedule follows the elapsed fraction of the budget.
   Baseline: patch 4, width 128, depth 4, 4 heads, MLP 256, AdamW 2e-3 with warm-up and cosine decay,
   crop and flip, label smoothing 0.1, batch 128, 32x32 throughout.
   Notebook: the same model and optimiser, but 24x24 crops (36 patches) for the first 75% of the budget,
   then 32x32 (progressive resizing, through the notebook's resize_pos_embed).
   Conv stem, 16 to 32 px (run by default, towards issue 16; not yet what the notebook teaches): the same
   model with a small convolutional stem in place of the patch projection (conv_stem below), trained on
   images downscaled to 16, 20, 24, 28 and then 32 px, a fifth of the budget each (smaller images, fewer
   tokens: 16 px is 16 patches, about twice as fast per image as 24 px).
   With --only conv: the conv stem with the notebook's 24-then-32 px schedule; ramp-long: 16, 20, 24 and 28 px
   for 15% of the budget each, then 32 px for the last 40%. --stem-width sets the stem's channels (32, 64).
   --only picks recipes by key: baseline, notebook, conv, ramp, ramp-long (the default is baseline, notebook,
   ramp).
2. Augmentation: uint8 batches augmented on the training device (course_utils.training.augment) against a
   torchvision-transforms DataLoader (PIL RandomCrop + RandomHorizontalFlip + ToTensor + Normalize),
   images per second, as a ratio.
"""

import argparse
import math
import os
import time

import torch
import torch.nn.functional as F

import notebook_code
from machine import cpu_model
from course_utils import data, runtime, training


def load_data():
    shared = os.environ.get("COURSE_SHARED_DATA")
    cifar = data.cifar10(os.path.join(shared, "cifar10") if shared else None)
    x, y = cifar["train"]
    split = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    n_val = len(x) // 10
    return (x[split[n_val:]], y[split[n_val:]]), cifar["test"], cifar["source"]


def train_for(model, train, test, minutes, sizes, checkpoints, device, lr=2e-3, batch_size=128, warmup=0.05):
    x, y = train[0].to(device), train[1].to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}], lr=lr)
    g = torch.Generator().manual_seed(0)
    budget, elapsed, images, results = minutes * 60, 0.0, 0, {}
    pending = sorted(checkpoints)
    while pending:
        order = torch.randperm(len(x), generator=g).to(device)
        for i in range(0, len(x) - batch_size + 1, batch_size):
            frac = elapsed / budget
            if pending and elapsed >= pending[0] * 60:
                results[pending.pop(0)] = (training.evaluate(model, *test), images / elapsed)
                model.train()
            if not pending:
                break
            start = time.perf_counter()
            for group in opt.param_groups:
                group["lr"] = lr * min(1.0, frac / warmup) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
            idx = order[i:i + batch_size]
            xb = training.to_float(training.augment(x[idx], size=sizes(frac), generator=g))
            with training.autocast(device):
                loss = F.cross_entropy(model(xb), y[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            elapsed += time.perf_counter() - start
            images += len(idx)
    return results


def augmentation_speed(x, batch_size=128, batches=40):
    import torchvision.transforms as T
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for i in range(batches):
        training.to_float(training.augment(x[i * batch_size:(i + 1) * batch_size], generator=g))
    ours = batches * batch_size / (time.perf_counter() - start)

    pil = [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in x[:batches * batch_size]]
    transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize(training.CIFAR10_MEAN, training.CIFAR10_STD)])

    class Images(torch.utils.data.Dataset):
        def __len__(self):
            return len(pil)

        def __getitem__(self, i):
            return transform(pil[i])

    loader = torch.utils.data.DataLoader(Images(), batch_size=batch_size, num_workers=2, shuffle=True)
    start = time.perf_counter()
    for _ in loader:
        pass
    theirs = len(pil) / (time.perf_counter() - start)
    return ours, theirs


def conv_stem(in_chans, embed_dim, width=32):
    """Xiao et al. 2021, "Early convolutions help transformers see better": two 3x3 convolutions of stride 2
    (with BatchNorm and ReLU; `width`, then 2 * `width` channels) and a 1x1 projection instead of the 4x4 patch
    projection; the same 8x8 grid."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(in_chans, width, 3, stride=2, padding=1, bias=False), torch.nn.BatchNorm2d(width),
        torch.nn.ReLU(),
        torch.nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False), torch.nn.BatchNorm2d(2 * width),
        torch.nn.ReLU(),
        torch.nn.Conv2d(2 * width, embed_dim, 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate of every recipe")
    parser.add_argument("--stem-width", type=int, default=32, help="channels of the conv stem's first convolution")
    parser.add_argument("--only", nargs="+", choices=["baseline", "notebook", "conv", "ramp", "ramp-long"], default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = runtime.get_device()
    ns = notebook_code.load("03_vit", ["setup", "patch_embed", "patchify", "resize_pos_embed", "vision_transformer"])
    train, test, source = load_data()
    print(f"torch {torch.__version__}, {device}, {args.threads} threads, {cpu_model()}, load average "
          f"{os.getloadavg()[0]:.1f} | {source}: {len(train[0])} training, "
          f"{len(test[0])} test images", flush=True)

    ours, theirs = augmentation_speed(train[0])
    print(f"augmentation: on-device {ours:.0f} images/s, torchvision DataLoader (2 workers) {theirs:.0f} images/s, "
          f"speed-up {ours / theirs:.1f}x", flush=True)

    checkpoints = [m for m in (2, 5, 10) if m <= args.minutes] or [args.minutes]
    progressive = lambda frac: 24 if frac < 0.75 else 32  # noqa: E731
    ramp = lambda frac: 16 + 4 * min(4, int(frac * 5))  # noqa: E731  16, 20, 24, 28, then 32 px, a fifth each
    ramp_long = lambda frac: 16 + 4 * min(4, int(frac / 0.15))  # noqa: E731  16 to 28 px 15% each, then 32 px 40%
    recipes = {"baseline": ("baseline (issue)", lambda frac: 32, False),
               "notebook": ("notebook (24 px, then 32 px)", progressive, False),
               "conv": ("conv stem (24 px, then 32 px)", progressive, True),
               "ramp": ("conv stem, 16 to 32 px", ramp, True),
               "ramp-long": ("conv stem, 16 to 28 px, then 32 px for 40%", ramp_long, True)}
    if args.stem_width != 32:   # name the width in every line that shows a stem recipe
        recipes = {k: (name + f", stem width {args.stem_width}" if stem else name, sizes, stem)
                   for k, (name, sizes, stem) in recipes.items()}
    rows = {}   # recipe key -> {minutes: (test accuracy, images/s)}
    for key in args.only or ["baseline", "notebook", "ramp"]:
        name, sizes, stem = recipes[key]
        runtime.seed_everything(0)
        model = ns["VisionTransformer"](img_size=32, patch_size=4, embed_dim=128, depth=4, num_heads=4, mlp_dim=256)
        if stem:
            model.patch_embed.proj = conv_stem(3, model.patch_embed.proj.out_channels, args.stem_width)
        model = model.to(device)
        rows[key] = train_for(model, train, test, args.minutes, sizes, checkpoints, device, lr=args.lr)
        print(name, {m: f"{acc:.3f} @ {ips:.0f} img/s" for m, (acc, ips) in rows[key].items()}, flush=True)
    last = checkpoints[-1]
    print("\n| recipe | " + " | ".join(f"test acc. after {m:g} min" for m in checkpoints) + " | images/s |")
    print("|---|" + "---|" * (len(checkpoints) + 1))
    for key, res in rows.items():
        print(f"| {recipes[key][0]} | " + " | ".join(f"{res[m][0]:.1%}" for m in checkpoints) + f" | {res[last][1]:.0f} |")
    base = rows.get("baseline")
    for key, res in rows.items():
        if base and key != "baseline":
            ratios = ", ".join(f"{res[m][0] / base[m][0]:.2f}x after {m:g} min" for m in checkpoints)
            print(f"{recipes[key][0]} / baseline: accuracy {ratios} ({(res[last][0] - base[last][0]) * 100:+.1f} points), "
                  f"images/s {res[last][1] / base[last][1]:.2f}x")


if __name__ == "__main__":
    main()
