"""Public tabular benchmarks for the product learners, each number beside its published anchor and a trivial baseline.

Runs the same code as `handoff eval tabular` (`handoff.risk.evaluation`) on:
- Telco churn (IBM), 5 x 5 repeated stratified CV: ROC-AUC, PR-AUC, Brier vs logistic regression;
- classic effort (Desharnais, Maxwell, Kitchenham), 30 x 3-fold CV: MAE in hours vs LP4EE, the train median,
  log-linear regression and (Kitchenham) the expert's first estimate;
- story points (Deep-SE's 16 projects, the published chronological split, issue text through sentence embeddings
  plus the project's own point-in-time history): per-project MAE vs the train median and the published Deep-SE;
- issue delay at creation (8 Jira repositories, train before test by `openeddate`): ROC-AUC vs the 0.55 anchor;
- 80 % interval coverage on held-out rows for every regression set.

`python -m eval.tabular.eval [telco] [classic] [storypoints] [jira]` runs a subset. Writes
`eval/results/tabular-<set>.json`. The sentence embeddings of the story-point texts are cached under HANDOFF_HOME.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from handoff.risk.columns import embed_texts
from handoff.risk.evaluation import (
    average,
    evaluate_split,
    parse_protocol,
    picks,
    prepare_table,
    protocol_splits,
    regression_metrics,
    versus_best_baseline,
)
from handoff.settings import Settings

RESULTS = Path(__file__).resolve().parents[1] / "results"

# Published anchors (see each dataset's PROVENANCE.md and ../shared/datasets/README.md).
TELCO_ANCHORS = {"logistic_regression_published": 0.845, "small_lightgbm_published": 0.850, "target": 0.855}
LP4EE_MAE = {"desharnais": 2156.0, "maxwell": 3989.0, "kitchenham": 1172.0}
KITCHENHAM_EXPERT_MAE = 711.0
JIRA_AUC_ANCHOR = 0.55
# Days from creation to the due date: in the creation-time files it alone reaches ROC-AUC ~0.89 on duraspace, far
# above what the paper found possible at creation (0.55); the due date is often set or moved after creation (the
# dataset's `_due` files exist for that moment), so we treat it as not known at kickoff and leave it out.
JIRA_SUSPECT = ["RemainingDay"]
JIRA_PROJECTS = ("apache", "duraspace", "javanet", "jboss", "jira", "moodle", "mulesoft", "wso2")

# 30 x 3 on three small tables is 270 fits: the inner tuning grid is cut (fewer round counts), never the protocol.
SMALL_TABLE_OPTIONS = {"rounds": (50, 100, 200)}
# Story points: how many most similar earlier issues of the same project the history features average.
STORYPOINT_NEIGHBOURS = 5


def main() -> dict[str, Any]:
    chosen = [name for name in sys.argv[1:] if name in SECTIONS] or list(SECTIONS)
    settings = Settings()
    root = settings.datasets_dir
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {}
    for name in chosen:
        started = time.perf_counter()
        result = SECTIONS[name](root, settings)
        result["seconds"] = round(time.perf_counter() - started, 1)
        (RESULTS / f"tabular-{name}.json").write_text(json.dumps(result, indent=2, default=_plain) + "\n")
        print(f"  ({name}: {result['seconds']} s)\n", flush=True)
        summary[name] = result
    return summary


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(type(value).__name__)


def _run_protocol(table, protocol: str, *, seed: int = 0, options: dict | None = None, labels=None) -> dict[str, Any]:
    parsed = parse_protocol(protocol)
    splits = protocol_splits(parsed, len(table.target), labels=labels, order=table.order, seed=seed)
    results = [evaluate_split(table, train, test, seed=seed, learner_options=options) for train, test in splits]
    names = list(results[0]["baselines"])
    metric, higher = ("roc_auc", True) if table.task == "classification" else ("mae", False)
    return {
        "protocol": parsed.text,
        "n_rows": int(len(table.target)),
        "metrics": average(r["metrics"] for r in results),
        "metrics_std": {k: float(np.std([r["metrics"][k] for r in results])) for k in results[0]["metrics"]},
        "baselines": {name: average(r["baselines"][name] for r in results) for name in names},
        "versus_best_baseline": versus_best_baseline(results, metric, higher_is_better=higher),
        "picked": picks(results),
        "results": results,
    }


def _versus_line(label: str, run: dict[str, Any]) -> str:
    """One line: the learner beside its best baseline, the difference and its CV standard error, what was picked."""
    v = run["versus_best_baseline"]
    fmt = ".4f" if v["metric"] == "roc_auc" else ",.0f" if abs(v["learner"]) >= 100 else ".3f"
    verdict = "at least the baseline" if v["at_least_baseline"] else "BELOW the baseline"
    chosen = ", ".join(f"{name} {count}" for name, count in run["picked"].items())
    return (
        f"  {label}: learner {v['metric']} {v['learner']:{fmt}} vs best baseline {v['best_baseline']} "
        f"{v['baseline']:{fmt}}: difference {v['difference']:+{fmt}} (SE {v['difference_se'] or float('nan'):{fmt}}, "
        f"{v['folds']} folds) -> {verdict}; picked by inner folds: {chosen}"
    )


# --------------------------------------------------------------------------------------------------------------------
# Telco churn


def telco(root: Path, settings: Settings) -> dict[str, Any]:
    """IBM Telco churn, 5 x 5 repeated stratified CV (customerID is dropped as an identifier automatically)."""
    frame = pd.read_csv(root / "churn_telco_ibm" / "Telco-Customer-Churn.csv")
    table = prepare_table(frame, target="Churn", task="classification", drop=["customerID"])
    run = _run_protocol(table, "cv:5x5", labels=table.target)
    run.pop("results")
    auc = run["metrics"]["roc_auc"]
    print("Telco churn (IBM), 5x5 repeated stratified CV")
    print(f"  {'':28}{'ROC-AUC':>9}{'PR-AUC':>9}{'Brier':>9}")
    for label, metrics in (
        ("handoff learner", run["metrics"]),
        ("logistic regression (ours)", run["baselines"]["logistic_regression"]),
    ):
        print(f"  {label:28}{metrics['roc_auc']:9.4f}{metrics['pr_auc']:9.4f}{metrics['brier']:9.4f}")
    print(f"  {'base rate (Brier of p=rate)':28}{'0.5':>9}{table.target.mean():9.4f}{_rate_brier(table.target):9.4f}")
    print(f"  anchors: LR 0.845, small LightGBM 0.850; target >= 0.855 -> {'MET' if auc >= 0.855 else 'MISSED'}")
    print(_versus_line("telco", run), flush=True)
    return {
        "dataset": "churn_telco_ibm",
        **run,
        "anchors": TELCO_ANCHORS,
        "trivial": {"base_rate_brier": _rate_brier(table.target), "base_rate_pr_auc": float(table.target.mean())},
        "target_met": bool(auc >= TELCO_ANCHORS["target"]),
    }


def _rate_brier(labels: np.ndarray) -> float:
    return float(np.mean((labels.mean() - labels) ** 2))


# --------------------------------------------------------------------------------------------------------------------
# Classic effort


def _classic_tables(root: Path) -> dict[str, tuple[pd.DataFrame, str, list[str], str]]:
    folder = root / "effort_classic" / "csv"
    desharnais = pd.read_csv(folder / "desharnais.csv").dropna().reset_index(drop=True)  # the usual 77 projects
    desharnais["Language"] = desharnais["Language"].astype(int).astype(str)  # a code, not a quantity
    maxwell = pd.read_csv(folder / "maxwell.csv")
    kitchenham = pd.read_csv(folder / "kitchenham.csv")
    kitchenham["Client.code"] = kitchenham["Client.code"].astype(str)
    return {
        "desharnais": (desharnais, "Effort", ["Project"], "all columns but the id (LP4EE/ATLM setting)"),
        "maxwell": (maxwell, "Effort", [], "all columns (LP4EE/ATLM setting)"),
        "kitchenham": (
            kitchenham,
            "Actual.effort",
            ["Project", "First.estimate", "First.estimate.method"],
            "all columns but the id and the expert's estimate (LP4EE setting, actual duration included)",
        ),
        "kitchenham_kickoff": (
            kitchenham,
            "Actual.effort",
            ["Project", "Actual.duration"],
            "what is known at kickoff: size, client, type, planned dates, and the expert's first estimate as the "
            "anchor (the learner predicts the expert's error)",
        ),
    }


def classic(root: Path, settings: Settings) -> dict[str, Any]:
    """Desharnais, Maxwell and Kitchenham, 30 x 3-fold CV, MAE in hours."""
    out: dict[str, Any] = {"dataset": "effort_classic", "protocol": "cv:30x3", "sets": {}}
    print("Classic effort, 30x3-fold CV, MAE in hours (lower is better)")
    print(f"  {'set':20}{'n':>5}{'learner':>9}{'LP4EE':>8}{'median':>9}{'loglin':>9}{'expert':>8}{'SA':>7}{'cov80':>7}")
    for name, (frame, target, drop, features) in _classic_tables(root).items():
        table = prepare_table(frame, target=target, task="regression", drop=drop)
        options = dict(SMALL_TABLE_OPTIONS)
        if name == "kitchenham_kickoff":
            options["anchor"] = "First.estimate"
        run = _run_protocol(table, "cv:30x3", options=options)
        results = run.pop("results")
        anchors: dict[str, float] = {}
        if name in LP4EE_MAE:
            anchors["lp4ee_mae"] = LP4EE_MAE[name]
        expert = None
        if name.startswith("kitchenham"):
            anchors["expert_first_estimate_mae_published"] = KITCHENHAM_EXPERT_MAE
            expert = _expert_mae(frame, results, table.target)
            run["baselines"]["expert_first_estimate"] = expert
        mae = run["metrics"]["mae"]
        anchor = anchors.get("lp4ee_mae", KITCHENHAM_EXPERT_MAE)
        run.update(features=features, anchors=anchors, beats_anchor=bool(mae < anchor))
        out["sets"][name] = run
        baselines = run["baselines"]
        print(
            f"  {name:20}{run['n_rows']:5d}{mae:9.0f}{anchors.get('lp4ee_mae', float('nan')):8.0f}"
            f"{baselines['train_median']['mae']:9.0f}{baselines['log_linear']['mae']:9.0f}"
            f"{(expert or {}).get('mae', float('nan')):8.0f}{run['metrics']['sa']:7.2f}"
            f"{run['metrics']['coverage80']:7.3f}",
            flush=True,
        )
    print("  anchors: LP4EE Desharnais 2,156 h, Maxwell 3,989 h, Kitchenham 1,172 h; Kitchenham expert 711 h")
    for name, run in out["sets"].items():
        print(_versus_line(name, run), flush=True)
    return out


def _expert_mae(frame: pd.DataFrame, results: list[dict], target: np.ndarray) -> dict[str, float]:
    """The expert's first estimate scored on the same test folds (its MAE over all 145 projects is the 711 h)."""
    del results  # every row is tested once per repeat, so the per-fold average equals the whole-set value
    first = pd.to_numeric(frame["First.estimate"], errors="coerce").to_numpy(dtype=float)
    keep = ~np.isnan(first)
    return regression_metrics(target[keep], first[keep], target[keep])


# --------------------------------------------------------------------------------------------------------------------
# Story points


def _deepse_published(root: Path) -> pd.DataFrame:
    path = root / "effort_storypoints_deepse" / "published_results" / "gpt2sp_within_project_mae_AS_PUBLISHED.csv"
    return pd.read_csv(path).set_index("Project")


def _cached_embedder(settings: Settings) -> Callable[[list[str]], np.ndarray]:
    folder = settings.resolved_home / "cache" / "embeddings"

    def embed(texts: list[str]) -> np.ndarray:
        digest = hashlib.sha256("\x1e".join(texts).encode("utf-8")).hexdigest()[:24]
        path = folder / f"minilm-{digest}.npy"
        if path.is_file():
            return np.load(path)
        vectors = embed_texts(texts)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
        return vectors

    return embed


def storypoints(root: Path, settings: Settings) -> dict[str, Any]:
    """Deep-SE's 16 projects: train on train+val (earlier issues), test on the published test split."""
    published = _deepse_published(root)
    embed = _cached_embedder(settings)
    projects: dict[str, Any] = {}
    print("Story points (Deep-SE 16 projects, chronological split), MAE per project")
    print(f"  {'project':20}{'n_test':>7}{'learner':>9}{'median':>8}{'loglin':>8}{'Deep-SE':>8}{'cov80':>7}  picked")
    for path in sorted((root / "effort_storypoints_deepse").glob("*.csv")):
        frame = pd.read_csv(path)
        name = path.stem
        test_mask = (frame["split_mark"] == "test").to_numpy()
        table = prepare_table(
            frame,
            target="storypoint",
            task="regression",
            drop=["issuekey", "split_mark"],
            text=["title", "description"],
            embed=embed,
            history_neighbours=STORYPOINT_NEIGHBOURS,
        )
        train_idx, test_idx = np.flatnonzero(~test_mask), np.flatnonzero(test_mask)
        result = evaluate_split(table, train_idx, test_idx)
        deepse = float(published.loc[name, "DeepSE"]) if name in published.index else float("nan")
        row = {
            "n_train": int(len(train_idx)),
            "n_test": int(len(test_idx)),
            "metrics": result["metrics"],
            "baselines": result["baselines"],
            "deepse_published_mae": deepse,
            "beats_median": bool(result["metrics"]["mae"] < result["baselines"]["train_median"]["mae"]),
            "beats_deepse": bool(result["metrics"]["mae"] < deepse),
            "picked": result["selection"],
        }
        projects[name] = row
        print(
            f"  {name:20}{len(test_idx):7d}{row['metrics']['mae']:9.2f}{row['baselines']['train_median']['mae']:8.2f}"
            f"{row['baselines']['log_linear']['mae']:8.2f}{deepse:8.2f}{row['metrics']['coverage80']:7.3f}"
            f"  {row['picked'].get('picked', '?')}",
            flush=True,
        )
    beats_median = sum(p["beats_median"] for p in projects.values())
    beats_deepse = sum(p["beats_deepse"] for p in projects.values())
    coverage = float(np.mean([p["metrics"]["coverage80"] for p in projects.values()]))
    print(
        f"  beats the train median on {beats_median}/16 (target >= 14); beats published Deep-SE on {beats_deepse}/16 "
        f"(target >= 10); mean coverage80 {coverage:.3f}"
    )
    return {
        "dataset": "effort_storypoints_deepse",
        "protocol": "published chronological split: train+val -> test",
        "features": "title + description through all-MiniLM-L6-v2, PCA(32) fitted on the training rows, text length; "
        "the project's own history, point in time (each issue sees only the training issues before it in the file's "
        f"chronological order): count, median, mean and latest-30 median of their points, and the mean and median "
        f"points of the {STORYPOINT_NEIGHBOURS} most similar of them by embedding (and that top similarity)",
        "projects": projects,
        "beats_median": beats_median,
        "beats_deepse": beats_deepse,
        "mean_coverage80": coverage,
        "targets": {"beats_median": 14, "beats_deepse": 10},
        "anchor_note": "Deep-SE MAE as published (TSE 2019), copied in published_results; replications find it "
        "beats the median on ~6/16 (Tawosi et al., TSE 2023)",
    }


# --------------------------------------------------------------------------------------------------------------------
# Issue delay at creation


def jira(root: Path, settings: Settings) -> dict[str, Any]:
    """P(an issue resolves after its due date), at creation; train on the earliest 80 % by openeddate."""
    projects: dict[str, Any] = {}
    print("Issue delay at creation (8 Jira repositories), time split by openeddate (latest 20 % held out)")
    print(f"  {'project':12}{'n':>7}{'delayed':>9}{'ROC-AUC':>9}{'LR AUC':>8}{'Brier':>8}{'rate Br.':>9}")
    for name in JIRA_PROJECTS:
        frame = pd.read_csv(root / "overrun_jira_delayed_issues" / f"{name}_creation.csv")
        frame["delayed"] = (frame["delaydays"] > 0).astype(int)
        table = prepare_table(
            frame,
            target="delayed",
            task="classification",
            drop=["issuekey", "delaydays", *JIRA_SUSPECT],
            time="openeddate",
        )
        run = _run_protocol(table, "time:0.2")
        result = run.pop("results")[0]
        test_labels = table.target[
            protocol_splits(parse_protocol("time:0.2"), len(table.target), order=table.order)[0][1]
        ]
        run["trivial"] = {"test_rate_brier": _rate_brier(test_labels), "test_delayed_rate": float(test_labels.mean())}
        run.pop("metrics_std")
        del result
        projects[name] = run
        print(
            f"  {name:12}{run['n_rows']:7d}{table.target.mean():9.3f}{run['metrics']['roc_auc']:9.3f}"
            f"{run['baselines']['logistic_regression']['roc_auc']:8.3f}{run['metrics']['brier']:8.3f}"
            f"{run['trivial']['test_rate_brier']:9.3f}",
            flush=True,
        )
    mean_auc = float(np.mean([p["metrics"]["roc_auc"] for p in projects.values()]))
    print(f"  mean ROC-AUC {mean_auc:.3f} (anchor {JIRA_AUC_ANCHOR} at creation, Choetkiertikul et al. EMSE 2017)")
    return {
        "dataset": "overrun_jira_delayed_issues",
        "protocol": "time:0.2 by openeddate (train strictly before test)",
        "dropped_as_suspect": JIRA_SUSPECT,
        "projects": projects,
        "mean_roc_auc": mean_auc,
        "anchor_roc_auc": JIRA_AUC_ANCHOR,
    }


SECTIONS: dict[str, Callable[[Path, Settings], dict[str, Any]]] = {
    "telco": telco,
    "classic": classic,
    "storypoints": storypoints,
    "jira": jira,
}


if __name__ == "__main__":
    main()
