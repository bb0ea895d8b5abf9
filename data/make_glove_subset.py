"""Build data/glove/glove.6B.50d.multi30k-en.txt.gz: the lines of GloVe 6B 50d whose word occurs in the
English side of Multi30k (train, val and test2016, tokenized and lowercased as in notebook 05).

    python data/make_glove_subset.py PATH/TO/glove.6B.50d.txt.gz

The input is Stanford's glove.6B.50d.txt (gzipped or not); its sha256 is checked. Lines are copied
verbatim, in GloVe's order, so the subset is byte-for-byte a selection of the original.
"""
import gzip
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nltk import word_tokenize  # noqa: E402

from course_utils import data  # noqa: E402
from course_utils.embeddings import GLOVE_50D_SHA256  # noqa: E402

OUT = ROOT / "data" / "glove" / "glove.6B.50d.multi30k-en.txt.gz"


def main(source):
    words = set()
    for split in ("train", "val", "test"):
        for line in data.multi30k(split)[1]:
            words.update(word_tokenize(line.lower(), language="english", preserve_line=True))
    opener = gzip.open if source.endswith(".gz") else open
    digest, kept = hashlib.sha256(), []
    with opener(source, "rb") as f:
        for line in f:
            digest.update(line)
            if line.split(b" ", 1)[0].decode("utf-8") in words:
                kept.append(line)
    if digest.hexdigest() != GLOVE_50D_SHA256:
        sys.exit(f"{source} is not Stanford's glove.6B.50d.txt (sha256 mismatch)")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as f:
        f.writelines(kept)
    print(f"{len(kept)} of {len(words)} Multi30k English words found; wrote {OUT} ({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main(sys.argv[1])
