"""Trains the four product models on CRM history with time-based validation; logs, registers and promotes them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from handoff.progress import Progress, no_progress
from handoff.risk import features as feats
from handoff.risk.bundle import ModelBundle

if TYPE_CHECKING:
    from handoff.risk.learners import BoosterTrainer

MODEL_NAMES = ("effort", "duration", "overrun", "churn")
HOLDOUT_SHARE = 0.2  # the latest fifth of projects (by planned start) is the holdout
CHURN_TRAIN_CUTOFFS = 8  # quarterly snapshots stacked for churn training (two years)
CHURN_HOLDOUT_CUTOFFS = 2  # the latest monthly cutoffs are the holdout
# Lower is better for each; a new model is promoted only when it beats the champion on this, on the same holdout.
PRIMARY_METRIC = {"effort": "mae", "duration": "mae", "overrun": "brier", "churn": "brier"}
# Directions the domain fixes, kept by both the GBM (monotone constraints) and the linear model (coefficient signs).
MONOTONE = {"effort": {"scope_items": 1}}
DEMO_ACCOUNTS = 3000
DEMO_SEED = 7
DEMO_END = date(2026, 10, 31)


@dataclass
class TrainingSet:
    """One model's training and holdout rows, split by time, and a summary for the model card."""

    name: str
    kind: str
    x_train: pd.DataFrame
    y_train: pd.DataFrame  # column `y`; overrun also has `overrun_pct`
    x_holdout: pd.DataFrame
    y_holdout: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    periods_train: pd.Series | None = None  # each training row's snapshot cutoff: the learner's folds follow time


def _learner_classes():
    from handoff.risk.learners import CalibratedClassifier, IntervalRegressor

    return IntervalRegressor, CalibratedClassifier


def _span(values: pd.Series) -> list[str]:
    values = pd.to_datetime(values).dropna()
    return [values.min().date().isoformat(), values.max().date().isoformat()] if len(values) else []


def project_training_sets(frames: feats.Frames, holdout_share: float = HOLDOUT_SHARE) -> dict[str, TrainingSet]:
    """Effort, duration and overrun sets from finished projects, split at a planned-start date.

    Training rows are projects that had finished before the split date (their actuals were known then); the
    holdout is every project that started on or after it. No random split: estimates are always about the future.
    """
    f = feats.normalise_frames(frames)
    targets = feats.project_targets(f)
    if len(targets) < 20:
        from handoff.errors import NotReady

        raise NotReady(f"only {len(targets)} finished projects in the CRM history; at least 20 are needed to train")
    x_all = feats.project_features(f).loc[targets.index]
    order = targets["planned_start"].sort_values(kind="stable")
    split_at = order.iloc[int(len(order) * (1 - holdout_share))]
    actual_end = f["projects"].loc[targets.index, "actual_end"]
    train = targets.index[(targets["planned_start"] < split_at) & (actual_end < split_at)]
    holdout = targets.index[targets["planned_start"] >= split_at]
    summary = {
        "split_planned_start": split_at.date().isoformat(),
        "train_rows": len(train),
        "holdout_rows": len(holdout),
        "train_planned_start": _span(targets.loc[train, "planned_start"]),
        "holdout_planned_start": _span(targets.loc[holdout, "planned_start"]),
        "sales_estimate_share": float(x_all["sales_estimate_hours"].notna().mean()),
    }
    sets = {}
    for name, target, kind in (
        ("effort", "effort_hours", "interval"),
        ("duration", "duration_days", "interval"),
        ("overrun", "overrun", "overrun"),
    ):
        y = targets[[target]].rename(columns={target: "y"})
        if name == "overrun":
            y = y.assign(overrun_pct=targets["overrun_pct"], planned_budget=x_all["planned_budget"])
        sets[name] = TrainingSet(
            name, kind, x_all.loc[train], y.loc[train], x_all.loc[holdout], y.loc[holdout], dict(summary)
        )
    return sets


def churn_training_set(
    frames: feats.Frames,
    end: date,
    train_cutoffs: int = CHURN_TRAIN_CUTOFFS,
    holdout_cutoffs: int = CHURN_HOLDOUT_CUTOFFS,
) -> TrainingSet:
    """Account snapshots at cutoffs before the holdout; the latest monthly cutoffs are the holdout.

    Training snapshots are a horizon (3 months) apart, so no account's churn is labelled twice: with monthly
    snapshots the same event marks three near-identical rows, the learner's inner folds memorise it, and the
    probabilities come out overconfident. The newest training cutoff ends a full horizon before the first holdout
    cutoff, so no training label looks into the holdout period.
    """
    f = feats.normalise_frames(frames)
    holdout_dates = feats.monthly_cutoffs(end, holdout_cutoffs)
    first_holdout = pd.Timestamp(holdout_dates[0])
    horizon_months = max(1, round(feats.CHURN_HORIZON_DAYS / 30))
    train_dates = feats.monthly_cutoffs(holdout_dates[0], train_cutoffs, step_months=horizon_months)
    data = feats.churn_dataset(f, [*train_dates, *holdout_dates])
    data = data.reset_index()
    is_holdout = data["as_of"] >= first_holdout
    x = data.drop(columns=["account_id", "as_of", "churned"])
    y = data[["churned"]].rename(columns={"churned": "y"})
    summary = {
        "train_cutoffs": [c.isoformat() for c in train_dates],
        "holdout_cutoffs": [c.isoformat() for c in holdout_dates],
        "train_rows": int((~is_holdout).sum()),
        "holdout_rows": int(is_holdout.sum()),
        "train_churn_rate": float(y.loc[~is_holdout, "y"].mean()),
        "holdout_churn_rate": float(y.loc[is_holdout, "y"].mean()),
        "horizon_days": feats.CHURN_HORIZON_DAYS,
    }
    return TrainingSet(
        "churn",
        "classifier",
        x[~is_holdout],
        y[~is_holdout],
        x[is_holdout],
        y[is_holdout],
        summary,
        periods_train=data.loc[~is_holdout, "as_of"],
    )


def fit_bundle(training: TrainingSet, seed: int = 0, learner_options: Mapping[str, Any] | None = None) -> ModelBundle:
    """Fits the learner(s) of one model on its training rows; `learner_options` go to both learners (e.g. n_folds)."""
    interval_regressor, calibrated_classifier = _learner_classes()
    options = dict(learner_options or {})
    x, y = training.x_train, training.y_train
    if training.kind == "interval":
        monotone = {**MONOTONE.get(training.name, {}), **options.pop("monotone", {})}
        learners = {
            "main": interval_regressor(random_state=seed, monotone=monotone, **options).fit(x, y["y"].to_numpy())
        }
    elif training.kind == "overrun":
        learners = {
            "main": calibrated_classifier(random_state=seed, **options).fit(x, y["y"].to_numpy()),
            "amount": interval_regressor(random_state=seed, **options).fit(x, y["overrun_pct"].to_numpy()),
        }
    else:
        periods = None if training.periods_train is None else training.periods_train.to_numpy()
        learners = {
            "main": calibrated_classifier(random_state=seed, **options).fit(x, y["y"].to_numpy(), periods=periods)
        }
    kind = "classifier" if training.kind == "classifier" else training.kind
    info = {"training": training.summary, "selection": selection_summary(learners)}
    return ModelBundle(training.name, kind, list(x.columns), learners, info)


def selection_summary(learners: Mapping[str, Any]) -> dict[str, Any]:
    """What each learner of a bundle picked on its inner folds (linear, LightGBM or a blend) and the inner scores."""
    return {
        name: {key: learner.selection[key] for key in ("picked", "weight", "gbm_shape", "metric", "inner_score")}
        for name, learner in learners.items()
        if "picked" in getattr(learner, "selection", {})
    }


def _roc_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else None


def holdout_metrics(bundle: ModelBundle, training: TrainingSet) -> dict[str, float | None]:
    """The bundle's numbers on the holdout rows (never on training rows)."""
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss

    x, y = training.x_holdout, training.y_holdout["y"].to_numpy(dtype="float64")
    if bundle.kind == "interval":
        q = bundle.predict(x)
        errors = np.abs(y - q[:, 1])
        return {
            "mae": float(errors.mean()),
            "mdae": float(np.median(errors)),
            "coverage80": float(np.mean((y >= q[:, 0]) & (y <= q[:, 2]))),
            "interval_width": float(np.mean(q[:, 2] - q[:, 0])),
            "n": float(len(y)),
        }
    from handoff.risk.evaluation import calibration_report

    p = bundle.predict(x)
    calibration = calibration_report(y, p, float(training.y_train["y"].mean()))
    metrics: dict[str, float | None] = {
        "roc_auc": _roc_auc(y, p),
        "pr_auc": float(average_precision_score(y, p)) if y.sum() > 0 else None,
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1])),
        "positive_rate": float(y.mean()),
        "brier_skill": calibration["brier_skill"],
        "ece": calibration["ece"],
        "n": float(len(y)),
    }
    expected = bundle.expected_overrun(x)
    if expected is not None:
        metrics["overrun_pct_mae"] = float(np.mean(np.abs(training.y_holdout["overrun_pct"].to_numpy() - expected)))
    return metrics


def baseline_metrics(training: TrainingSet) -> dict[str, float | None]:
    """Trivial baselines on the same holdout: the training median (and P10-P90) or the training base rate."""
    y = training.y_holdout["y"].to_numpy(dtype="float64")
    train_y = training.y_train["y"].to_numpy(dtype="float64")
    if training.kind == "interval":
        low, mid, high = np.quantile(train_y, [0.1, 0.5, 0.9])
        out: dict[str, float | None] = {
            "mae": float(np.mean(np.abs(y - mid))),
            "coverage80": float(np.mean((y >= low) & (y <= high))),
            "interval_width": float(high - low),
        }
        if training.name == "effort":
            # The sales team's first estimate is the human anchor a model has to beat where it exists.
            sales = training.x_holdout["sales_estimate_hours"].to_numpy(dtype="float64")
            has = ~np.isnan(sales)
            if has.any():
                out["sales_estimate_mae"] = float(np.mean(np.abs(y[has] - sales[has])))
                out["sales_estimate_rows"] = float(has.sum())
        return out
    rate = float(train_y.mean())
    out = {"brier": float(np.mean((y - rate) ** 2)), "roc_auc": 0.5, "base_rate": rate}
    if training.kind == "overrun":
        median = float(np.median(training.y_train["overrun_pct"]))
        out["overrun_pct_mae"] = float(np.mean(np.abs(training.y_holdout["overrun_pct"].to_numpy() - median)))
    return out


def beats(name: str, candidate: Mapping[str, Any], champion: Mapping[str, Any] | None) -> bool:
    """Strictly better on the primary metric (lower is better); anything beats no champion."""
    if not champion:
        return True
    metric = PRIMARY_METRIC[name]
    theirs, ours = champion.get(metric), candidate.get(metric)
    if theirs is None or (isinstance(theirs, float) and np.isnan(theirs)):
        return True
    return ours is not None and ours < theirs


def importance(bundle: ModelBundle, x: pd.DataFrame, rows: int = 500) -> pd.Series:
    """Mean absolute contribution per feature on (a sample of) the given rows, largest first."""
    sample = x.sample(n=rows, random_state=0) if len(x) > rows else x
    contributions = bundle.contributions(sample).drop(columns=["bias"], errors="ignore")
    return contributions.abs().mean().sort_values(ascending=False)


def reliability_bins(bundle: ModelBundle, training: TrainingSet, bins: int = 10) -> list[list[float]] | None:
    """A classifier's reliability curve on the holdout as numbers: (mean predicted, observed rate, rows) per
    quantile bin, the points `figures` plots; kept in the bundle so the web app can draw and tabulate them."""
    from handoff.risk.evaluation import reliability_curve

    if bundle.kind == "interval":
        return None
    return reliability_curve(
        training.y_holdout["y"].to_numpy(dtype="float64"), bundle.predict(training.x_holdout), bins
    )


def figures(bundle: ModelBundle, training: TrainingSet, importances: pd.Series) -> dict[str, Any]:
    """Calibration (reliability or interval) and importance plots as matplotlib figures, keyed by file name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    x, y = training.x_holdout, training.y_holdout["y"].to_numpy(dtype="float64")
    fig, ax = plt.subplots(figsize=(5, 5))
    if bundle.kind == "interval":
        q = bundle.predict(x)
        order = np.argsort(q[:, 1])
        ax.fill_between(np.arange(len(y)), q[order, 0], q[order, 2], alpha=0.3, label="P10-P90")
        ax.plot(np.arange(len(y)), q[order, 1], label="P50")
        ax.scatter(np.arange(len(y)), y[order], s=6, color="black", label="actual")
        inside = np.mean((y >= q[:, 0]) & (y <= q[:, 2]))
        ax.set_title(f"{bundle.name}: holdout, 80% interval covers {inside:.0%}")
        ax.set_xlabel("holdout projects, by predicted P50")
        ax.set_ylabel(bundle.unit)
        ax.legend()
    else:
        from sklearn.calibration import calibration_curve

        p = bundle.predict(x)
        true_rate, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
        ax.plot(predicted, true_rate, marker="o", label="model")
        ax.set_xlabel("predicted probability")
        ax.set_ylabel("observed rate")
        ax.set_title(f"{bundle.name}: reliability on the holdout")
        ax.legend()
    fig.tight_layout()
    out["calibration.png"] = fig

    top = importances.head(15)[::-1]
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.barh(top.index, top.to_numpy())
    ax.set_xlabel("mean |contribution| on the holdout")
    ax.set_title(f"{bundle.name}: feature importance")
    fig.tight_layout()
    out["importance.png"] = fig
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


INTENDED_USE = {
    "effort": "Kickoff effort range (P10/P50/P90 hours) for a project brief, beside the sales team's own estimate.",
    "duration": "Kickoff duration range (P10/P50/P90 days from actual start to actual end) for a project brief.",
    "overrun": "Calibrated probability that a project's cost ends above its planned budget x 1.1, and the "
    "expected overrun share, at kickoff.",
    "churn": "Calibrated probability that an active account churns within 90 days of the scoring date; nightly "
    "alerts and account pages.",
}

LIMITS = {
    "effort": "Trained on this CRM's finished projects only; briefs unlike any past project (new product, "
    "10x the usual scope) get wide, less reliable ranges. Not a commitment: compare with the team's plan.",
    "duration": "Measures calendar days between actual start and end; pauses and holidays are inside it.",
    "overrun": "Learns from recorded costs; projects with missing cost data are left out of training.",
    "churn": "Associations, not causes: a driver says what moved the score, not what will fix it. Accounts "
    "younger than a month have little history and scores near the base rate.",
}


def model_card(bundle: ModelBundle, version: str | None, metrics: dict, baselines: dict, promoted: bool) -> str:
    """The Markdown model card written to `models/<name>.md`."""
    summary = bundle.info.get("training", {})
    lines = [
        f"# Model card: handoff-{bundle.name}",
        "",
        f"- Version: {version or 'unregistered'} ({'champion' if promoted else 'not promoted'})",
        f"- Trained: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Source: {bundle.info.get('source', 'unknown')}",
        f"- Kind: {bundle.kind}; {len(bundle.feature_names)} features; primary metric "
        f"`{PRIMARY_METRIC[bundle.name]}` (lower is better)",
        "",
        "## Intended use",
        "",
        INTENDED_USE[bundle.name],
        "",
        "## Training data and validation",
        "",
        "Time-based split, never random: the holdout comes strictly after the training data.",
        "",
    ]
    lines += [f"- {key}: {value}" for key, value in summary.items()]
    lines += ["", "## Holdout metrics", "", "| metric | model | trivial baseline |", "|---|---|---|"]
    for key in sorted(set(metrics) | set(baselines)):
        if key == "n":
            continue
        lines.append(f"| {key} | {_fmt(metrics.get(key))} | {_fmt(baselines.get(key))} |")
    baseline_note = (
        "Baseline: the training median and its P10–P90 (and, for effort, the sales team's first estimate)."
        if bundle.kind == "interval"
        else "Baseline: the training base rate for every row."
    )
    lines += ["", baseline_note, ""]
    for part, picked in bundle.info.get("selection", {}).items():
        scores = ", ".join(f"{name} {value:.4g}" for name, value in picked["inner_score"].items())
        lines += [
            f"Model selection ({part}), on the training rows' inner folds only: **{picked['picked']}** (GBM share "
            f"{picked['weight']:g}, LightGBM shape `{picked['gbm_shape']}`); {picked['metric']}: {scores}.",
            "",
        ]
    lines += ["## Limits", "", LIMITS[bundle.name], ""]
    top = bundle.info.get("top_features", [])
    if top:
        lines += ["## Strongest features (mean |contribution| on the holdout)", ""]
        lines += [f"- {name}" for name in top]
        lines.append("")
    return "\n".join(lines)


def cards_folder(settings) -> Path:
    """The committed `models/` when the source tree's own home (`./var`) is in use; else `HANDOFF_HOME/models`.

    Tests, benches and other homes train throwaway models; their cards must not overwrite the committed ones.
    """
    from handoff.settings import PROJECT_ROOT

    folder = PROJECT_ROOT / "models"
    if folder.is_dir() and settings.resolved_home == (PROJECT_ROOT / "var").resolve():
        return folder
    return settings.resolved_home / "models"


def record_evaluation(bundle: ModelBundle, training: TrainingSet, source: str) -> pd.Series:
    """Writes into `bundle.info` what the model card and the web app's models page read: holdout metrics beside the
    baselines, the reliability curve and feature importance as numbers, the source and the training time. Returns
    the full importance series (the plots use it)."""
    importances = importance(bundle, training.x_holdout)
    bundle.info.update(
        source=source,
        holdout_metrics=holdout_metrics(bundle, training),
        baseline_metrics=baseline_metrics(training),
        top_features=list(importances.head(8).index),
        importance=[[str(name), float(value)] for name, value in importances.head(15).items()],
        reliability=reliability_bins(bundle, training),
        trained_at=datetime.now(UTC).replace(microsecond=0).isoformat(),
    )
    return importances


def train_one(
    settings,
    training: TrainingSet,
    source: str,
    cards_dir: Path | None = None,
    seed: int = 0,
    learner_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Fits, evaluates, logs and registers one model; promotes it when it beats the champion on this holdout."""
    from handoff.risk import registry

    bundle = fit_bundle(training, seed=seed, learner_options=learner_options)
    importances = record_evaluation(bundle, training, source)
    metrics, baselines = bundle.info["holdout_metrics"], bundle.info["baseline_metrics"]
    champion = registry.load_champion(settings, training.name)
    champion_metrics = None
    if champion is not None:
        try:  # the fair comparison: the champion scored on the same, newer holdout
            champion_metrics = holdout_metrics(champion.bundle, training)
        except Exception:  # a champion with other features or learner versions: fall back to what it logged
            champion_metrics = champion.metrics
    promoted = beats(training.name, metrics, champion_metrics)
    card_placeholder = model_card(bundle, None, metrics, baselines, promoted)
    version = registry.log_model(
        settings,
        bundle,
        params={"seed": seed, "source": source, "features": len(bundle.feature_names), **training.summary},
        metrics=metrics,
        baselines=baselines,
        figures=figures(bundle, training, importances),
        card=card_placeholder,
        example=training.x_holdout.head(20),
    )
    if promoted:
        registry.set_champion(settings, training.name, version)
    card = model_card(bundle, version, metrics, baselines, promoted)
    folder = cards_dir or cards_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{training.name}.md").write_text(card, encoding="utf-8")
    return {
        "version": version,
        "promoted": promoted,
        "metrics": metrics,
        "baselines": baselines,
        "champion_metrics": champion_metrics,
    }


def demo_frames(accounts: int = DEMO_ACCOUNTS, seed: int = DEMO_SEED, end: date = DEMO_END) -> dict[str, pd.DataFrame]:
    from handoff.crm.demo import generate

    return generate(accounts=accounts, seed=seed, end=end)


def history_end(frames: feats.Frames) -> date:
    """The last day the history knows about: the latest activity, usage, ticket or churn date."""
    f = feats.normalise_frames(frames)
    candidates = [
        f[name][feats.ENTITIES_BY_NAME[name].time_field].max()
        for name in ("activities", "usage", "tickets", "churn_events", "invoices")
    ]
    candidates = [c for c in candidates if pd.notna(c)]
    if not candidates:
        from handoff.errors import NotReady

        raise NotReady("the CRM history has no dated activity, usage, tickets or invoices to train on")
    return max(candidates).date()


def train_all(
    parts,
    source: str = "database",
    progress: Progress = no_progress,
    frames: feats.Frames | None = None,
    models: tuple[str, ...] = MODEL_NAMES,
    cards_dir: Path | None = None,
    learner_options: Mapping[str, Any] | None = None,
    churn_booster_trainer: BoosterTrainer | None = None,
) -> dict[str, Any]:
    """Trains every product model from the store (`database`), a fresh demo history (`demo`) or given frames.

    `churn_booster_trainer` fits the churn model's boosters elsewhere (`scale.training`: on a Dask cluster); its
    selection, calibration and registration stay as here.
    """
    from handoff.errors import NotReady

    if frames is None:
        if source == "demo":
            frames = demo_frames()
        else:
            from handoff.risk.store import load_frames

            with parts.sessions() as session:
                frames = load_frames(session)
            if frames["accounts"].empty:
                raise NotReady(
                    "the CRM tables are empty: import data (`handoff import`), load the demo (`handoff demo-data`)"
                    " or use `--from demo`"
                )
    frames = feats.normalise_frames(frames)
    parts.settings.ensure_home()
    end = history_end(frames)
    sets: dict[str, TrainingSet] = {}
    # A CRM with churn history but no finished projects (or the reverse) still trains what its data allows: one
    # job's missing history must not hold back the other's models. Nothing trainable at all is an error.
    skipped: dict[str, str] = {}
    project_models = [name for name in ("effort", "duration", "overrun") if name in models]
    if project_models:
        try:
            sets.update(project_training_sets(frames))
        except NotReady as error:
            skipped.update(dict.fromkeys(project_models, str(error)))
    if "churn" in models:
        try:
            sets["churn"] = churn_training_set(frames, end)
        except NotReady as error:
            skipped["churn"] = str(error)
    if not sets:
        raise NotReady("; ".join(dict.fromkeys(skipped.values())))
    results = {}
    trainable = [m for m in MODEL_NAMES if m in models and m in sets]
    if churn_booster_trainer is not None and "churn" in sets:
        sets["churn"].summary["boosters_fitted_by"] = getattr(churn_booster_trainer, "engine", "another engine")
    for name in progress(trainable, "training", len(trainable)):
        options = learner_options
        if name == "churn" and churn_booster_trainer is not None:
            options = {**(learner_options or {}), "booster_trainer": churn_booster_trainer}
        results[name] = train_one(parts.settings, sets[name], source, cards_dir=cards_dir, learner_options=options)
    return {"source": source, "history_end": end.isoformat(), "models": results, "skipped": skipped}
