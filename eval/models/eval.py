"""Product-model holdout numbers on the demo CRM history, each beside its target and a trivial baseline."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results"
OUT = RESULTS / "models-demo.json"

# (model, metric, target text, trivial-baseline key)
ROWS = (
    ("effort", "coverage80", "0.78-0.82", "coverage80"),
    ("effort", "mae", "below baselines", "mae"),
    ("effort", "mae", "below sales estimate", "sales_estimate_mae"),
    ("duration", "coverage80", "0.78-0.82", "coverage80"),
    ("duration", "mae", "below baseline", "mae"),
    ("overrun", "brier", "below baseline", "brier"),
    ("overrun", "roc_auc", "> 0.5", "roc_auc"),
    ("overrun", "overrun_pct_mae", "below baseline", "overrun_pct_mae"),
    ("churn", "roc_auc", "> 0.5", "roc_auc"),
    ("churn", "brier", "below baseline", "brier"),
    ("churn", "pr_auc", "> base rate", "base_rate"),
    ("churn", "brier_skill", ">= 0.10", None),
    ("churn", "ece", "<= 0.02", None),
)
CHURN_TARGETS = {"brier_skill": 0.10, "ece": 0.02}


def main() -> dict:
    """Trains each product model on the demo history's earlier part and scores it on the later part (no MLflow)."""
    from handoff.risk import training
    from handoff.risk.evaluation import calibration_report

    started = time.perf_counter()
    frames = training.demo_frames()
    end = training.history_end(frames)
    sets = training.project_training_sets(frames)
    sets["churn"] = training.churn_training_set(frames, end)
    models, bundles = {}, {}
    for name in training.MODEL_NAMES:
        bundle = bundles[name] = training.fit_bundle(sets[name])
        models[name] = {
            "metrics": training.holdout_metrics(bundle, sets[name]),
            "baselines": training.baseline_metrics(sets[name]),
            "split": sets[name].summary,
            "selection": bundle.info["selection"],
        }
    churn = sets["churn"]
    calibration = calibration_report(
        churn.y_holdout["y"].to_numpy(dtype="float64"),
        bundles["churn"].predict(churn.x_holdout),
        float(churn.y_train["y"].mean()),
    )
    calibration["targets"] = CHURN_TARGETS
    calibration["targets_met"] = {
        "brier_skill": bool(calibration["brier_skill"] >= CHURN_TARGETS["brier_skill"]),
        "ece": bool(calibration["ece"] <= CHURN_TARGETS["ece"]),
    }
    models["churn"]["calibration"] = calibration
    result = {
        "data": {
            "source": "demo",
            "accounts": training.DEMO_ACCOUNTS,
            "seed": training.DEMO_SEED,
            "end": training.DEMO_END.isoformat(),
        },
        "protocol": "time split: projects by planned start (latest 20 % held out); churn by monthly cutoffs "
        "(latest 2 held out, training labels end before them)",
        "models": models,
        "seconds": round(time.perf_counter() - started, 1),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(f"{'model':9} {'metric':16} {'value':>9} {'baseline':>9}  target")
    for name, metric, target, baseline in ROWS:
        value = models[name]["metrics"].get(metric)
        base = models[name]["baselines"].get(baseline) if baseline else None
        shown = f"{value:9.3f}" if value is not None else f"{'-':>9}"
        base_shown = f"{base:9.3f}" if base is not None else f"{'-':>9}"
        print(f"{name:9} {metric:16} {shown} {base_shown}  {target} (baseline: {baseline})")
    print("\nmodel selection on the training rows' inner folds (GBM share 0 = linear, 1 = LightGBM):")
    for name, model in models.items():
        for part, picked in model["selection"].items():
            scores = ", ".join(f"{k} {v:.4f}" for k, v in picked["inner_score"].items())
            print(
                f"  {name:9}{part:8} picked {picked['picked']:8} (share {picked['weight']:g}, "
                f"shape {picked['gbm_shape']}); {picked['metric']}: {scores}"
            )
    print(
        f"\nchurn calibration on the later period (holdout cutoffs {', '.join(churn.summary['holdout_cutoffs'])}; "
        f"{len(churn.y_holdout)} account snapshots):"
    )
    print(
        f"  Brier {calibration['brier']:.4f} vs {calibration['base_rate_brier']:.4f} for the training base rate "
        f"{calibration['reference_rate']:.4f}: skill {calibration['brier_skill']:.3f} (target >= 0.10 -> "
        f"{'MET' if calibration['targets_met']['brier_skill'] else 'MISSED'}); "
        f"ECE {calibration['ece']:.4f} (target <= 0.02 -> {'MET' if calibration['targets_met']['ece'] else 'MISSED'})"
    )
    print(f"  {'bin':>4}{'predicted':>11}{'observed':>10}{'rows':>7}")
    for i, (predicted, observed, rows) in enumerate(calibration["bins"], 1):
        print(f"  {i:4d}{predicted:11.4f}{observed:10.4f}{rows:7.0f}")
    RESULTS.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {OUT}")
    return result


if __name__ == "__main__":
    main()
