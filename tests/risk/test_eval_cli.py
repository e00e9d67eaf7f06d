"""The `handoff eval tabular` contract: exact JSON keys, honest baselines, one clear error line on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from handoff.cli.main import build_app
from handoff.risk.evaluation import evaluate_table

pytestmark = pytest.mark.slow  # `handoff eval` in subprocesses


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    n = 160
    size = rng.lognormal(3, 0.8, n)
    kind = rng.choice(["fixed", "hourly"], n)
    hours = np.exp(0.5 + np.log(size) + 0.5 * (kind == "fixed") + rng.normal(0, 0.3, n))
    frame = pd.DataFrame(
        {
            "project_id": np.arange(n),
            "size": size.round(1),
            "kind": kind,
            "opened": pd.date_range("2020-01-01", periods=n, freq="W").strftime("%Y-%m-%d"),
            "hours": hours.round(1),
            "late": np.where(rng.random(n) < 1 / (1 + np.exp(-(np.log(size) - 3) * 2)), "yes", "no"),
        }
    )
    path = tmp_path_factory.mktemp("eval") / "projects.csv"
    frame.to_csv(path, index=False)
    return path


def invoke(*args: str):
    return CliRunner().invoke(build_app(), ["eval", "tabular", *args])


def test_regression_json_has_exactly_the_contract_keys(table_csv: Path) -> None:
    result = invoke(
        "--csv",
        str(table_csv),
        "--target",
        "hours",
        "--task",
        "regression",
        "--drop",
        "late",
        "--protocol",
        "cv:1x3",
        "--json",
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert list(document) == ["task", "n_rows", "protocol", "metrics", "baselines", "versus_best_baseline", "picked"]
    versus = document["versus_best_baseline"]
    assert versus["metric"] == "mae" and versus["best_baseline"] in document["baselines"] and versus["folds"] == 3
    assert versus["difference"] == pytest.approx(versus["learner"] - versus["baseline"])
    assert versus["difference_se"] > 0
    assert sum(document["picked"].values()) == 3 and set(document["picked"]) <= {"linear", "lightgbm", "blend"}
    assert document["task"] == "regression" and document["n_rows"] == 160 and document["protocol"] == "cv:1x3"
    assert set(document["metrics"]) == {"mae", "mdae", "sa", "coverage80"}
    assert set(document["baselines"]) == {"train_median", "log_linear"}
    assert all(set(values) == {"mae", "mdae", "sa", "coverage80"} for values in document["baselines"].values())
    # Size drives hours: the learner must beat the training median by a wide margin.
    assert document["metrics"]["mae"] < 0.7 * document["baselines"]["train_median"]["mae"]
    assert document["metrics"]["sa"] > 0.3


def test_classification_json_with_a_time_split(table_csv: Path) -> None:
    result = invoke(
        "--csv",
        str(table_csv),
        "--target",
        "late",
        "--task",
        "classification",
        "--drop",
        "hours",
        "--time",
        "opened",
        "--protocol",
        "time:0.25",
        "--seed",
        "3",
        "--json",
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert list(document) == ["task", "n_rows", "protocol", "metrics", "baselines", "versus_best_baseline", "picked"]
    assert document["versus_best_baseline"]["difference_se"] is None  # one time split: no spread to measure
    assert set(document["metrics"]) == {"roc_auc", "pr_auc", "brier"}
    assert set(document["baselines"]) == {"logistic_regression"}
    assert document["metrics"]["roc_auc"] > 0.6


def test_the_time_split_never_trains_on_later_rows(table_csv: Path) -> None:
    frame = pd.read_csv(table_csv)
    shuffled = frame.sample(frac=1.0, random_state=0)
    # Shuffling the file changes nothing when the split is by the time column.
    kwargs = {"target": "hours", "task": "regression", "drop": ["late"], "time": "opened", "protocol": "time:0.25"}
    in_order, reordered = evaluate_table(frame, **kwargs), evaluate_table(shuffled, **kwargs)
    assert in_order["baselines"]["train_median"] == reordered["baselines"]["train_median"]
    assert in_order["baselines"]["log_linear"] == pytest.approx(reordered["baselines"]["log_linear"])
    # The median of the oldest 75 % differs from the median of a random 75 %: the split really follows time.
    assert (
        in_order["baselines"]["train_median"]
        != evaluate_table(shuffled, **{**kwargs, "time": None})["baselines"]["train_median"]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--csv", "missing.csv", "--target", "hours", "--task", "regression"], "no such file"),
        (["--target", "nope", "--task", "regression"], "target column 'nope'"),
        (["--target", "kind", "--task", "regression"], "non-numeric"),
        (["--target", "hours", "--task", "regression", "--protocol", "loo"], "unknown protocol"),
        (["--target", "hours", "--task", "ranking"], "unknown task"),
        (["--target", "hours", "--task", "regression", "--drop", "ghost"], "column 'ghost'"),
        (["--target", "size", "--task", "classification"], "exactly 2 distinct values"),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(table_csv: Path, args: list[str], message: str) -> None:
    if "--csv" not in args:
        args = ["--csv", str(table_csv), *args]
    process = subprocess.run(
        [sys.executable, "-m", "handoff", "eval", "tabular", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 2
    assert process.stdout == ""
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], process.stderr
