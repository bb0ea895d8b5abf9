"""Data: get each dataset from the cache, a download checked by sha256, a local copy, or the small
subset bundled in ``data/``, and say plainly which one is used.

Downloads show a progress bar, give up after a minute without data, are checked by sha256, and never
leave a partial file behind.

Set ``COURSE_OFFLINE=1`` to never download (the tests do), ``COURSE_CACHE`` to move the cache
(default ``~/.cache/transformers-course``), and ``COURSE_CIFAR10`` to point at a local CIFAR-10 copy.
"""

import gzip
import hashlib
import http.client
import io
import os
import pickle
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import runtime

BUNDLED = Path(__file__).resolve().parents[1] / "data"

SHAKESPEARE = ("https://raw.githubusercontent.com/karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/"
               "data/tinyshakespeare/input.txt",
               "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed")

MULTI30K_URL = ("https://raw.githubusercontent.com/multi30k/dataset/a3d2e0d26b56f3846f66a952536ffed4e401d05a/"
                "data/task1/raw/{name}")
MULTI30K = {  # file -> sha256 of the gzipped file
    "train.de.gz": "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "val.de.gz": "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
    "test_2016_flickr.de.gz": "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
}
MULTI30K_SPLITS = {"train": "train", "val": "val", "test": "test_2016_flickr"}

CIFAR10 = ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",                      # 170 MB
           "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce")
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class DataError(RuntimeError):
    """The data could not be found or is damaged; the message says what to do."""


class DownloadError(DataError):
    """A download failed (no connection, a stall, a dropped connection); nothing of it was kept."""


# What breaks a download, as opposed to a full disk or a bug: the machine is offline, or the connection is bad.
NETWORK_ERRORS = (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException)


def how_to_restore_data(path):
    """What a student can do about a missing bundled file: the helpers were installed without data/."""
    if runtime.on_colab():
        how = ("On Colab, run the notebook's setup cell (its first code cell) again: it installs the course with "
               "its data. If that does not help, use Runtime → Disconnect and delete runtime, then open the "
               "notebook again from its Open in Colab badge and run the setup cell.")
    else:
        how = ("Install the course from its folder with `pip install -e .` (the helpers then read data/ beside "
               "them; a plain `pip install` copies them without the data), then restart the kernel.")
    return f"The course's data/ folder should hold {path}. {how}"


def cache_dir():
    path = Path(os.environ.get("COURSE_CACHE", Path.home() / ".cache" / "transformers-course"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def offline():
    return os.environ.get("COURSE_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url, dest, sha256, timeout=60):
    """Download ``url`` to ``dest`` with a progress bar and check its sha256 (``None``: the caller checks
    what it extracts). Gives up after ``timeout`` seconds without data. A partial or corrupt file never
    takes the place of ``dest``: it is deleted, and the error says what happened and what to do."""
    dest = Path(dest)
    partial = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as f:
            size = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=size, unit="B", unit_scale=True, desc=f"Downloading {dest.name}") as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    f.write(block)
                    bar.update(len(block))
            if size and f.tell() < size:                      # the server hung up early
                raise ConnectionError(f"the connection closed after {f.tell():,} of {size:,} bytes")
        got = sha256_of(partial)
        if sha256 is not None and got != sha256:
            raise DataError(f"The download of {dest.name} is corrupt (sha256 {got[:12]}…, expected "
                            f"{sha256[:12]}…). It was deleted; run the cell again to retry.")
        os.replace(partial, dest)
    except NETWORK_ERRORS as err:
        reason = getattr(err, "reason", None) or err
        raise DownloadError(f"The download of {dest.name} from {url} failed ({reason}); the partial file was "
                            "deleted. Check the internet connection and run the cell again.") from err
    finally:
        partial.unlink(missing_ok=True)
    return dest


def fetch(url, sha256, name):
    """The cached file ``name``, downloading it if needed. ``None`` when offline."""
    dest = cache_dir() / name
    if dest.exists():
        if sha256_of(dest) == sha256:
            return dest
        print(f"The cached {name} is damaged; deleting it and downloading it again.")
        dest.unlink()
    if offline():
        return None
    try:
        return download(url, dest, sha256)
    except DownloadError as err:
        print(f"Could not download {name} ({err.__cause__}): this machine seems to be offline, or its "
              "connection is bad.")
        return None


def _bundled(relative):
    path = BUNDLED / relative
    if not path.exists():
        raise DataError(f"The download failed or was switched off (COURSE_OFFLINE), and there is no bundled copy "
                        f"to use instead. Connect to the internet and run the cell again, or restore the "
                        f"bundled copy. {how_to_restore_data(path)}")
    return path


# ---------------------------------------------------------------- text


def setup_nltk():
    """Make NLTK's English ``punkt_tab`` tokenizer data available, offline if need be."""
    import nltk

    if (BUNDLED / "nltk_data").is_dir() and str(BUNDLED / "nltk_data") not in nltk.data.path:
        nltk.data.path.insert(0, str(BUNDLED / "nltk_data"))
    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
        return
    except LookupError:
        pass
    if not offline() and nltk.download("punkt_tab", quiet=True):
        return
    raise DataError("NLTK's 'punkt_tab' tokenizer data is missing and could not be downloaded. Connect to the "
                    "internet and run the cell again, or restore the bundled copy. "
                    + how_to_restore_data(BUNDLED / "nltk_data" / "tokenizers" / "punkt_tab"))


def shakespeare():
    """Tiny Shakespeare (1.1 MB of plays) as one string."""
    url, sha = SHAKESPEARE
    path = fetch(url, sha, "tinyshakespeare.txt")
    if path is not None:
        return path.read_text(encoding="utf-8")
    path = _bundled("tinyshakespeare/input.txt.gz")
    print(f"Using the bundled copy of Tiny Shakespeare ({path.relative_to(BUNDLED.parent)}).")
    return gzip.decompress(path.read_bytes()).decode("utf-8")


def multi30k(split):
    """Multi30k task 1, German→English: ``(german_lines, english_lines)`` for split ``train``
    (29,000 pairs), ``val`` (1,014) or ``test`` (test2016, 1,000)."""
    if split not in MULTI30K_SPLITS:
        raise ValueError(f"split must be one of {list(MULTI30K_SPLITS)}, not {split!r}")
    sides = []
    for lang in ("de", "en"):
        name = f"{MULTI30K_SPLITS[split]}.{lang}.gz"
        path = fetch(MULTI30K_URL.format(name=name), MULTI30K[name], f"multi30k-{name}")
        if path is None:
            path = _bundled(f"multi30k/{name}")
            if sha256_of(path) != MULTI30K[name]:
                raise DataError(f"The bundled {path} is damaged (sha256 mismatch). Restore it with git.")
        sides.append(gzip.decompress(path.read_bytes()).decode("utf-8").rstrip("\n").split("\n"))
    if len(sides[0]) != len(sides[1]):
        raise DataError(f"Multi30k {split}: {len(sides[0])} German but {len(sides[1])} English lines.")
    return sides[0], sides[1]


# ---------------------------------------------------------------- images


def _decode(jpeg_bytes):
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(jpeg_bytes)).convert("RGB"), dtype=np.uint8)


def _class_folder_images(members):
    """(split, class, bytes) triples -> {split: (images uint8 N×32×32×3, labels)}."""
    out = {}
    for split in ("train", "test"):
        items = sorted((cls, name, data) for s, cls, name, data in members if s == split)
        if items:
            images = np.stack([_decode(data) for _, _, data in items])
            labels = np.array([CIFAR10_CLASSES.index(cls) for cls, _, _ in items], dtype=np.int64)
            out[split] = (images, labels)
    return out


def _read_image_tree(path):
    """A folder (or .tar.gz of one) laid out as ``[prefix/]{train,test}/<class>/<image>``."""
    members = []
    if path.is_file():
        with tarfile.open(path) as tar:
            for member in tar:
                parts = member.name.split("/")
                if member.isfile() and len(parts) >= 3 and parts[-3] in ("train", "test") \
                        and parts[-2] in CIFAR10_CLASSES:
                    members.append((parts[-3], parts[-2], parts[-1], tar.extractfile(member).read()))
    else:
        for file in path.rglob("*"):
            if file.is_file() and file.parent.name in CIFAR10_CLASSES and file.parent.parent.name in ("train", "test"):
                members.append((file.parent.parent.name, file.parent.name, file.name, file.read_bytes()))
    return _class_folder_images(members)


def _read_batches(open_batch):
    """CIFAR-10's python batches, each opened by ``open_batch(name)`` -> {split: (images, labels)}."""
    out = {}
    for split, names in [("train", [f"data_batch_{i}" for i in range(1, 6)]), ("test", ["test_batch"])]:
        xs, ys = [], []
        for name in names:
            with open_batch(name) as f:
                entry = pickle.load(f, encoding="latin1")
            xs.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            ys.append(np.asarray(entry["labels"], dtype=np.int64))
        out[split] = (np.concatenate(xs), np.concatenate(ys))
    return out


def _read_local_cifar(root):
    """A torchvision folder (``cifar-10-batches-py``), a folder of images per class, or a .tar.gz of one."""
    root = Path(root)
    batches = next(iter(root.rglob("cifar-10-batches-py")), None) if root.is_dir() else None
    if batches is not None:
        return _read_batches(lambda name: open(batches / name, "rb"))
    if root.is_dir():
        tars = sorted(root.glob("*.tar.gz"))
        out = _read_image_tree(tars[0]) if tars and not any(root.glob("*/train")) else _read_image_tree(root)
    else:
        out = _read_image_tree(root)
    if set(out) != {"train", "test"}:
        raise DataError(f"{root} holds no CIFAR-10 train and test images (expected cifar-10-batches-py, "
                        "or train/<class>/*.jpg and test/<class>/*.jpg).")
    return out


def _downloaded_cifar():
    """The full CIFAR-10 from its authors' site (170 MB, checked, once), or ``None`` when offline."""
    path = fetch(*CIFAR10, "cifar-10-python.tar.gz")
    if path is None:
        return None
    with tarfile.open(path) as tar:   # checked by sha256 above, so its pickles are the authors'
        return _read_batches(lambda name: tar.extractfile(f"cifar-10-batches-py/{name}"))


def cifar10(root=None):
    """CIFAR-10 as uint8 tensors: ``{"train": (x, y), "test": (x, y), "source": str}`` with x of
    shape (N, 3, 32, 32). Tries, in order: ``root`` or ``$COURSE_CIFAR10``; the download (online, cached);
    the bundled subset (400 training and 100 test images per class)."""
    root = root or os.environ.get("COURSE_CIFAR10")
    if root:
        out, source = _read_local_cifar(root), f"local copy at {root}"
    else:
        out, source = _downloaded_cifar(), "download (full CIFAR-10)"
        if out is None:
            out = _read_image_tree(_bundled("cifar10/cifar10-subset.tar.gz"))
            source = "bundled subset"
            print("Using the small bundled CIFAR-10 subset (4,000 training and 1,000 test images): "
                  "accuracy will be much lower than on the full 50,000 images.")
    result = {split: (torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(y))
              for split, (x, y) in out.items()}
    result["source"] = source
    return result
