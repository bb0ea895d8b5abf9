"""Every solution notebook runs end to end in fast mode, and every cell passes."""
import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ASSIGNMENTS, ROOT


@pytest.mark.slow
@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_solution_runs_in_fast_mode(aid, tmp_path):
    nb = nbformat.read(ROOT / "solutions" / aid / f"{aid}.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [(c.metadata.get("nbgrader", {}).get("grade_id", f"cell {i}"), o.ename, o.evalue)
              for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{aid}: cells failed in the solution notebook:\n" + "\n".join(map(str, errors))
