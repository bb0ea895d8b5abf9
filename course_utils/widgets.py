"""Interactive explorers (ipywidgets 7 on Colab, 8 elsewhere).

Each explorer falls back to a static plot when ipywidgets is missing, and does
nothing but print a line while nbgrader grades (widgets would hang the grader).
"""

import math

import matplotlib.pyplot as plt
import torch

from . import runtime


def _ipywidgets():
    try:
        import ipywidgets
        from IPython.display import display
    except ImportError:
        return None, None
    return ipywidgets, display


def _draw_temperature(softargmax, scores, values, beta, labels, fig=None):
    with torch.no_grad():
        weights = softargmax(scores * 1.0, beta, -1)
        fig = fig or plt.figure(figsize=(9, 3))
        fig.clf()
        ax1, ax2 = fig.subplots(1, 2)
        ax1.bar(range(len(weights)), weights.tolist(), color="C0")
        ax1.set_xticks(range(len(weights)), labels=labels)
        ax1.set_ylim(0, 1)
        ax1.set_xlabel("key")
        ax1.set_ylabel("attention weight")
        ax1.set_title(f"softargmax weights, β = {beta:.3g}")
        if values is not None:
            out = weights @ values
            ax2.scatter(values[:, 0].tolist(), values[:, 1].tolist(), c="k", s=60)
            for j, label in enumerate(labels):
                ax2.annotate(label, values[j, :2].tolist(), textcoords="offset points", xytext=(5, 5))
            ax2.scatter([float(out[0])], [float(out[1])], c="C3", s=120, marker="*", label="output")
            ax2.set_title("values (black) and the output (red star)")
            ax2.set_xlabel("value dim 0")
            ax2.set_ylabel("value dim 1")
            ax2.legend(loc="best")
        else:
            ax2.axis("off")
        fig.tight_layout()
    return fig


def temperature_explorer(softargmax, scores, values=None, labels=None, beta_range=(0.05, 20.0),
                         static_betas=(0.1, 1.0, 10.0)):
    """A slider for the inverse temperature β that redraws the weights ``softargmax(scores, β)``
    and, if ``values`` (n_keys, 2) are given, the output ``weights @ values``.

    ``softargmax`` is the student's own function ``softargmax(x, beta, dim)``.
    """
    scores = torch.as_tensor(scores, dtype=torch.float32)
    values = None if values is None else torch.as_tensor(values, dtype=torch.float32)
    labels = labels or [f"k{j}" for j in range(len(scores))]
    if runtime.is_grading():
        print("(temperature explorer skipped during grading)")
        return None

    widgets, display = _ipywidgets()
    if widgets is None:
        print("ipywidgets is not installed: showing a few fixed temperatures instead.")
        for beta in static_betas:
            _draw_temperature(softargmax, scores, values, beta, labels)
            plt.show()
        return None

    # FloatLogSlider and Output exist in ipywidgets 7 and 8 alike.
    lo, hi = beta_range
    slider = widgets.FloatLogSlider(value=1.0, base=10, min=math.log10(lo), max=math.log10(hi),
                                    step=0.05, description="β", continuous_update=False)
    out = widgets.Output()

    def redraw(change=None):
        with out:
            out.clear_output(wait=True)
            _draw_temperature(softargmax, scores, values, slider.value, labels)
            plt.show()

    slider.observe(redraw, names="value")
    box = widgets.VBox([slider, out])
    display(box)
    redraw()
    return box


def generation_explorer(generate_text, prompt="", temperature=(0.05, 2.0, 0.8), top_p=(0.05, 1.0, 0.9),
                        static_settings=((0.0, 1.0), (1.0, 0.9))):
    """Sliders for the sampling temperature and top-p, and a button that regenerates text with
    ``generate_text(prompt, temperature, top_p) -> str``. Same rules as ``temperature_explorer``:
    skipped while grading, a few fixed settings when ipywidgets is missing."""
    if runtime.is_grading():
        print("(generation explorer skipped during grading)")
        return None
    widgets, display = _ipywidgets()
    if widgets is None:
        print("ipywidgets is not installed: showing a few fixed settings instead.")
        for t, p in static_settings:
            print(f"[temperature {t}, top-p {p}] {generate_text(prompt, t, p)}")
        return None
    prompt_box = widgets.Text(value=prompt, description="prompt")
    t_slider = widgets.FloatSlider(min=temperature[0], max=temperature[1], value=temperature[2], step=0.05,
                                   description="temperature", continuous_update=False)
    p_slider = widgets.FloatSlider(min=top_p[0], max=top_p[1], value=top_p[2], step=0.05,
                                   description="top-p", continuous_update=False)
    button = widgets.Button(description="generate")
    out = widgets.Output()

    def regenerate(_=None):
        with out:
            out.clear_output(wait=True)
            print(generate_text(prompt_box.value, t_slider.value, p_slider.value))

    button.on_click(regenerate)
    box = widgets.VBox([prompt_box, t_slider, p_slider, button, out])
    display(box)
    regenerate()
    return box
