"""Build the bundled GloVe subsets: the lines of GloVe 6B 50d whose word occurs in

* the English side of Multi30k (train, val and test2016), tokenized and lowercased as in notebook 05:
  data/glove/glove.6B.50d.multi30k-en.txt.gz;
* Tiny Shakespeare, every word tokenized (course_utils.text.word_tokenize, NLTK's with the same words on
  every NLTK version) and lowercased, as notebook 04 looks it up:
  data/glove/glove.6B.50d.shakespeare.txt.gz.

    python data/make_glove_subset.py PATH/TO/glove.6B.50d.txt.gz

The input is Stanford's glove.6B.50d.txt (gzipped or not); its sha256 is checked. Lines are copied
verbatim, in GloVe's order, so each subset is byte-for-byte a selection of the original.
"""
import gzip
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils import data  # noqa: E402
from course_utils.embeddings import GLOVE_50D_SHA256  # noqa: E402
from course_utils.text import word_tokenize  # noqa: E402

OUT = ROOT / "data" / "glove"


def multi30k_words():
    words = set()
    for split in ("train", "val", "test"):
        for line in data.multi30k(split)[1]:
            words.update(word_tokenize(line.lower(), language="english", preserve_line=True))
    return words


def shakespeare_words():
    return {word.lower() for turn in data.shakespeare().split("\n\n") for word in word_tokenize(turn)}


def main(source):
    subsets = {"glove.6B.50d.multi30k-en.txt.gz": multi30k_words(),
               "glove.6B.50d.shakespeare.txt.gz": shakespeare_words()}
    opener = gzip.open if source.endswith(".gz") else open
    digest, kept = hashlib.sha256(), {name: [] for name in subsets}
    with opener(source, "rb") as f:
        for line in f:
            digest.update(line)
            word = line.split(b" ", 1)[0].decode("utf-8")
            for name, words in subsets.items():
                if word in words:
                    kept[name].append(line)
    if digest.hexdigest() != GLOVE_50D_SHA256:
        sys.exit(f"{source} is not Stanford's glove.6B.50d.txt (sha256 mismatch)")
    OUT.mkdir(parents=True, exist_ok=True)
    for name, lines in kept.items():
        path = OUT / name
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as f:
            f.writelines(lines)
        print(f"{name}: {len(lines)} of {len(subsets[name])} words found ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main(sys.argv[1])
