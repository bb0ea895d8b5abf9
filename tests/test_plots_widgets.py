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
