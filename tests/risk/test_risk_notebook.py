"""The walkthrough notebook runs top to bottom on a small demo history, so it cannot rot."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "01-train-and-explain.ipynb"

pytestmark = [pytest.mark.slow, pytest.mark.services]  # a Jupyter kernel runs the notebook


def test_train_and_explain_notebook_executes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("HANDOFF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HANDOFF_NOTEBOOK_ACCOUNTS", "200")
    monkeypatch.setenv("HANDOFF_NOTEBOOK_FOLDS", "3")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = "".join(
        str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
    assert "effort" in outputs and "similarity" in outputs
    assert (tmp_path / "home" / "models" / "effort.md").is_file()
