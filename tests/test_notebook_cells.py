"""Single cells of the solution notebooks, run here with data or devices that the CI machine lacks:
fast mode stays small on the full CIFAR-10 (03), a missing punkt_tab stops only the cells that need it (04),
and sampling works on a GPU with the notebook's CPU generators (04), on a fake CUDA device."""
import nbformat
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

import nltk
from conftest import ROOT
from course_utils import data, text


def run_cells(aid, cell_ids, namespace=None):
    """Run the cells ``cell_ids`` of solution notebook ``aid``, in that order, in one namespace."""
    cells = {c.get("id"): c for c in nbformat.read(ROOT / "solutions" / aid / f"{aid}.ipynb", as_version=4).cells}
    namespace = {} if namespace is None else namespace
    for cell_id in cell_ids:
        exec(compile(cells[cell_id].source, f"{aid}:{cell_id}", "exec"), namespace)
    return namespace


# ---------------------------------------------------------------- 03: fast mode on the full data set


def fake_cifar10(n_train, n_test):
    """CIFAR-10 of the given sizes, sorted by class as a folder copy is; the images share one buffer."""
    def split(n):
        return torch.zeros(1, 3, 32, 32, dtype=torch.uint8).expand(n, -1, -1, -1), torch.arange(n) * 10 // n
    return {"train": split(n_train), "test": split(n_test), "source": "download (full CIFAR-10)"}


def test_fast_mode_stays_small_on_the_full_cifar10(monkeypatch):
    monkeypatch.setattr(data, "cifar10", lambda *args, **kwargs: fake_cifar10(50_000, 10_000))
    ns = run_cells("03_vit", ["setup", "cell-003"])
    n_train, n_val, n_test = len(ns["train_set"][0]), len(ns["val_set"][0]), len(ns["test_set"][0])
    assert n_train + n_val <= 4000 and n_test <= 1000, \
        f"fast mode trains on {n_train} images and tests on {n_test}: cap them whatever the source"
    for name in ("train_set", "val_set", "test_set"):
        assert ns[name][1].unique().tolist() == list(range(10)), f"{name} lost classes: take a random subset"


def test_normal_mode_keeps_every_image(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "0")
    monkeypatch.setattr(data, "cifar10", lambda *args, **kwargs: fake_cifar10(6000, 1500))
    ns = run_cells("03_vit", ["setup", "cell-003"])
    assert len(ns["train_set"][0]) + len(ns["val_set"][0]) == 6000 and len(ns["test_set"][0]) == 1500


# ---------------------------------------------------------------- 04: no punkt_tab


def test_without_punkt_tab_only_the_cells_that_tokenize_fail(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "BUNDLED", tmp_path / "no-data")
    monkeypatch.setattr(nltk.data, "path", [])
    monkeypatch.setattr(text, "_punkt_found", False)
    ns = run_cells("04_dialogue_gpt", ["setup"])
    assert "DEVICE" in ns, "the setup cell must not need any data"
    run_cells("04_dialogue_gpt", ["tokenizer"], ns)
    with pytest.raises(data.DataError, match="punkt_tab.*pip install -e ."):
        run_cells("04_dialogue_gpt", ["test-tokenizer"], ns)
    run_cells("04_dialogue_gpt", ["dialogue-gpt", "filters", "sample-next", "generate", "cell-031"], ns)   # the KV cache timing


# ---------------------------------------------------------------- 04: sampling on a GPU


def cuda_generator_rule(monkeypatch):
    """torch.multinomial as on CUDA: the generator must be on the device of the probabilities."""
    multinomial = torch.multinomial

    def checked(probs, num_samples, replacement=False, *, generator=None):
        if generator is not None and generator.device.type != probs.device.type:
            raise RuntimeError(f"Expected a '{probs.device.type}' device type for generator but found "
                               f"'{generator.device.type}'")
        return multinomial(probs, num_samples, replacement, generator=generator)
    monkeypatch.setattr(torch, "multinomial", checked)


def sample_on_fake_cuda(sample_next):
    with FakeTensorMode(allow_non_fake_inputs=True):        # tensors that say "cuda" and hold no data
        logits = torch.empty(2, 3, 50, device="cuda")
        ids = sample_next(logits, temperature=0.8, top_k=10, top_p=0.9, generator=torch.Generator().manual_seed(0))
        return ids.device, tuple(ids.shape)


def test_sampling_works_on_a_gpu_with_the_notebooks_cpu_generator(monkeypatch):
    ns = run_cells("04_dialogue_gpt", ["setup", "filters", "sample-next"])
    cuda_generator_rule(monkeypatch)
    assert sample_on_fake_cuda(ns["sample_next"]) == (torch.device("cuda", 0), (2, 3))


def test_the_gpu_check_catches_sampling_on_the_gpu_with_a_cpu_generator(monkeypatch):
    ns = run_cells("04_dialogue_gpt", ["setup", "filters", "sample-next"])
    cells = {c.get("id"): c for c in nbformat.read(ROOT / "solutions" / "04_dialogue_gpt" / "04_dialogue_gpt.ipynb",
                                                   as_version=4).cells}
    source = cells["sample-next"].source
    assert source.count(".float().cpu()") == 1
    exec(source.replace(".float().cpu()", ".float()"), ns)     # torch.multinomial(probs, 1, generator=generator)
    cuda_generator_rule(monkeypatch)
    with pytest.raises(RuntimeError, match="device type for generator"):
        sample_on_fake_cuda(ns["sample_next"])


def test_the_text_tells_students_to_draw_on_the_cpu():
    cells = {c.get("id"): c for c in nbformat.read(ROOT / "solutions" / "04_dialogue_gpt" / "04_dialogue_gpt.ipynb",
                                                   as_version=4).cells}
    assert "torch.multinomial(probs.cpu(), 1,\ngenerator=generator)" in cells["cell-016"].source
    assert ".to(logits.device)" in cells["cell-016"].source
