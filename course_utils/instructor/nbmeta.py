"""What nbgrader's metadata says about a cell: one place to read it."""


def meta(cell):
    """The cell's nbgrader metadata, ``{}`` when it has none."""
    return cell.get("metadata", {}).get("nbgrader", {})


def grade_id(cell):
    return meta(cell).get("grade_id")


def is_test(cell):
    """An autograded test cell: graded code that is not a student's answer."""
    m = meta(cell)
    return cell.get("cell_type") == "code" and bool(m.get("grade")) and not m.get("solution")


def is_locked_code(cell):
    """A code cell the student may not change: a test or a read-only cell."""
    m = meta(cell)
    return cell.get("cell_type") == "code" and not m.get("solution") and bool(m.get("locked") or m.get("grade"))
