"""Training: image batches that live on the training device, augmentation done there (no PIL,
no DataLoader workers), a training loop with a progress bar, and its curves.

Images stay uint8 on the device and are converted per batch: on Colab's 2 CPU cores a
torchvision-transforms DataLoader, not the GPU, would be the bottleneck.
"""

import contextlib
import math
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def to_float(x, mean=CIFAR10_MEAN, std=CIFAR10_STD):
    """uint8 images (B, C, H, W) -> normalised float32."""
    mean = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
    return (x.float() / 255 - mean) / std


def augment(x, padding=4, size=None, generator=None):
    """Random crop (after zero padding) and random horizontal flip of a uint8 batch, on its device.

    ``size`` then downscales the whole crop to a smaller square (default: keep the input size), which lets
    a ViT train at a lower resolution and so on fewer tokens. Downscaling, unlike a smaller crop, keeps the
    whole field of view, so an interpolated positional embedding still marks the same place in the image.
    """
    B, C, H, W = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    span = 2 * padding + 1
    top = torch.randint(0, span, (B,), generator=generator).to(x.device)
    left = torch.randint(0, span, (B,), generator=generator).to(x.device)
    flip = (torch.rand(B, generator=generator) < 0.5).to(x.device)
    r = torch.arange(H, device=x.device)
    rows = (top[:, None] + r)[:, None, :, None]                          # (B, 1, H, 1)
    cols = torch.where(flip[:, None], left[:, None] + W - 1 - r, left[:, None] + r)[:, None, None, :]
    b = torch.arange(B, device=x.device)[:, None, None, None]
    c = torch.arange(C, device=x.device)[None, :, None, None]
    out = padded[b, c, rows, cols]                                        # (B, C, H, W)
    if size is not None and size != H:
        out = F.interpolate(out.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out = out.round().clamp(0, 255).to(torch.uint8)                  # still uint8, like the input
    return out


def mixed_precision(device):
    """The autocast dtype: bf16 on CUDA where supported, fp16 on older GPUs (a Colab T4), None elsewhere."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device):
    """Mixed precision on CUDA; full precision elsewhere."""
    dtype = mixed_precision(device)
    return contextlib.nullcontext() if dtype is None else torch.autocast("cuda", dtype=dtype)


def grad_scaler(device):
    """Loss scaling, which fp16 needs (its small gradients underflow); bf16 has float32's range."""
    return torch.amp.GradScaler("cuda", enabled=mixed_precision(device) == torch.float16)


@torch.no_grad()
def evaluate(model, x, y, batch_size=500, size=None):
    """Accuracy of ``model`` on uint8 images ``x`` (centre-cropped to ``size`` if given)."""
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(device)
        if size is not None and size != xb.shape[-1]:
            off = (xb.shape[-1] - size) // 2
            xb = xb[..., off:off + size, off:off + size]
        with autocast(device):
            logits = model(to_float(xb))
        correct += (logits.argmax(-1).cpu() == y[i:i + batch_size]).sum().item()
    return correct / max(len(x), 1)


def warmup_cosine(optimizer, total_steps, warmup_steps):
    def factor(step):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_classifier(model, train, val, *, epochs, lr=2e-3, weight_decay=0.05, batch_size=128,
                     label_smoothing=0.1, warmup_epochs=1.0, sizes=None, seed=0, desc="training"):
    """Train ``model`` on uint8 images with AdamW, warm-up then cosine decay, crop-and-flip.

    ``train`` and ``val`` are ``(x_uint8, labels)``. ``sizes`` optionally gives the training
    resolution of each epoch (progressive resizing). Returns the history, a dict of lists.
    """
    history = {"epoch": [], "train_loss": [], "train_acc": [], "val_acc": [], "seconds": []}
    if epochs <= 0:
        return history
    device = next(model.parameters()).device
    x, y = train[0].to(device), train[1].to(device)
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(len(x) / batch_size)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]  # no weight decay on biases, norms, tokens
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    scheduler = warmup_cosine(optimizer, epochs * steps_per_epoch, int(warmup_epochs * steps_per_epoch))
    scaler = grad_scaler(device)
    start = time.perf_counter()
    bar = tqdm(range(epochs), desc=desc)
    for epoch in bar:
        model.train()
        size = sizes[epoch] if sizes else None
        order = torch.randperm(len(x), generator=generator).to(device)
        total_loss, correct = 0.0, 0
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            xb = to_float(augment(x[idx], size=size, generator=generator))
            with autocast(device):
                logits = model(xb)
                loss = F.cross_entropy(logits, y[idx], label_smoothing=label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            total_loss += loss.item() * len(idx)
            correct += (logits.argmax(-1) == y[idx]).sum().item()
        history["epoch"].append(epoch + 1)
        history["train_loss"].append(total_loss / len(x))
        history["train_acc"].append(correct / len(x))
        history["val_acc"].append(evaluate(model, *val))
        history["seconds"].append(time.perf_counter() - start)
        bar.set_postfix(loss=f"{history['train_loss'][-1]:.3f}", val_acc=f"{history['val_acc'][-1]:.3f}")
    return history


def plot_history(histories, title="Training"):
    """Loss and accuracy curves of one or several runs: ``{"ViT": history, "CNN": history}``."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, h in histories.items():
        if not h["epoch"]:
            continue
        ax1.plot(h["epoch"], h["train_loss"], marker="o", label=name)
        ax2.plot(h["epoch"], h["train_acc"], marker="o", ls="--", label=f"{name} (train)")
        ax2.plot(h["epoch"], h["val_acc"], marker="o", label=f"{name} (validation)")
    ax1.set(xlabel="epoch", ylabel="training loss", title=f"{title}: loss")
    ax2.set(xlabel="epoch", ylabel="accuracy", title=f"{title}: accuracy")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def length_buckets(lengths, batch_size, generator=None, bucket_batches=50):
    """Batches of indices in which sequences have similar lengths, so that little compute is spent on
    padding. The order is random, but each window of ``bucket_batches`` batches is sorted by length."""
    lengths = torch.as_tensor(lengths)
    order = torch.randperm(len(lengths), generator=generator)
    window = batch_size * bucket_batches
    batches = []
    for start in range(0, len(order), window):
        chunk = order[start:start + window]
        chunk = chunk[torch.argsort(lengths[chunk], stable=True)]
        batches += [chunk[i:i + batch_size].tolist() for i in range(0, len(chunk), batch_size)]
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffle]


def rare_word_dropout(input_ids, input_mask, counts, alpha, unk_id, generator=None):
    """Replace each real token (``input_mask`` 1) by ``unk_id`` with probability alpha / (alpha + count),
    where ``counts`` (V,) holds each id's count in the training data; ids counted 0 (the special tokens)
    stay. Returns new ids. Why: new text holds more unknown words than the training data (a new play
    brings new characters' names), and the words seen least in training are the most like them, so the
    model learns where ``unk`` goes."""
    counts = counts.float()
    p = torch.where(counts > 0, alpha / (alpha + counts), torch.zeros_like(counts))
    hit = (torch.rand(input_ids.shape, generator=generator) < p[input_ids]) & input_mask.bool()
    return input_ids.masked_fill(hit, unk_id)


def token_batches(lengths, max_tokens, generator=None, bucket_size=4096):
    """Batches of indices holding at most ``max_tokens`` tokens each, counting padding (the longest
    sequence times the batch size). Sequences of similar length go together; the order is random."""
    lengths = torch.as_tensor(lengths)
    order = torch.randperm(len(lengths), generator=generator)
    batches = []
    for start in range(0, len(order), bucket_size):
        chunk = order[start:start + bucket_size]
        chunk = chunk[torch.argsort(lengths[chunk], stable=True)].tolist()
        batch, longest = [], 0
        for i in chunk:
            longest_if_added = max(longest, int(lengths[i]))
            if batch and longest_if_added * (len(batch) + 1) > max_tokens:
                batches.append(batch)
                batch, longest_if_added = [], int(lengths[i])
            batch.append(i)
            longest = longest_if_added
        if batch:
            batches.append(batch)
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffle]


def train_steps(model, make_batches, batch_loss, *, epochs, lr=1e-3, weight_decay=0.01, warmup_frac=0.05,
                clip=1.0, evaluate=None, on_epoch_end=None, desc="training"):
    """A generic training loop: AdamW with warm-up and cosine decay, gradient clipping, a progress bar.

    ``make_batches(epoch)`` returns the list of batches of one epoch, ``batch_loss(batch)`` the mean loss
    of one batch, ``evaluate()`` the validation loss, and ``on_epoch_end(epoch, history)`` may print
    or plot. Returns the history (epoch, train_loss, val_loss, seconds).
    """
    history = {"epoch": [], "train_loss": [], "val_loss": [], "seconds": []}
    if epochs <= 0:
        return history
    device = next(model.parameters()).device
    first = make_batches(0)
    total_steps = epochs * len(first)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    scheduler = warmup_cosine(optimizer, total_steps, int(warmup_frac * total_steps))
    scaler = grad_scaler(device)
    start = time.perf_counter()
    bar = tqdm(total=total_steps, desc=desc)
    for epoch in range(epochs):
        model.train()
        batches = first if epoch == 0 else make_batches(epoch)
        running = 0.0
        for batch in batches:
            with autocast(device):
                loss = batch_loss(batch)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            running += loss.item()
            bar.update(1)
        history["epoch"].append(epoch + 1)
        history["train_loss"].append(running / len(batches))
        model.eval()
        with torch.no_grad():
            history["val_loss"].append(float(evaluate()) if evaluate else float("nan"))
        history["seconds"].append(time.perf_counter() - start)
        bar.set_postfix(train=f"{history['train_loss'][-1]:.3f}", val=f"{history['val_loss'][-1]:.3f}")
        if on_epoch_end:
            on_epoch_end(epoch + 1, history)
    bar.close()
    return history


def plot_losses(history, title="Training"):
    """Training and validation loss per epoch."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    if history["epoch"]:
        ax.plot(history["epoch"], history["train_loss"], marker="o", label="training")
        ax.plot(history["epoch"], history["val_loss"], marker="o", label="validation")
        ax.legend()
    ax.set(xlabel="epoch", ylabel="cross-entropy (nats per token)", title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
