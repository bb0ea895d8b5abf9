"""Runtime: pick the device, seed everything, and know how the notebook is being run.

A notebook runs in one of three modes:

- normal: a student works through it, on Colab or a laptop;
- fast (``COURSE_FAST=1``): tests shrink data and epochs so it runs in seconds;
- grading: nbgrader sets ``NBGRADER_EXECUTION`` to ``autograde`` or ``validate``
  while it runs a submission; long training is skipped then.
"""

import os
import random
import sys

import numpy as np
import torch

_TRUE = {"1", "true", "yes", "on"}


def get_device(prefer=None):
    """The best available device: cuda, then mps (Apple silicon), then cpu.

    ``prefer`` (or the environment variable ``COURSE_DEVICE``) forces one, e.g. "cpu".
    """
    prefer = prefer or os.environ.get("COURSE_DEVICE")
    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed=0):
    """Seed Python, NumPy and torch (all devices) so two runs give the same numbers."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.backends.cudnn.benchmark = False
    return seed


def grading_mode():
    """``"autograde"`` or ``"validate"`` while nbgrader runs the notebook, else ``None``."""
    mode = os.environ.get("NBGRADER_EXECUTION", "").strip().lower()
    return mode or None


def is_grading():
    return grading_mode() is not None


def is_fast():
    """True when ``COURSE_FAST=1``: shrink data and epochs (used by the tests)."""
    return os.environ.get("COURSE_FAST", "").strip().lower() in _TRUE


def on_colab():
    return "google.colab" in sys.modules


def budget(full, fast=None, grading=0):
    """How much work a cell should do in the current mode.

    ``full`` normally, ``fast`` under ``COURSE_FAST=1`` (defaults to ``full``), and
    ``grading`` while nbgrader grades (defaults to 0, i.e. skip). Grading wins over fast.

        epochs = runtime.budget(full=10, fast=1)   # 0 while grading
    """
    if is_grading():
        return grading
    if is_fast():
        return full if fast is None else fast
    return full


def describe(device=None):
    """One line that tells the student where and how the notebook runs."""
    device = device or get_device()
    mode = grading_mode() or ("fast" if is_fast() else "normal")
    where = "Colab" if on_colab() else "local"
    return f"torch {torch.__version__} | device: {device} | mode: {mode} | {where}"
