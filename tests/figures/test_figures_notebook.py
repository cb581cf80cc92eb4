"""notebooks/analysis.ipynb runs top to bottom against a tiny MLflow store, so it cannot rot."""

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "analysis.ipynb"


@pytest.mark.slow
def test_analysis_notebook_executes(store_uri, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_uri)
    monkeypatch.setenv("AL_BENCH_EXPERIMENT", "sweep")
    monkeypatch.setenv("AL_BENCH_FIGURES_OUT", str(tmp_path / "figs"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    text = "\n".join(
        out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert "10 runs, strategies: ['heatmap_annoy']" in text
    assert "Normalised area under the ap learning curve" in text
    assert "every run is complete" in text
    # the sweep experiment holds heatmap_annoy only: no random to pair with, said in words
    assert "no paired table: no condition or strategy called 'random'" in text
    images = [
        o
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    assert len(images) == 4  # learning curve, sampling time, two sweeps
    for stem in ("learning_curve_ap", "sampling_time", "sweep_index_n_trees"):
        assert (tmp_path / "figs" / f"{stem}.png").is_file()
