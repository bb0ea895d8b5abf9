"""Large downloads (CIFAR-10, GloVe): a progress bar, a timeout, the checksum, no partial file left behind,
errors a student understands, and the bundled GloVe subsets used whenever they are there. Nothing leaves
this machine: downloads come from file:// URLs or a local HTTP server that stalls or drops the connection."""
import hashlib
import http.server
import io
import pickle
import sys
import tarfile
import threading
import time
import types
import zipfile

import nbformat
import numpy as np
import pytest

from conftest import ROOT
from course_utils import data, embeddings


@pytest.fixture
def online(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSE_OFFLINE", "0")
    return tmp_path / "cache"


class Bar:
    """Stands in for tqdm and records what a download shows."""
    made = []

    def __init__(self, total=None, **kwargs):
        self.total, self.n, self.kwargs = total, 0, kwargs
        Bar.made.append(self)

    def update(self, k):
        self.n += k

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture
def bars(monkeypatch):
    Bar.made = []
    monkeypatch.setattr(data, "tqdm", Bar)
    return Bar.made


@pytest.fixture
def bad_server():
    """A local HTTP server: /stall sends 10 of 1,000 bytes and then nothing; /drop sends 10 and hangs up."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            if self.path == "/stall":
                time.sleep(3)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_shows_a_progress_bar(tmp_path, bars):
    src = tmp_path / "big.bin"
    src.write_bytes(b"z" * 3_000_000)
    data.download(src.as_uri(), tmp_path / "out.bin", hashlib.sha256(src.read_bytes()).hexdigest())
    assert len(bars) == 1, "a download must show one progress bar"
    assert bars[0].total == 3_000_000 and bars[0].n == 3_000_000
    assert "out.bin" in bars[0].kwargs.get("desc", "")


@pytest.mark.parametrize("path", ["/stall", "/drop"])
def test_a_stalled_or_dropped_download_times_out_and_leaves_nothing(tmp_path, bad_server, path):
    start = time.monotonic()
    with pytest.raises(data.DownloadError, match="failed.*partial file was deleted.*run the cell again"):
        data.download(bad_server + path, tmp_path / "out.bin", "0" * 64, timeout=0.5)
    assert time.monotonic() - start < 2.5, "the timeout was not applied"
    assert list(tmp_path.iterdir()) == [], "a partial download was left behind"


def test_fetch_falls_back_when_a_download_fails_midway(online, bad_server, capsys):
    assert data.fetch(bad_server + "/drop", "0" * 64, "thing.bin") is None
    assert "Could not download thing.bin" in capsys.readouterr().out
    assert list(online.iterdir()) == []


def test_a_corrupt_download_still_raises(online, tmp_path):
    (tmp_path / "src.bin").write_bytes(b"not what was expected")
    with pytest.raises(data.DataError, match="corrupt"):
        data.fetch((tmp_path / "src.bin").as_uri(), "0" * 64, "thing.bin")
    assert list(online.iterdir()) == []


# ---------------------------------------------------------------- CIFAR-10


def _fake_cifar_tarball(path):
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            entry = {"data": rng.integers(0, 255, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]}
            blob = pickle.dumps(entry)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cifar10_is_downloaded_with_a_progress_bar_and_checked(online, tmp_path, monkeypatch, bars):
    src = tmp_path / "cifar-10-python.tar.gz"
    monkeypatch.setattr(data, "CIFAR10", (src.as_uri(), _fake_cifar_tarball(src)))
    d = data.cifar10()
    assert d["source"].startswith("download") and d["train"][0].shape == (20, 3, 32, 32)
    assert d["test"][0].shape == (4, 3, 32, 32) and len(bars) == 1
    assert (online / "cifar-10-python.tar.gz").exists(), "the download must be cached"


def test_a_corrupt_cifar10_download_is_deleted_with_a_clear_error(online, tmp_path, monkeypatch):
    src = tmp_path / "cifar-10-python.tar.gz"
    _fake_cifar_tarball(src)
    monkeypatch.setattr(data, "CIFAR10", (src.as_uri(), "0" * 64))
    with pytest.raises(data.DataError, match="corrupt.*run the cell again"):
        data.cifar10()
    assert list(online.iterdir()) == []


def test_cifar10_url_and_checksum_are_the_authors_archive():
    url, sha = data.CIFAR10
    assert url == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert sha == "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
    assert "import torchvision" not in (ROOT / "course_utils" / "data.py").read_text(), \
        "torchvision's download has no timeout: course_utils.data downloads CIFAR-10 itself"


# ---------------------------------------------------------------- GloVe


def _fake_glove_zip(path, lines=b"the 0.1 0.2\nman 0.3 0.4\n"):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("glove.6B.50d.txt", lines)
    return hashlib.sha256(lines).hexdigest()


def test_glove_zip_download_has_a_progress_bar_and_keeps_only_the_checked_vectors(online, tmp_path, monkeypatch, bars):
    src = tmp_path / "glove.6B.zip"
    monkeypatch.setattr(embeddings, "GLOVE_50D_SHA256", _fake_glove_zip(src))
    monkeypatch.setattr(embeddings, "GLOVE_ZIP_URL", src.as_uri())
    path = embeddings._download_glove()
    assert path.read_bytes() == b"the 0.1 0.2\nman 0.3 0.4\n" and len(bars) == 1
    assert sorted(p.name for p in online.iterdir()) == ["glove.6B.50d.txt"], "the 862 MB zip must not be kept"


@pytest.mark.parametrize("damage", ["not a zip", "wrong vectors"])
def test_a_corrupt_glove_download_leaves_nothing_and_says_so(online, tmp_path, monkeypatch, damage):
    src = tmp_path / "glove.6B.zip"
    if damage == "not a zip":
        src.write_bytes(b"<html>a captive portal</html>")
    else:
        _fake_glove_zip(src)
    monkeypatch.setattr(embeddings, "GLOVE_ZIP_URL", src.as_uri())
    with pytest.raises(data.DataError, match="GloVe download is corrupt.*Run the cell again"):
        embeddings._download_glove()
    assert list(online.iterdir()) == []


def test_a_failed_glove_download_falls_back_to_the_bundle(online, bad_server, monkeypatch, capsys):
    monkeypatch.setattr(embeddings, "GLOVE_ZIP_URL", bad_server + "/drop")
    table = embeddings.glove(["man", "dog"])
    out = capsys.readouterr().out
    assert set(table) == {"man", "dog"} and "failed" in out and "bundled subset" in out
    assert list(online.iterdir()) == []


@pytest.mark.parametrize("subset", ["shakespeare", "multi30k"])
def test_a_bundled_glove_subset_is_used_online_too(online, monkeypatch, capsys, subset):
    def no_download():
        raise AssertionError("the bundled subset is there: nothing may be downloaded")
    monkeypatch.setattr(embeddings, "_download_glove", no_download)
    assert embeddings.glove(["man"], subset=subset)["man"].shape == (50,)
    out = capsys.readouterr().out
    assert f"bundled subset data/{embeddings.BUNDLED_GLOVE[subset]}, no download" in out


@pytest.mark.parametrize("aid", ["04_dialogue_gpt", "05_translator"])
def test_notebooks_04_and_05_use_their_bundled_glove_subset(aid):
    calls = [line for c in nbformat.read(ROOT / "solutions" / aid / f"{aid}.ipynb", as_version=4).cells
             if c.cell_type == "code" for line in c.source.splitlines() if "embeddings.glove(" in line]
    assert calls, f"{aid} no longer reads GloVe: update this test"
    for line in calls:
        assert "subset=" in line, f"{aid} would download the 862 MB GloVe zip: {line.strip()}"


# ---------------------------------------------------------------- what a missing data/ folder says


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "BUNDLED", tmp_path / "site-packages-has-no-data")
    monkeypatch.setenv("COURSE_OFFLINE", "1")


@pytest.mark.parametrize("where", ["local", "colab"])
def test_a_missing_data_folder_says_what_helps(no_data, monkeypatch, where):
    if where == "colab":
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    messages = []
    for load in (data.shakespeare, lambda: data.multi30k("val"), data.cifar10,
                 lambda: embeddings.glove(["man"], subset="multi30k")):
        with pytest.raises(data.DataError) as err:
            load()
        messages.append(str(err.value))
    for message in messages:
        assert "from a clone" not in message
        assert str(data.BUNDLED) in message, "the message must say where the file is expected"
        if where == "colab":
            assert "setup cell" in message and "Open in Colab" in message
        else:
            assert "pip install -e ." in message


def test_missing_punkt_tab_says_what_helps(no_data, monkeypatch):
    import nltk

    monkeypatch.setattr(nltk.data, "path", [])
    with pytest.raises(data.DataError) as err:
        data.setup_nltk()
    assert "punkt_tab" in str(err.value) and "pip install -e ." in str(err.value)
    assert "from a clone" not in str(err.value)
