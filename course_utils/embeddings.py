"""Word vectors: GloVe 6B 50d (a bundled subset for the course's corpora, else Stanford's vectors, downloaded
and checked), a small word2vec (skip-gram with negative sampling) trained on a corpus, and a token embedding
that adds fixed pretrained vectors through a learned projection (notebook 04)."""

import gzip
import hashlib
import zipfile

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import data

GLOVE_ZIP_URL = "https://nlp.stanford.edu/data/glove.6B.zip"   # 862 MB: every size of GloVe 6B
GLOVE_50D_SHA256 = "d8f717f8dd4b545cb7f418ef9f3d0c3e6e68a6f48b97d32f8b7aae40cb31f96f"  # glove.6B.50d.txt
BUNDLED_GLOVE = {"multi30k": "glove/glove.6B.50d.multi30k-en.txt.gz",       # every word of these corpora
                 "shakespeare": "glove/glove.6B.50d.shakespeare.txt.gz"}    # that GloVe knows, lowercased
BUNDLED_GLOVE_CORPUS = {"multi30k": "the English side of Multi30k", "shakespeare": "Tiny Shakespeare"}


def _download_glove():
    """glove.6B.50d.txt in the cache, extracted from Stanford's zip (862 MB, once) and checked by sha256;
    ``None`` when offline or when the download fails (it then says why)."""
    dest = data.cache_dir() / "glove.6B.50d.txt"
    if dest.exists() and data.sha256_of(dest) == GLOVE_50D_SHA256:
        return dest
    if data.offline():
        return None
    zip_path = data.cache_dir() / "glove.6B.zip"
    done = False
    try:
        print("Downloading GloVe 6B (862 MB, once); only its 50d vectors are kept.")
        data.download(GLOVE_ZIP_URL, zip_path, sha256=None)            # the extracted file is checked below
        digest = hashlib.sha256()
        with zipfile.ZipFile(zip_path) as z, z.open("glove.6B.50d.txt") as src, open(dest, "wb") as out:
            for block in iter(lambda: src.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != GLOVE_50D_SHA256:
            raise data.DataError("The GloVe download is corrupt (sha256 mismatch); it was deleted. Run the cell again.")
        done = True
        return dest
    except data.DownloadError as err:
        print(err)
        return None
    except zipfile.BadZipFile as err:
        raise data.DataError(f"The GloVe download is corrupt ({err}); it was deleted. Run the cell again.") from err
    finally:
        zip_path.unlink(missing_ok=True)
        if not done:
            dest.unlink(missing_ok=True)                           # never keep a partial or corrupt extract


def glove(words, subset=None):
    """GloVe 6B 50d vectors of ``words``: a dict word -> tensor (50,), for the words GloVe knows.

    ``subset="shakespeare"`` (or ``"multi30k"``) reads the bundled subset that holds every word of that
    corpus, lowercased, whenever it is there, online or not, and downloads nothing (it is missing only when
    the helpers were installed without data/; then the full vectors are downloaded). Without ``subset`` the
    full vectors are downloaded online, and offline the Multi30k subset is used."""
    if subset is not None and subset not in BUNDLED_GLOVE:
        raise ValueError(f"subset must be one of {sorted(BUNDLED_GLOVE)}, not {subset!r}")
    wanted = set(words)
    name = subset or "multi30k"
    bundled = data.BUNDLED / BUNDLED_GLOVE[name]
    path = _download_glove() if subset is None or not bundled.exists() else None
    if path is None:
        if not bundled.exists():
            raise data.DataError("Could not download GloVe (offline, or the download failed) and there is no "
                                 f"bundled GloVe subset to use instead. {data.how_to_restore_data(bundled)}")
        print(f"GloVe: using the bundled subset data/{BUNDLED_GLOVE[name]}, no download. It holds every word of "
              f"{BUNDLED_GLOVE_CORPUS[name]} that GloVe knows (the {name} vocabulary only).")
        path = bundled
    elif subset is not None:
        print(f"GloVe: the bundled subset data/{BUNDLED_GLOVE[name]} is missing, so the full vectors were used.")
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


class PretrainedEmbedding(nn.Module):
    """A token embedding whose vectors are ``embedding.weight + proj(vectors)``: a learned table plus fixed
    pretrained vectors (rows of zeros for words they lack) through a learned projection that starts at zero.

    Rare words thereby share what the projection learns from frequent words with similar vectors. With
    tied input and output embeddings, use ``TiedHead(this)`` as the output layer."""

    def __init__(self, embedding, vectors):
        super().__init__()
        if vectors.shape[0] != embedding.num_embeddings:
            raise ValueError(f"{vectors.shape[0]} pretrained vectors for a vocabulary of {embedding.num_embeddings}")
        self.embedding = embedding
        self.register_buffer("vectors", vectors / vectors.std())      # unit scale, whatever the source
        self.proj = nn.Linear(vectors.shape[1], embedding.embedding_dim, bias=False)
        nn.init.zeros_(self.proj.weight)
        self._weight = (None, None)   # (what it was computed from, weight) while no gradient is recorded

    @property
    def weight(self):
        """(V, dim). Without gradients (generation, evaluation) it is computed once and kept until a weight
        changes: recomputed for every token, the (V, 50) x (50, dim) product cost a generation step 3-7 ms
        on a CPU, more than the rest of a cached step."""
        if torch.is_grad_enabled():
            return self.embedding.weight + self.proj(self.vectors)
        # ._version counts in-place changes (an optimizer step); data_ptr changes with a device move
        key = tuple((t.data_ptr(), t._version) for t in (self.embedding.weight, self.proj.weight, self.vectors))
        if self._weight[0] != key:
            self._weight = (key, self.embedding.weight + self.proj(self.vectors))
        return self._weight[1]

    def forward(self, ids):
        return self.embedding(ids) + self.proj(self.vectors[ids])


class TiedHead(nn.Module):
    """Output layer h -> h @ E.T, where E is the (current) weight of ``embedding``."""

    def __init__(self, embedding):
        super().__init__()
        self.embedding = embedding

    def forward(self, h):
        return h @ self.embedding.weight.T


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
