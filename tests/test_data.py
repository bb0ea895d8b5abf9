"""Data loading: checksums, offline fallback to bundled copies, clear errors. Nothing is downloaded:
downloads are exercised with file:// URLs."""
import hashlib
import tarfile

import numpy as np
import pytest
from PIL import Image

from course_utils import data


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _file(tmp_path, content=b"hello course"):
    path = tmp_path / "source.bin"
    path.write_bytes(content)
    return path, hashlib.sha256(content).hexdigest()


def test_download_checks_sha256(tmp_path, cache):
    src, sha = _file(tmp_path)
    dest = data.download(src.as_uri(), tmp_path / "out.bin", sha)
    assert dest.read_bytes() == b"hello course"


def test_corrupt_download_is_rejected_and_not_kept(tmp_path, cache):
    src, _ = _file(tmp_path)
    with pytest.raises(data.DataError, match="corrupt.*run the cell again"):
        data.download(src.as_uri(), tmp_path / "out.bin", "0" * 64)
    assert not (tmp_path / "out.bin").exists()
    assert not (tmp_path / "out.bin.part").exists()


def test_fetch_uses_and_repairs_the_cache(tmp_path, cache, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_OFFLINE", "0")
    src, sha = _file(tmp_path)
    first = data.fetch(src.as_uri(), sha, "thing.bin")
    assert first.read_bytes() == b"hello course"
    first.write_bytes(b"damaged")
    again = data.fetch(src.as_uri(), sha, "thing.bin")
    assert again.read_bytes() == b"hello course"
    assert "damaged" in capsys.readouterr().out


def test_fetch_offline_returns_none(tmp_path, cache, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    src, sha = _file(tmp_path)
    assert data.fetch(src.as_uri(), sha, "thing.bin") is None


def test_fetch_unreachable_says_offline(tmp_path, cache, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_OFFLINE", "0")
    assert data.fetch((tmp_path / "missing.bin").as_uri(), "0" * 64, "thing.bin") is None
    assert "offline" in capsys.readouterr().out


def test_shakespeare_falls_back_to_bundled_copy(cache, capsys):
    text = data.shakespeare()
    assert text.startswith("First Citizen:") and len(text) == 1_115_394
    assert "bundled copy" in capsys.readouterr().out


@pytest.mark.parametrize("split, n", [("train", 29000), ("val", 1014), ("test", 1000)])
def test_multi30k_bundled(cache, split, n):
    de, en = data.multi30k(split)
    assert len(de) == len(en) == n


def test_multi30k_rejects_unknown_split():
    with pytest.raises(ValueError, match="split must be one of"):
        data.multi30k("test2017")


def test_missing_bundle_gives_a_clear_error(cache, monkeypatch, tmp_path):
    monkeypatch.setattr(data, "BUNDLED", tmp_path / "nowhere")
    with pytest.raises(data.DataError, match="no bundled copy to use instead.*pip install -e ."):
        data.shakespeare()


def test_punkt_tab_is_available_offline():
    data.setup_nltk()
    import nltk

    assert nltk.word_tokenize("Mr. Smith isn't here.") == ["Mr.", "Smith", "is", "n't", "here", "."]


def test_cifar10_bundled_subset(cache, capsys):
    d = data.cifar10()
    x, y = d["train"]
    assert x.shape == (4000, 3, 32, 32) and x.dtype.is_floating_point is False
    assert y.bincount().tolist() == [400] * 10
    assert d["test"][0].shape == (1000, 3, 32, 32)
    assert "accuracy will be much lower" in capsys.readouterr().out


def _fake_tree(root, n=2):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls in data.CIFAR10_CLASSES[:3]:
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i:04d}.png")


def test_cifar10_local_folder_and_tar(tmp_path):
    _fake_tree(tmp_path / "imgs")
    d = data.cifar10(tmp_path / "imgs")
    assert d["train"][0].shape == (6, 3, 32, 32) and sorted(set(d["train"][1].tolist())) == [0, 1, 2]
    with tarfile.open(tmp_path / "imgs.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "imgs", arcname="cifar10-images-jpg")
    d2 = data.cifar10(tmp_path / "imgs.tar.gz")
    assert (d2["train"][0] == d["train"][0]).all()


def test_cifar10_local_torchvision_layout(tmp_path):
    import pickle

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        entry = {"data": rng.integers(0, 255, (3, 3072), dtype=np.uint8), "labels": [0, 1, 2]}
        (folder / name).write_bytes(pickle.dumps(entry))
    d = data.cifar10(tmp_path)
    assert d["train"][0].shape == (15, 3, 32, 32) and d["test"][0].shape == (3, 3, 32, 32)
    first = np.frombuffer(pickle.loads((folder / "data_batch_1").read_bytes())["data"][0], dtype=np.uint8)
    assert (d["train"][0][0].flatten().numpy() == first).all()  # CHW order kept


def test_cifar10_bad_local_copy(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DataError, match="holds no CIFAR-10"):
        data.cifar10(tmp_path / "empty")


def test_bundled_files_match_data_readme(root):
    readme = (root / "data" / "README.md").read_text()
    for path in sorted((root / "data").rglob("*")):
        if path.is_file() and path.name != "README.md":
            rel = path.relative_to(root / "data").as_posix()
            assert rel in readme, f"data/{rel} is not listed in data/README.md"
            if path.suffix == ".gz":
                assert hashlib.sha256(path.read_bytes()).hexdigest() in readme, f"data/{rel}: sha256 not recorded"
