import sys

import matplotlib.pyplot as plt
import pytest
import torch

from course_utils import plots, widgets


def test_attention_heatmap_labels_and_annotations():
    A = torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.5, 0.5]])
    ax = plots.attention_heatmap(A, query_labels=["a", "b", "c"], key_labels=["x", "y"], title="T")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert ax.get_title() == "T"
    assert sorted(t.get_text() for t in ax.texts) == sorted(f"{v:.2f}" for v in A.flatten().tolist())


def _segments(ax, style):
    """(input y, output y) of each drawn link with the given linestyle."""
    return [tuple(line.get_ydata()) for line in ax.lines if line.get_linestyle() == style and len(line.get_xdata())]


def test_bipartite_draws_strongest_solid_and_second_dashed():
    A = torch.tensor([[0.1, 0.2, 0.7],      # output 0: strongest input 2, second 1
                      [0.6, 0.3, 0.1]])     # output 1: strongest input 0, second 1
    ax = plots.bipartite(A)
    y_in = [1.0, 0.5, 0.0]
    y_out = [1.0, 0.0]
    assert sorted(_segments(ax, "-")) == sorted([(y_in[2], y_out[0]), (y_in[0], y_out[1])])
    assert sorted(_segments(ax, "--")) == sorted([(y_in[1], y_out[0]), (y_in[1], y_out[1])])
    assert {t.get_text() for t in ax.texts} == {"x1", "x2", "x3", "y1", "y2", "inputs", "outputs"}


def test_curves_draws_each_series():
    ax = plots.curves([1, 2, 3], {"a": [1, 2, 3], "b": [3, 2, 1]}, "x", "y", "t", logy=True)
    assert len(ax.lines) == 2 and ax.get_yscale() == "log"


def _recording_softargmax(calls):
    def softargmax(x, beta=1.0, dim=-1):
        calls.append(beta)
        return torch.softmax(beta * x, dim)
    return softargmax


SCORES = torch.tensor([1.0, 2.0, 0.5])
VALUES = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])


def test_explorer_never_runs_while_grading(monkeypatch, capsys):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    calls = []
    assert widgets.temperature_explorer(_recording_softargmax(calls), SCORES, VALUES) is None
    assert calls == [] and plt.get_fignums() == []
    assert "skipped during grading" in capsys.readouterr().out


def test_explorer_falls_back_to_static_plots(monkeypatch, capsys):
    monkeypatch.setattr(widgets, "_ipywidgets", lambda: (None, None))
    calls = []
    assert widgets.temperature_explorer(_recording_softargmax(calls), SCORES, VALUES, static_betas=(0.1, 10.0)) is None
    assert calls == [0.1, 10.0]
    assert "ipywidgets is not installed" in capsys.readouterr().out


def test_explorer_slider_redraws(monkeypatch):
    ipywidgets = pytest.importorskip("ipywidgets")
    shown = []
    monkeypatch.setattr(widgets, "_ipywidgets", lambda: (ipywidgets, shown.append))
    calls = []
    box = widgets.temperature_explorer(_recording_softargmax(calls), SCORES, VALUES)
    assert shown == [box]
    slider = box.children[0]
    assert isinstance(slider, ipywidgets.FloatLogSlider)
    assert calls == [pytest.approx(1.0)]
    slider.value = 10.0
    assert calls[-1] == pytest.approx(10.0)


def test_generation_explorer_rules(monkeypatch, capsys):
    calls = []

    def generate_text(prompt, temperature, top_p):
        calls.append((prompt, temperature, top_p))
        return f"{prompt}!"

    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert widgets.generation_explorer(generate_text, "A:") is None and calls == []
    monkeypatch.delenv("NBGRADER_EXECUTION")
    monkeypatch.setattr(widgets, "_ipywidgets", lambda: (None, None))
    widgets.generation_explorer(generate_text, "A:", static_settings=((0.0, 1.0),))
    assert calls == [("A:", 0.0, 1.0)] and "A:!" in capsys.readouterr().out


def test_generation_explorer_button_regenerates(monkeypatch):
    ipywidgets = pytest.importorskip("ipywidgets")
    monkeypatch.setattr(widgets, "_ipywidgets", lambda: (ipywidgets, lambda box: None))
    calls = []
    box = widgets.generation_explorer(lambda p, t, q: calls.append((p, t, q)) or "text", "B:")
    prompt, t_slider, p_slider, button, _ = box.children
    t_slider.value, p_slider.value = 1.5, 0.5
    button.click()
    assert calls[-1] == ("B:", 1.5, 0.5)


def test_patch_grid_draws_each_token_in_order_and_rejects_wrong_shapes():
    image = torch.rand(3, 8, 8)
    patches = image.reshape(3, 2, 4, 2, 4).permute(1, 3, 0, 2, 4).reshape(1, 4, 48)   # 2x2 grid of 4x4 patches
    fig = plots.patch_grid(patches, 4, image=image)
    tiles = [ax for ax in fig.axes if ax.get_title().isdigit()]
    assert [ax.get_title() for ax in tiles] == ["0", "1", "2", "3"]
    top_right = tiles[1].images[0].get_array()                      # token 1 = the top-right patch, as pixels
    lo, hi = patches.min(), patches.max()
    assert torch.allclose(torch.tensor(top_right.data), ((image[:, :4, 4:] - lo) / (hi - lo)).permute(1, 2, 0), atol=1e-6)
    with pytest.raises(ValueError, match="C\\*p\\*p"):
        plots.patch_grid(torch.zeros(4, 50), 4)
    with pytest.raises(ValueError, match="not a square"):
        plots.patch_grid(torch.zeros(6, 48), 4)
    with pytest.raises(ValueError, match="one image"):
        plots.patch_grid(torch.zeros(2, 4, 48), 4)


def test_position_similarity_mosaic():
    pos = torch.randn(1, 1 + 9, 5)
    ax = plots.position_similarity(pos, title="S")
    mosaic = ax.images[0].get_array()
    assert mosaic.shape == (3 * 3 + 2, 3 * 3 + 2) and ax.get_title() == "S"
    unit = torch.nn.functional.normalize(pos[0, 1:], dim=-1)
    assert abs(float(mosaic[0, 0]) - 1.0) < 1e-5                                      # position (0, 0) with itself
    assert abs(float(mosaic[4, 0]) - float(unit[3] @ unit[0])) < 1e-5                 # tile (1, 0), entry (0, 0)
    plots.position_similarity(pos[0, 1:], cls_token=False)
    with pytest.raises(ValueError, match="not a square"):
        plots.position_similarity(torch.randn(1, 9, 5))                                # class token row missing
    with pytest.raises(ValueError, match="1 \\+ g\\*g"):
        plots.position_similarity(torch.randn(2, 10, 5))


def test_filtered_distributions_bars_and_counts():
    probs = torch.tensor([0.1, 0.5, 0.3, 0.1])
    kept = torch.tensor([0.0, 0.625, 0.375, 0.0])
    ax = plots.filtered_distributions(probs, {"top-k 2": kept}, labels=list("abcd"), top=3)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["b", "c", "a"]
    assert len(ax.patches) == 6
    assert "top-k 2 (2 tokens kept)" in [t.get_text() for t in ax.get_legend().get_texts()]
    with pytest.raises(ValueError, match="shape"):
        plots.filtered_distributions(probs, {"bad": torch.ones(3)})
    with pytest.raises(ValueError, match="one distribution"):
        plots.filtered_distributions(torch.ones(2, 4), {})


def test_mask_heatmap_squeezes_and_broadcasts():
    tgt = torch.ones(4, 4, dtype=torch.bool).tril()[None, None]                       # (1, 1, T, T)
    ax = plots.mask_heatmap(tgt, list("abcd"), list("abcd"), title="M")
    assert ax.images[0].get_array().tolist() == tgt[0, 0].tolist() and ax.get_title() == "M"
    src = torch.tensor([[[[True, True, False]]]])                                      # (1, 1, 1, S)
    ax = plots.mask_heatmap(src, ["x", "y"], ["u", "v", "w"])
    assert ax.images[0].get_array().tolist() == [[True, True, False]] * 2
    with pytest.raises(ValueError, match="key_labels"):
        plots.mask_heatmap(src, ["x"], ["u", "v"])
    with pytest.raises(ValueError, match="one \\(queries, keys\\) mask"):
        plots.mask_heatmap(torch.ones(2, 3, 3))
