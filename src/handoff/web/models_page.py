"""The admin's models page: each loaded champion's version, training date, holdout metrics beside its baseline, the
reliability curve and feature importance, from what training recorded in the bundle and its MLflow run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from handoff.api.deps import SessionDep
from handoff.risk.registry import MODEL_NAMES, ServedModel
from handoff.web import charts
from handoff.web.i18n import N_
from handoff.web.pages import PersonDep, check_csrf, render, translator

router = APIRouter(prefix="/app", include_in_schema=False, dependencies=[Depends(check_csrf)])
# Shown in this order; `n` and the like are counts, not quality.
METRIC_WORDS = {
    "mae": N_("mean absolute error"),
    "mdae": N_("median absolute error"),
    "coverage80": N_("80 % interval coverage"),
    "interval_width": N_("mean interval width"),
    "roc_auc": N_("ROC-AUC"),
    "pr_auc": N_("PR-AUC"),
    "brier": N_("Brier score"),
    "log_loss": N_("log loss"),
    "overrun_pct_mae": N_("overrun % MAE"),
    "sales_estimate_mae": N_("sales team's estimate MAE"),
    "positive_rate": N_("positive rate"),
    "base_rate": N_("training base rate"),
    "n": N_("holdout rows"),
}


@dataclass
class ModelCard:
    name: str
    registered_name: str
    version: str
    run_id: str
    trained_at: str | None
    source: str | None
    unit: str
    metrics: list[tuple[str, float | None, float | None]]  # (words, holdout, baseline)
    reliability: list[list[float]] | None
    reliability_chart: Any
    importance: list[list[Any]]
    importance_chart: Any


def _trained_at(request: Request, model: ServedModel) -> str | None:
    """From the bundle when training recorded it; else the MLflow run's start, looked up once per process."""
    recorded = model.bundle.info.get("trained_at")
    if recorded:
        return str(recorded).replace("T", " ")
    cache = request.app.state.web.extra.setdefault("run_started", {})
    if model.run_id not in cache:
        try:
            from handoff.risk.registry import _client

            run = _client(request.app.state.parts.settings).get_run(model.run_id)
            cache[model.run_id] = datetime.fromtimestamp(run.info.start_time / 1000).strftime("%Y-%m-%d %H:%M:%S")
        except Exception:  # a model served without a run (tests, a copied bundle): say it is not known
            cache[model.run_id] = None
    return cache[model.run_id]


def model_card(request: Request, model: ServedModel) -> ModelCard:
    _ = translator(request)
    info = model.bundle.info
    holdout = info.get("holdout_metrics") or model.metrics
    baseline = info.get("baseline_metrics") or {}
    names = [k for k in METRIC_WORDS if k in holdout or k in baseline]
    names += sorted((set(holdout) | set(baseline)) - set(names))
    metrics = [(METRIC_WORDS.get(k, k), holdout.get(k), baseline.get(k)) for k in names]
    reliability = info.get("reliability")
    reliability_chart = None
    if reliability:
        reliability_chart = charts.reliability(
            f"reliability-{model.name}",
            [(p, o, int(n)) for p, o, n in reliability],
            title=_("{name}: predicted probability against observed rate on the holdout").format(name=model.name),
            words=(_("predicted"), _("observed")),
        )
    importance = info.get("importance") or [[name, None] for name in info.get("top_features", [])]
    importance_chart = None
    if importance and all(value is not None for _, value in importance):
        importance_chart = charts.signed_bars(
            f"importance-{model.name}",
            [(str(name), float(value)) for name, value in importance],
            title=_("{name}: mean absolute contribution per feature on the holdout").format(name=model.name),
            unit="raw",  # the booster's own score units (log-odds for the classifiers)
        )
    return ModelCard(
        model.name,
        model.registered_name,
        model.version,
        model.run_id,
        _trained_at(request, model),
        info.get("source"),
        model.bundle.unit,
        metrics,
        reliability,
        reliability_chart,
        importance,
        importance_chart,
    )


@router.get("/models", name="web_models")
def models(request: Request, person: PersonDep, session: SessionDep) -> Response:
    from handoff.web.estimates import coverage_over_time

    loaded = request.app.state.models
    cards = [model_card(request, loaded[name]) for name in MODEL_NAMES if loaded.get(name) is not None]
    missing = [name for name in MODEL_NAMES if loaded.get(name) is None]
    coverage = coverage_over_time(session, translator(request))
    return render(request, "models.html", cards=cards, missing=missing, coverage=coverage)
