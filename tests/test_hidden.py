"""course_utils.instructor.hidden: the hidden tests' helpers that students must not see. Its
seq2seq reference is checked by test_autograde (notebook 05's solution earns full marks with it)."""
import torch

from course_utils.instructor import hidden


class Chain(torch.nn.Module):
    TABLE = torch.eye(6)


def test_chain_model_changes_only_the_rows_given():
    model = hidden.chain_model(Chain, bos=[0, 0, .3, .7, 0, 0], c=[0, 0, 1, 0, 0, 0])
    assert isinstance(model, Chain)
    expected = torch.eye(6)
    expected[hidden.WORDS.index("bos")] = torch.tensor([0, 0, .3, .7, 0, 0])
    expected[5] = torch.tensor([0.0, 0, 1, 0, 0, 0])
    assert torch.equal(model.TABLE, expected)
    assert torch.equal(Chain.TABLE, torch.eye(6))  # the class keeps its table
