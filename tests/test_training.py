import contextlib
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_utils import blocks, training


def test_augment_returns_padded_crops_and_flips():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8, generator=g)
    out = training.augment(x, padding=2, generator=g)
    assert out.shape == x.shape and out.dtype == torch.uint8
    padded = F.pad(x, (2, 2, 2, 2))
    flips = 0
    for i in range(len(x)):
        crops = [padded[i, :, t:t + 8, l:l + 8] for t in range(5) for l in range(5)]
        plain = any(torch.equal(out[i], c) for c in crops)
        flipped = any(torch.equal(out[i], c.flip(-1)) for c in crops)
        assert plain or flipped, f"image {i} is not a crop of the padded input"
        flips += flipped and not plain
    assert 10 < flips < 54  # about half are flipped


def test_augment_downscales_the_whole_crop():
    # left half dark, right half bright: a downscaled crop keeps both halves (a smaller crop might not)
    x = torch.zeros(16, 3, 32, 32, dtype=torch.uint8)
    x[..., 16:] = 200
    out = training.augment(x, size=24, padding=0)
    assert out.shape == (16, 3, 24, 24) and out.dtype == torch.uint8
    halves = out[..., :12].float().mean(dim=(1, 2, 3)), out[..., 12:].float().mean(dim=(1, 2, 3))
    assert torch.all(torch.minimum(*halves) < 5) and torch.all(torch.maximum(*halves) > 195)


def test_to_float_normalises():
    x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    y = training.to_float(x, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    assert torch.allclose(y, torch.ones_like(y))


def _toy_data(n, g):
    y = torch.randint(0, 2, (n,), generator=g)
    x = (y[:, None, None, None] * 200 + torch.randint(0, 40, (n, 3, 8, 8), generator=g)).to(torch.uint8)
    return x, y


def test_train_classifier_learns_and_skips_with_zero_epochs():
    g = torch.Generator().manual_seed(0)
    train, val = _toy_data(256, g), _toy_data(128, g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
    assert training.train_classifier(model, train, val, epochs=0)["epoch"] == []
    history = training.train_classifier(model, train, val, epochs=3, batch_size=32, lr=1e-2, desc="toy")
    assert history["epoch"] == [1, 2, 3] and len(history["val_acc"]) == 3
    assert history["val_acc"][-1] > 0.9
    assert training.evaluate(model, *val) == history["val_acc"][-1]
    fig = training.plot_history({"toy": history})
    assert len(fig.axes) == 2


def test_block_fused_and_explicit_paths_agree():
    torch.manual_seed(0)
    block = blocks.Block(dim=16, num_heads=4, mlp_dim=32).eval()
    x = torch.randn(2, 5, 16)
    mask = torch.tril(torch.ones(5, 5, dtype=torch.bool))
    y_fused = block(x, attn_mask=mask)
    y_explicit, A = block(x, attn_mask=mask, need_weights=True)
    assert A.shape == (2, 4, 5, 5)
    assert torch.allclose(y_fused, y_explicit, atol=1e-5)
    assert (A[..., ~mask] == 0).all() and torch.allclose(A.sum(-1), torch.ones(2, 4, 5))


def test_kv_cache_gives_the_same_outputs_as_a_full_pass():
    torch.manual_seed(0)
    layers = [blocks.Block(dim=16, num_heads=2, mlp_dim=32, attn_dim=5).eval() for _ in range(2)]
    x = torch.randn(1, 7, 16)
    mask = torch.ones(7, 7, dtype=torch.bool).tril()
    full = x
    for layer in layers:
        full = layer(full, attn_mask=mask)
    cache, steps = blocks.KVCache(), []
    for t in range(7):  # one token at a time: it may see every cached position
        h = x[:, t:t + 1]
        for layer in layers:
            h = layer(h, cache=cache)
        steps.append(h)
        assert len(cache) == t + 1
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)


def test_length_buckets_cover_everything_once_and_group_lengths():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 100, (1000,), generator=g).tolist()
    batches = training.length_buckets(lengths, 16, generator=g, bucket_batches=10)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000))
    assert all(len(b) <= 16 for b in batches)
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 15  # random batches would spread over ~90


def test_train_steps_reduces_the_loss():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0])
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, 256, 32)]
    seen = []
    history = training.train_steps(
        model, lambda epoch: batches, lambda b: F.mse_loss(model(b[0]).squeeze(-1), b[1]), epochs=20, lr=0.2,
        evaluate=lambda: F.mse_loss(model(x).squeeze(-1), y), on_epoch_end=lambda e, h: seen.append(e))
    assert seen == list(range(1, 21))
    assert history["val_loss"][-1] < 0.1 * history["train_loss"][0]
    assert training.train_steps(model, lambda e: batches, None, epochs=0)["epoch"] == []
    assert len(training.plot_losses(history).axes) == 1


def test_token_batches_respect_the_budget():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(3, 40, (500,), generator=g).tolist()
    batches = training.token_batches(lengths, max_tokens=200, generator=g, bucket_size=128)
    assert sorted(i for b in batches for i in b) == list(range(500))
    assert all(max(lengths[i] for i in b) * len(b) <= 200 for b in batches)


def test_cross_attention_paths_agree_and_mask():
    torch.manual_seed(0)
    attn = blocks.CrossAttention(dim=12, num_heads=3).eval()
    x, memory = torch.randn(2, 4, 12), torch.randn(2, 6, 12)
    mask = torch.ones(2, 1, 1, 6, dtype=torch.bool)
    mask[1, ..., 4:] = False                        # the second memory is padded after 4 positions
    y, _ = attn(x, memory, mask)
    y2, A = attn(x, memory, mask, need_weights=True)
    assert torch.allclose(y, y2, atol=1e-5) and A.shape == (2, 3, 4, 6)
    assert (A[1, ..., 4:] == 0).all()
    y3, _ = attn(x[1:], memory[1:, :4])             # padding must act as if absent
    assert torch.allclose(y[1:], y3, atol=1e-5)


def test_rare_word_dropout_replaces_words_by_their_rarity():
    # id 0: a special token (count 0), id 1: unk, ids 3, 4: words seen 1 and 9 times; alpha 1 -> 1/2 and 1/10
    counts = torch.tensor([0, 5, 0, 1, 9])
    ids = torch.tensor([[0, 3, 4, 3, 4, 3]]).repeat(20000, 1)
    mask = torch.ones_like(ids)
    mask[:, -1] = 0                                   # a rare word at a padded position: never replaced
    out = training.rare_word_dropout(ids, mask, counts, alpha=1.0, unk_id=1, generator=torch.Generator().manual_seed(0))
    assert out.shape == ids.shape and torch.equal(ids[:, 0], out[:, 0]) and torch.equal(ids[:, -1], out[:, -1])
    changed = out != ids
    assert torch.equal(out[changed], torch.ones(int(changed.sum()), dtype=torch.long))   # only ever to unk
    assert abs(changed[:, [1, 3]].float().mean() - 0.5) < 0.01
    assert abs(changed[:, [2, 4]].float().mean() - 0.1) < 0.01
    again = training.rare_word_dropout(ids, mask, counts, 1.0, 1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)                    # seeded: the same replacements


# The CUDA branches, chosen without a GPU: what a Colab T4 (fp16, no bf16) and an A100 (bf16) get.
@pytest.mark.parametrize("bf16, dtype", [(False, torch.float16), (True, torch.bfloat16)])
def test_cuda_gets_mixed_precision(monkeypatch, bf16, dtype):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)
    assert training.mixed_precision(torch.device("cuda")) == dtype
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CUDA is not available": the choice is what is tested
        context = training.autocast(torch.device("cuda"))
    assert isinstance(context, torch.autocast) and context.fast_dtype == dtype


def test_cpu_trains_in_full_precision_without_scaling():
    assert training.mixed_precision(torch.device("cpu")) is None
    assert isinstance(training.autocast(torch.device("cpu")), contextlib.nullcontext)
    assert not training.grad_scaler(torch.device("cpu")).is_enabled()


def test_only_fp16_gets_loss_scaling(monkeypatch):
    asked = []  # without CUDA a real GradScaler turns itself off: record what it is asked for
    monkeypatch.setattr(torch.amp, "GradScaler", lambda device, enabled: asked.append((device, enabled)))
    for dtype in (torch.float16, torch.bfloat16, None):
        monkeypatch.setattr(training, "mixed_precision", lambda device, dtype=dtype: dtype)
        training.grad_scaler(torch.device("cuda"))
    assert asked == [("cuda", True), ("cuda", False), ("cuda", False)]
