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


def test_augment_smaller_crops():
    x = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    assert training.augment(x, size=24).shape == (4, 3, 24, 24)


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
