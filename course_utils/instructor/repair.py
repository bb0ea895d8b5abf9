"""Repair a submission's nbgrader metadata against the release, before grading.

Notebooks that went through Colab or a learning-management system often come back with
nbgrader's cell metadata stripped (and nbformat 4.0, without cell ids); nbgrader then
silently scores them 0. ``repair`` matches every cell of the release to a cell of the
submission and gives it back its nbgrader metadata:

1. by nbgrader ``grade_id``, then by cell id;
2. by identical source (``difflib`` over the cell sequence), which anchors the alignment;
3. between two anchors, by source similarity (lines that survive from the release cell, with
   the ``YOUR CODE HERE`` stubs left out) in notebook order.

Deleted test, read-only and written-answer cells are re-inserted where they belong; edited
ones are restored from the release. Everything done is listed in the returned notes. If too
little of the release is recognised (a different notebook, an empty file), ``RepairError``
says so instead of letting the student score 0.
"""

import copy
import difflib
import re
import uuid

from . import nbmeta

MIN_RECOGNISED = 0.5  # fraction of release cells that must be recognised with evidence
_STUB_MARKERS = ("YOUR CODE HERE", "YOUR ANSWER HERE", "raise NotImplementedError")


_HOW = {"id": "cell id", "source": "identical source", "similar": "similar source", "position": "position"}


class RepairError(Exception):
    """The submission cannot be matched to the release; the message says why."""


def _lines(source, drop_stubs=False):
    lines = [ln.strip() for ln in source.splitlines() if ln.strip()]
    if drop_stubs:
        lines = [ln for ln in lines if not any(m in ln for m in _STUB_MARKERS)]
    return lines


def _key(cell):
    return cell.cell_type, tuple(_lines(cell.source))


def _similarity(r, s):
    """How likely submission cell ``s`` is release cell ``r``, from 0 to 1."""
    if r.cell_type != s.cell_type:
        return 0.0
    a, b = _lines(r.source, drop_stubs=nbmeta.meta(r).get("solution", False)), _lines(s.source)
    if not a:  # a bare stub ("YOUR ANSWER HERE"): any cell of the same type may be the answer
        return 0.5
    same = sum(m.size for m in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks())
    return max(2 * same / (len(a) + len(b)), same / len(a) * 0.9)


def _increasing(pairs):
    """The longest chain of (r, s) pairs increasing in both: the alignment anchors."""
    pairs = sorted(pairs, key=lambda p: p[1])
    best = []  # best[i]: the chain ending at pairs[i]
    for i, (r, _) in enumerate(pairs):
        prev = max((best[j] for j in range(i) if pairs[j][0] < r), key=len, default=[])
        best.append(prev + [pairs[i]])
    return max(best, key=len, default=[])


def _align_gap(R, S, rs, ss, threshold=0.3):
    """Order-preserving best matching of release cells ``rs`` to submission cells ``ss``."""
    m, n = len(rs), len(ss)
    score = [[0.0] * (n + 1) for _ in range(m + 1)]
    for i in range(1, m + 1):
        for j in range(1, n + 1):
            sim = _similarity(R[rs[i - 1]], S[ss[j - 1]])
            diag = score[i - 1][j - 1] + sim if sim >= threshold else float("-inf")
            score[i][j] = max(score[i - 1][j], score[i][j - 1], diag)
    pairs, i, j = [], m, n
    while i and j:
        if score[i][j] == score[i - 1][j]:
            i -= 1
        elif score[i][j] == score[i][j - 1]:
            j -= 1
        else:
            pairs.append((rs[i - 1], ss[j - 1]))
            i, j = i - 1, j - 1
    return pairs


def match(release, nb):
    """``{release index: (submission index, how)}``, ``how`` in id, source, similar, position."""
    R, S = release.cells, nb.cells
    by_gid = {nbmeta.meta(c)["grade_id"]: i for i, c in enumerate(R) if nbmeta.meta(c).get("grade_id")}
    by_id = {c.get("id"): i for i, c in enumerate(R) if c.get("id")}
    found, used = {}, set()

    def take(r, s, how):
        if r not in found and s not in used:
            found[r] = (s, how)
            used.add(s)

    for s, cell in enumerate(S):
        if nbmeta.meta(cell).get("grade_id") in by_gid:
            take(by_gid[nbmeta.meta(cell)["grade_id"]], s, "id")
    for s, cell in enumerate(S):
        if cell.get("id") in by_id:
            take(by_id[cell.get("id")], s, "id")
    blocks = difflib.SequenceMatcher(None, [_key(c) for c in R], [_key(c) for c in S], autojunk=False)
    for block in blocks.get_matching_blocks():
        for k in range(block.size):
            take(block.a + k, block.b + k, "source")

    anchors = [(-1, -1)] + _increasing([(r, s) for r, (s, _) in found.items()]) + [(len(R), len(S))]
    for (r0, s0), (r1, s1) in zip(anchors, anchors[1:]):
        rs = [r for r in range(r0 + 1, r1) if r not in found]
        ss = [s for s in range(s0 + 1, s1) if s not in used]
        for r, s in _align_gap(R, S, rs, ss):
            take(r, s, "similar" if _similarity(R[r], S[s]) >= 0.6 else "position")
    return found


def _restorable(cell):
    """Release cells re-inserted when deleted: tests, read-only cells, written answers."""
    meta = nbmeta.meta(cell)
    if not meta:
        return False
    return bool(meta.get("locked") or meta.get("grade") or (meta.get("solution") and cell.cell_type == "markdown"))


def repair(nb, release):
    """Return ``(repaired notebook, notes)``; raise ``RepairError`` if it cannot be matched.

    ``nb`` is not modified. ``notes`` is empty when nothing had to be repaired.
    """
    if not isinstance(nb.get("cells"), list):
        raise RepairError("not a Jupyter notebook (no cells)")
    R, S = release.cells, nb.cells
    found = match(release, nb)
    evidence = sum(how != "position" for _, how in found.values())
    if evidence < MIN_RECOGNISED * len(R):
        raise RepairError(f"only {evidence} of the {len(R)} cells of the release were recognised: "
                          "is it the right notebook?")

    out = copy.deepcopy(nb)
    notes = []
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) < (4, 5):
        notes.append(f"upgraded nbformat {nb.get('nbformat')}.{nb.get('nbformat_minor', 0)} to 4.5 (cell ids)")
    out.nbformat, out.nbformat_minor = 4, max(5, nb.get("nbformat_minor", 0))
    for key in ("kernelspec", "language_info"):
        if key in release.metadata:
            out.metadata[key] = copy.deepcopy(release.metadata[key])

    of_submission = {s: r for r, (s, _) in found.items()}
    restored, edited, stray, cells = [], [], 0, []
    for s, cell in enumerate(out.cells):
        r = of_submission.get(s)
        if r is None:
            if "nbgrader" in cell.get("metadata", {}):
                del cell.metadata["nbgrader"]
                stray += 1
            cells.append(cell)
            continue
        ref = R[r]
        if nbmeta.meta(cell) != nbmeta.meta(ref):
            restored.append(r)
        if nbmeta.meta(ref).get("locked") and (cell.cell_type != ref.cell_type or _lines(cell.source) != _lines(ref.source)):
            edited.append(nbmeta.meta(ref).get("grade_id", f"cell {r}"))
            cell = copy.deepcopy(ref)
        elif nbmeta.meta(ref):
            cell.metadata["nbgrader"] = copy.deepcopy(nbmeta.meta(ref))
        else:
            cell.metadata.pop("nbgrader", None)
        cell["id"] = ref.get("id") or cell.get("id")
        cells.append(cell)

    # Re-insert deleted cells after the cell that precedes them in the release.
    missing = [r for r in range(len(R)) if r not in found]
    inserted, unfound = [], []
    for r in missing:
        if not _restorable(R[r]):
            if nbmeta.meta(R[r]).get("solution"):
                unfound.append(nbmeta.meta(R[r]).get("grade_id"))
            continue
        before = [c for c in range(r) if c in found or c in inserted]
        anchor_id = R[before[-1]].get("id") if before else None
        at = next((i + 1 for i, c in enumerate(cells) if anchor_id and c.get("id") == anchor_id), 0)
        cells.insert(at, copy.deepcopy(R[r]))
        inserted.append(r)
    out.cells = cells
    _unique_ids(out)

    gid = lambda r: nbmeta.meta(R[r]).get("grade_id", f"cell {r}")  # noqa: E731
    if restored:
        hows = ", ".join(sorted({_HOW[found[r][1]] for r in restored}))
        notes.append(f"restored nbgrader metadata on {len(restored)} cell(s) (matched by {hows})")
    if inserted:
        notes.append("re-inserted deleted cell(s): " + ", ".join(gid(r) for r in inserted))
    if edited:
        notes.append("restored edited read-only or test cell(s): " + ", ".join(edited))
    if stray:
        notes.append(f"removed nbgrader metadata from {stray} cell(s) that are not in the release")
    if unfound:
        notes.append("answer cell(s) not found, graded as written elsewhere: " + ", ".join(unfound))
    return out, notes


def _unique_ids(nb):
    seen = set()
    for cell in nb.cells:
        cid = cell.get("id")
        if not (isinstance(cid, str) and _ID.fullmatch(cid)) or cid in seen:
            cell["id"] = uuid.uuid4().hex[:8]
        seen.add(cell["id"])


_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
