"""Plots: attention heatmaps with token labels, the bipartite input→output plot, and curves.

Every function draws on ``ax`` if given (so plots can share a figure) and returns the axes.
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
