import random

import numpy as np
import pytest
import torch

from course_utils import runtime


@pytest.mark.parametrize("mode", ["autograde", "validate"])
def test_grading_mode_is_read_from_nbgrader(monkeypatch, mode):
    monkeypatch.setenv("NBGRADER_EXECUTION", mode)
    assert runtime.grading_mode() == mode
    assert runtime.is_grading()


def test_not_grading_by_default(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert runtime.grading_mode() is None
    assert not runtime.is_grading()


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("0", False), ("", False)])
def test_fast_mode(monkeypatch, value, expected):
    monkeypatch.setenv("COURSE_FAST", value)
    assert runtime.is_fast() is expected


def test_budget_per_mode(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setenv("COURSE_FAST", "0")
    assert runtime.budget(full=10, fast=1) == 10
    monkeypatch.setenv("COURSE_FAST", "1")
    assert runtime.budget(full=10, fast=1) == 1
    assert runtime.budget(full=10) == 10  # fast defaults to full
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert runtime.budget(full=10, fast=1) == 0  # grading wins over fast
    assert runtime.budget(full=10, fast=1, grading=2) == 2


def test_get_device_respects_preference(monkeypatch):
    assert runtime.get_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert runtime.get_device() == torch.device("cpu")


def test_get_device_falls_back_to_cpu(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert runtime.get_device() == torch.device("cpu")


def test_get_device_prefers_cuda(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.get_device() == torch.device("cuda")


def test_seed_everything_makes_runs_repeat():
    def draw():
        runtime.seed_everything(123)
        return random.random(), np.random.rand(), torch.rand(3)

    a, b = draw(), draw()
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    runtime.seed_everything(124)
    assert not torch.equal(torch.rand(3), a[2])


def test_describe_names_device_and_mode(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    line = runtime.describe(torch.device("cpu"))
    assert "device: cpu" in line and "mode: fast" in line
