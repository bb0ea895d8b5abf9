import numpy as np
import pytest
import torch

from course_utils import checks
from course_utils.checks import CheckError, check_close, check_shape, check_true


def test_shape_mismatch_names_the_dimension():
    with pytest.raises(CheckError) as err:
        check_shape(torch.zeros(2, 4, 5), (2, 3, 5), "out", dims=("batch", "n_queries", "d_v"))
    msg = str(err.value)
    assert "(batch=2, n_queries=3, d_v=5)" in msg
    assert "dimension 1 (n_queries) should be 3, got 4" in msg


def test_shape_wrong_rank():
    with pytest.raises(CheckError, match="should have 2 dimensions"):
        check_shape(torch.zeros(3), (3, 1), "y")


def test_shape_transposed_gets_a_hint():
    with pytest.raises(CheckError, match="wrong order"):
        check_shape(torch.zeros(5, 3), (3, 5), "A")


def test_shape_wildcard_and_pass():
    check_shape(torch.zeros(7, 3), (None, 3), "x")  # no error


def test_close_reports_largest_error_and_where():
    expected = torch.zeros(2, 3)
    actual = expected.clone()
    actual[1, 2] = 0.5
    actual[0, 0] = 0.1
    with pytest.raises(CheckError) as err:
        check_close(actual, expected, "H")
    msg = str(err.value)
    assert "wrong in 2 of 6 entries" in msg
    assert "0.5 at index (1, 2)" in msg
    assert "got 0.5, expected 0" in msg


def test_close_names_a_known_mistake():
    expected = torch.tensor([0.2, 0.8])
    unscaled = torch.tensor([0.05, 0.95])
    with pytest.raises(CheckError) as err:
        check_close(unscaled, expected, "A", mistakes=[("attention *without* the 1/sqrt(d_k) scale", unscaled)])
    assert f"{checks.MISTAKE_PREFIX} your result matches attention *without* the 1/sqrt(d_k) scale" in str(err.value)


def test_close_does_not_name_a_mistake_that_does_not_match():
    with pytest.raises(CheckError) as err:
        check_close(torch.tensor([0.3, 0.7]), torch.tensor([0.2, 0.8]), "A",
                    mistakes=[("something else", torch.tensor([0.05, 0.95]))])
    assert checks.MISTAKE_PREFIX not in str(err.value)


def test_close_explains_nan():
    with pytest.raises(CheckError, match="NaN or inf.*unstable softmax"):
        check_close(torch.tensor([float("nan"), 1.0]), torch.tensor([0.0, 1.0]), "p")


def test_close_explains_none_and_tuples_and_types():
    with pytest.raises(CheckError, match="forget a `return`"):
        check_close(None, torch.zeros(1), "out")
    with pytest.raises(CheckError, match="tuple of 2 items"):
        check_close((torch.zeros(1), torch.zeros(1)), torch.zeros(1), "out")
    with pytest.raises(CheckError, match="should be a torch.Tensor"):
        check_close("abc", torch.zeros(1), "out")


def test_close_accepts_numpy_and_tolerances():
    check_close(np.array([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-7]), "x")
    with pytest.raises(CheckError):
        check_close(torch.tensor([1.0]), torch.tensor([1.01]), "x", atol=1e-3, rtol=0)
    check_close(torch.tensor([1.0]), torch.tensor([1.01]), "x", atol=0.02)


def test_check_true():
    check_true(True, "never shown")
    with pytest.raises(CheckError, match="rows must sum to 1"):
        check_true(False, "rows must sum to 1")


def test_check_error_is_an_assertion_error():
    assert issubclass(CheckError, AssertionError)  # nbgrader counts the cell as failed


def test_forbid_blocks_and_restores():
    x = torch.randn(3)
    original = torch.softmax
    with checks.forbid("torch.softmax", "torch.nn.functional.softmax", "torch.Tensor.softmax"):
        with pytest.raises(CheckError, match="`torch.softmax` may not be used"):
            torch.softmax(x, 0)
        with pytest.raises(CheckError, match="torch.nn.functional.softmax"):
            torch.nn.functional.softmax(x, 0)
        with pytest.raises(CheckError, match="torch.Tensor.softmax"):
            x.softmax(0)
        assert torch.exp(x).shape == (3,)  # everything else still works
    assert torch.softmax is original
    torch.testing.assert_close(x.softmax(0), torch.softmax(x, 0))


def test_forbid_restores_after_an_exception():
    with pytest.raises(ValueError):
        with checks.forbid("torch.softmax"):
            raise ValueError
    assert torch.softmax(torch.zeros(2), 0).sum() == 1
