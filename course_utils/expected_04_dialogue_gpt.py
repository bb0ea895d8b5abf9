"""Expected values of the visible tests of notebook 04_dialogue_gpt, one row per line, computed from
the reference solution by

    python -m course_utils.instructor.expected 04_dialogue_gpt

Do not edit. A key ("A", "name") is the value of A when the known mistake "name" is made."""
from torch import float64, tensor

test_dialogue_loss = {
    "loss": 1.5347898,
    ("loss", "loss_not_shifted"): 1.6770734,
    ("loss", "padding_supervised"): 1.6248107,
}
