"""Word vectors for notebook 05: GloVe 6B 50d (downloaded and checked online, else the bundled
Multi30k subset) and a small word2vec (skip-gram with negative sampling) trained on a corpus."""

import gzip
import hashlib
import urllib.error
import urllib.request
import zipfile

import torch
import torch.nn.functional as F

from . import data

GLOVE_ZIP_URL = "https://nlp.stanford.edu/data/glove.6B.zip"
GLOVE_50D_SHA256 = "d8f717f8dd4b545cb7f418ef9f3d0c3e6e68a6f48b97d32f8b7aae40cb31f96f"  # glove.6B.50d.txt
BUNDLED_GLOVE = "glove/glove.6B.50d.multi30k-en.txt.gz"


def _download_glove():
    """glove.6B.50d.txt in the cache, extracted from Stanford's zip (822 MB, once) and checked."""
    dest = data.cache_dir() / "glove.6B.50d.txt"
    if dest.exists() and data.sha256_of(dest) == GLOVE_50D_SHA256:
        return dest
    if data.offline():
        return None
    zip_path = data.cache_dir() / "glove.6B.zip"
    try:
        print("Downloading GloVe 6B (822 MB, once)...")
        urllib.request.urlretrieve(GLOVE_ZIP_URL, zip_path)
        with zipfile.ZipFile(zip_path) as z, z.open("glove.6B.50d.txt") as src, open(dest, "wb") as out:
            digest = hashlib.sha256()
            for block in iter(lambda: src.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != GLOVE_50D_SHA256:
            dest.unlink()
            raise data.DataError("The GloVe download is corrupt (sha256 mismatch); it was deleted. Run the cell again.")
        return dest
    except (urllib.error.URLError, TimeoutError, ConnectionError, zipfile.BadZipFile) as err:
        print(f"Could not download GloVe ({err}): using the bundled subset.")
        return None
    finally:
        zip_path.unlink(missing_ok=True)


def glove(words):
    """GloVe 6B 50d vectors of ``words``: a dict word -> tensor (50,), for the words GloVe knows."""
    wanted = set(words)
    path = _download_glove()
    if path is None:
        path = data.BUNDLED / BUNDLED_GLOVE
        if not path.exists():
            raise data.DataError(f"No internet connection and no bundled GloVe subset at {path}.")
        print(f"Using the bundled GloVe subset ({BUNDLED_GLOVE}): the Multi30k English vocabulary only.")
    opener = gzip.open if path.suffix == ".gz" else open
    table = {}
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            word, rest = line.split(" ", 1)
            if word in wanted:
                table[word] = torch.tensor([float(v) for v in rest.split()])
    return table


def embedding_matrix(itos, table, dim=50, std=0.1, generator=None):
    """A (len(itos), dim) matrix: the vector of each known word, small random vectors for the rest.
    Returns the matrix and the fraction of words found."""
    matrix = torch.randn(len(itos), dim, generator=generator) * std
    found = 0
    for i, word in enumerate(itos):
        if word in table:
            matrix[i] = table[word]
            found += 1
    return matrix, found / len(itos)


def train_word2vec(sentences, vocab_size, dim=50, window=2, negatives=5, epochs=2, batch_size=4096,
                   lr=0.01, generator=None):
    """Skip-gram with negative sampling on id sequences ``sentences``. Returns the (vocab_size, dim)
    input vectors. Negatives are drawn from the unigram distribution to the power 3/4."""
    pairs = []
    for ids in sentences:
        for i, center in enumerate(ids):
            for j in range(max(0, i - window), min(len(ids), i + window + 1)):
                if j != i:
                    pairs.append((center, ids[j]))
    pairs = torch.tensor(pairs)
    counts = torch.bincount(torch.tensor([i for ids in sentences for i in ids]), minlength=vocab_size).float()
    noise = counts.pow(0.75)
    noise /= noise.sum()
    w_in = torch.nn.Parameter(torch.randn(vocab_size, dim, generator=generator) * 0.1)
    w_out = torch.nn.Parameter(torch.zeros(vocab_size, dim))
    optimizer = torch.optim.Adam([w_in, w_out], lr=lr)
    for _ in range(epochs):
        for batch in pairs[torch.randperm(len(pairs), generator=generator)].split(batch_size):
            center, context = w_in[batch[:, 0]], w_out[batch[:, 1]]                        # (B, dim)
            negative = w_out[torch.multinomial(noise, len(batch) * negatives, replacement=True,
                                               generator=generator).view(len(batch), negatives)]  # (B, k, dim)
            loss = -(F.logsigmoid((center * context).sum(-1)).mean()
                     + F.logsigmoid(-(negative @ center[:, :, None]).squeeze(-1)).sum(-1).mean())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return w_in.detach()
