"""Plots: attention heatmaps with token labels, the bipartite input→output plot, curves, image grids,
patch grids, positional-embedding similarity maps, filtered next-token distributions and attention masks.

Every function that draws one panel draws on ``ax`` if given (so plots can share a figure) and returns the
axes; the grids of small images (``image_grid``, ``patch_grid``) return their figure. None of them computes
what a notebook asks students to write: they draw what the student's own functions return.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch


def _np(x):
    return x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=float)


def _axes(ax, figsize):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def attention_heatmap(A, query_labels=None, key_labels=None, title="Attention map", ax=None,
                      annotate=None, cmap="viridis"):
    """Heatmap of an attention map ``A`` of shape (n_queries, n_keys): row i is where query i looks.

    Cells are annotated with their weight when the map is small (at most 12×12).
    """
    A = _np(A)
    n, m = A.shape
    ax = _axes(ax, (1.0 + 0.55 * m, 0.8 + 0.5 * n))
    im = ax.imshow(A, cmap=cmap, vmin=0.0, vmax=max(1.0, float(A.max())), aspect="auto")
    ax.set_xticks(range(m), labels=key_labels if key_labels is not None else [f"k{j}" for j in range(m)])
    ax.set_yticks(range(n), labels=query_labels if query_labels is not None else [f"q{i}" for i in range(n)])
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.set_title(title)
    if annotate is None:
        annotate = n <= 12 and m <= 12
    if annotate:
        for i in range(n):
            for j in range(m):
                ax.text(j, i, f"{A[i, j]:.2f}", ha="center", va="center",
                        color="black" if A[i, j] > 0.6 else "white", fontsize=8)
    plt.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax


def bipartite(A, input_labels=None, output_labels=None, title="Strongest attention links", ax=None):
    """Inputs and outputs as two vertical columns of dots. Each output gets a solid line to
    its strongest input and a dashed line to its second strongest.

    ``A`` has shape (n_outputs, n_inputs): row i holds output i's weights over the inputs.
    """
    A = _np(A)
    n_out, n_in = A.shape
    ax = _axes(ax, (4.5, 0.6 + 0.7 * max(n_in, n_out)))
    y_in = np.linspace(1, 0, n_in) if n_in > 1 else np.array([0.5])
    y_out = np.linspace(1, 0, n_out) if n_out > 1 else np.array([0.5])
    order = np.argsort(-A, axis=1, kind="stable")
    for i in range(n_out):
        first = order[i, 0]
        ax.plot([0, 1], [y_in[first], y_out[i]], "-", color="C0", lw=1 + 3 * A[i, first])
        if n_in > 1:
            second = order[i, 1]
            ax.plot([0, 1], [y_in[second], y_out[i]], "--", color="C1", lw=1 + 3 * A[i, second])
    ax.scatter(np.zeros(n_in), y_in, s=120, color="k", zorder=3)
    ax.scatter(np.ones(n_out), y_out, s=120, color="k", zorder=3)
    in_labels = input_labels if input_labels is not None else [f"x{j + 1}" for j in range(n_in)]
    out_labels = output_labels if output_labels is not None else [f"y{i + 1}" for i in range(n_out)]
    for y, label in zip(y_in, in_labels):
        ax.text(-0.08, y, label, ha="right", va="center")
    for y, label in zip(y_out, out_labels):
        ax.text(1.08, y, label, ha="left", va="center")
    ax.plot([], [], "-", color="C0", label="strongest input")
    ax.plot([], [], "--", color="C1", label="second strongest")
    ax.text(0, 1.12, "inputs", ha="center", fontweight="bold")
    ax.text(1, 1.12, "outputs", ha="center", fontweight="bold")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, frameon=False)
    ax.set_xlim(-0.4, 1.4)
    ax.set_ylim(-0.1, 1.2)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("left", "right", "top", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(title)
    return ax


def curves(x, ys, xlabel, ylabel, title, ax=None, logx=False, logy=False, marker="o"):
    """Several named curves over the same x: ``ys`` maps a label to its y values."""
    ax = _axes(ax, (5.5, 3.8))
    for label, y in ys.items():
        ax.plot(_np(x), _np(y), marker=marker, label=label)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(ys) > 1:
        ax.legend()
    return ax


def image_grid(images, titles=None, maps=None, ncols=10, title=None, alpha=0.5):
    """Images (N, 3, H, W) uint8 or float in [0, 1] in a grid, each optionally overlaid with a heatmap
    ``maps[i]`` (any 2-D grid, stretched over the image). Returns the figure."""
    images = _np(images)
    if images.max() > 1.5:
        images = images / 255.0
    n = len(images)
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.75 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        h, w = images[i].shape[1:]
        ax.imshow(np.clip(images[i].transpose(1, 2, 0), 0, 1))
        if maps is not None:
            ax.imshow(_np(maps[i]), cmap="inferno", alpha=alpha, extent=(-0.5, w - 0.5, h - 0.5, -0.5),
                      interpolation="bilinear")
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _square_side(n, what):
    side = int(round(n ** 0.5))
    if side * side != n:
        raise ValueError(f"{what}: {n} is not a square number of positions, so it is not a square grid")
    return side


def patch_grid(patches, patch_size, image=None, title="The image as a sequence of patch tokens"):
    """The output of ``patchify`` for one image, (N, C*p*p) or (1, N, C*p*p), each row flattened in
    (channel, row, column) order, drawn as a square grid of small images numbered by token index
    (so a grid in the wrong order shows up scrambled). ``image`` (C, H, W), if given, is drawn on the
    left. Returns the figure."""
    patches = _np(patches)
    if patches.ndim == 3 and patches.shape[0] == 1:
        patches = patches[0]
    if patches.ndim != 2:
        raise ValueError(f"patch_grid expects the patches of one image, (N, C*p*p), got shape {patches.shape}")
    n, size = patches.shape
    if size % (patch_size * patch_size):
        raise ValueError(f"patch_grid: a token of {size} numbers is not C*p*p with p = {patch_size}")
    channels = size // (patch_size * patch_size)
    side = _square_side(n, "patch_grid")
    lo, hi = float(patches.min()), float(patches.max())
    tiles = (patches - lo) / (hi - lo if hi > lo else 1.0)
    tiles = tiles.reshape(n, channels, patch_size, patch_size).transpose(0, 2, 3, 1)
    if channels == 1:
        tiles = tiles[..., 0]
    ncols = side + (side if image is not None else 0)
    fig = plt.figure(figsize=(1.0 + 0.9 * ncols, 0.9 * side + 0.9))
    grid = fig.add_gridspec(side, ncols, wspace=0.15, hspace=0.15)
    if image is not None:
        img = _np(image)
        if img.max() > 1.5:
            img = img / 255.0
        ax = fig.add_subplot(grid[:, :side])
        ax.imshow(np.clip(img.transpose(1, 2, 0), 0, 1) if img.shape[0] == 3 else img[0], cmap="gray")
        ax.set_title("image")
        ax.axis("off")
    offset = side if image is not None else 0
    for i in range(n):
        ax = fig.add_subplot(grid[i // side, offset + i % side])
        ax.imshow(tiles[i], cmap="gray" if channels == 1 else None, vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{i}", fontsize=7, pad=2)
    fig.suptitle(title)
    return fig


def position_similarity(pos_embed, title="Cosine similarity of positional embeddings", ax=None, cls_token=True):
    """The cosine similarity of every patch position's embedding with every other one, as in Fig. 7 of the
    ViT paper: a g x g mosaic in which tile (r, c) is the g x g map of position (r, c)'s similarity to all
    positions. ``pos_embed`` is (1, 1 + g*g, D) with the class token first (``cls_token=True``), or
    (1, g*g, D) / (g*g, D) without it."""
    P = _np(pos_embed)
    if P.ndim == 3:
        if P.shape[0] != 1:
            raise ValueError(f"position_similarity expects (1, 1 + g*g, D), got shape {P.shape}")
        P = P[0]
    if P.ndim != 2:
        raise ValueError(f"position_similarity expects (1, 1 + g*g, D), got shape {P.shape}")
    if cls_token:
        P = P[1:]
    side = _square_side(len(P), "position_similarity (is the class token's row included or not? see cls_token)")
    unit = P / np.maximum(np.linalg.norm(P, axis=1, keepdims=True), 1e-12)
    sim = (unit @ unit.T).reshape(side, side, side, side)          # (r, c, r', c')
    gap = 1
    mosaic = np.full((side * (side + gap) - gap,) * 2, np.nan)
    for r in range(side):
        for c in range(side):
            y, x = r * (side + gap), c * (side + gap)
            mosaic[y:y + side, x:x + side] = sim[r, c]
    ax = _axes(ax, (5.2, 4.6))
    im = ax.imshow(mosaic, cmap="viridis", vmin=-1, vmax=1)
    ticks = [r * (side + gap) + (side - 1) / 2 for r in range(side)]
    ax.set_xticks(ticks, labels=[str(c) for c in range(side)])
    ax.set_yticks(ticks, labels=[str(r) for r in range(side)])
    ax.set_xlabel("patch column of the position")
    ax.set_ylabel("patch row of the position")
    ax.set_title(title)
    plt.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="cosine similarity")
    return ax


def filtered_distributions(probs, filtered, labels=None, top=20, title="Next-token distribution", ax=None):
    """Bars of a next-token distribution ``probs`` (V,) and of each filtered version in ``filtered``
    ({name: (V,) probabilities}, e.g. the output of a top-k or top-p filter), over the ``top`` most likely
    tokens of ``probs``, most likely first. ``labels`` names the V tokens. Returns the axes."""
    p = _np(probs)
    if p.ndim != 1:
        raise ValueError(f"filtered_distributions expects one distribution of shape (V,), got shape {p.shape}")
    series = {"original": p}
    for name, q in filtered.items():
        q = _np(q)
        if q.shape != p.shape:
            raise ValueError(f"filtered_distributions: {name!r} has shape {q.shape}, the distribution {p.shape}")
        series[name] = q
    order = np.argsort(-p, kind="stable")[:top]
    ax = _axes(ax, (max(6.0, 0.38 * len(order) * len(series) / 2), 3.6))
    width = 0.8 / len(series)
    for k, (name, q) in enumerate(series.items()):
        kept = int((q > 0).sum())
        ax.bar(np.arange(len(order)) + (k - (len(series) - 1) / 2) * width, q[order], width,
               label=f"{name} ({kept} token{'s' if kept != 1 else ''} kept)" if name != "original" else name)
    names = [labels[i] for i in order] if labels is not None else [str(i) for i in order]
    ax.set_xticks(range(len(order)), labels=names, rotation=60, ha="right")
    ax.set_xlabel(f"the {len(order)} most likely next tokens")
    ax.set_ylabel("probability")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def mask_heatmap(mask, query_labels=None, key_labels=None, title="Attention mask", ax=None):
    """A boolean attention mask, True (or 1) = may attend, drawn as allowed/blocked cells: rows are queries,
    columns keys. Leading dimensions of size 1, as in (B=1, 1, T, S), are dropped, and a mask with a single
    row, as (1, S), is repeated for every query label (it broadcasts over the queries)."""
    M = _np(mask)
    while M.ndim > 2 and M.shape[0] == 1:
        M = M[0]
    if M.ndim == 1:
        M = M[None]
    if M.ndim != 2:
        raise ValueError(f"mask_heatmap expects one (queries, keys) mask, got shape {np.shape(_np(mask))}")
    if query_labels is not None and M.shape[0] == 1 and len(query_labels) > 1:
        M = np.repeat(M, len(query_labels), axis=0)
    n, m = M.shape
    for labels, size, what in [(query_labels, n, "query_labels"), (key_labels, m, "key_labels")]:
        if labels is not None and len(labels) != size:
            raise ValueError(f"mask_heatmap: {len(labels)} {what} for a mask of shape {M.shape}")
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch
    ax = _axes(ax, (1.2 + 0.5 * m, 1.0 + 0.45 * n))
    ax.imshow(M != 0, cmap=ListedColormap(["#d9d9d9", "#2b8cbe"]), vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(m), labels=key_labels if key_labels is not None else [f"k{j}" for j in range(m)], rotation=45)
    ax.set_yticks(range(n), labels=query_labels if query_labels is not None else [f"q{i}" for i in range(n)])
    ax.set_xticks(np.arange(-0.5, m), minor=True)
    ax.set_yticks(np.arange(-0.5, n), minor=True)
    ax.grid(which="minor", color="white", lw=1)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.set_title(title)
    ax.legend(handles=[Patch(color="#2b8cbe", label="may attend"), Patch(color="#d9d9d9", label="blocked")],
              loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return ax
