"""docs/guide.ipynb runs top to bottom (nbclient, quick demos) and is kept without outputs in git."""

import os

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "guide.ipynb")


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    monkeypatch.setenv("NEURONLAB_NOTEBOOK_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                     for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "errorname" not in text and "Traceback" not in text
    assert "relative difference from the library's step: 0.0" in text
    assert "W⁰₀₀" in text and "v₀ = 0" in text  # the guide's indexing and the guide's momentum
    assert "the guide's sum: 1.0692" in text
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert images >= 10
    pngs = [f for f in os.listdir(tmp_path / "out") if f.endswith(".png")]
    assert {"rl_loop.png", "momentum_sgd_paths.png", "init_saturation.png"} <= set(pngs)


@pytest.mark.parametrize("cell_text", ["The guide says", "In fact"])
def test_notebook_carries_the_correction_boxes(cell_text):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert sum(cell_text in c.source for c in nb.cells if c.cell_type == "markdown") >= 6
