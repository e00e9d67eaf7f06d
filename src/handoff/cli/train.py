"""`handoff train`: (re)train the risk models, the extractor's action-item classifier, or the content spam model."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    train = typer.Typer(help="Train models.", no_args_is_help=False)
    app.add_typer(train, name="train")

    @train.callback(invoke_without_command=True)
    def risk_models(
        ctx: typer.Context,
        source: str = typer.Option("database", "--from", help="'database' (the store) or 'demo' (fresh demo history)."),
        as_json: bool = typer.Option(False, "--json", help="Print the training summary as JSON."),
        engine: str | None = typer.Option(
            None,
            "--engine",
            help="local (this process) or dask (churn boosters on a Dask cluster); default HANDOFF_ENGINE.",
        ),
    ) -> None:
        """Train the effort, duration, overrun and churn models; promote each that beats its champion."""
        if ctx.invoked_subcommand is not None:
            return
        from handoff.errors import InvalidInput

        if source not in ("database", "demo"):
            raise InvalidInput(f"--from must be 'database' or 'demo', not {source!r}")
        if engine is not None and engine not in ("local", "dask"):
            raise InvalidInput(f"--engine must be local or dask, not {engine!r}")
        from handoff.cli.output import emit_json, progress_callback, say
        from handoff.risk.training import train_all
        from handoff.wiring import build

        parts = build()
        parts.migrate()
        bar = progress_callback(enabled=not as_json)
        if (engine or parts.settings.engine) == "dask":
            from handoff.scale.training import train_all_on_dask

            summary = train_all_on_dask(parts, source=source, progress=bar)
        else:
            summary = train_all(parts, source=source, progress=bar)
        if as_json:
            emit_json(summary)
        else:
            say(f"trained on history up to {summary['history_end']} ({summary['source']})")
            if "engine" in summary:
                cluster = summary["engine"]
                say(f"  churn boosters fitted with lightgbm.dask on {cluster['workers']} Dask workers")
            for name, result in summary["models"].items():
                verdict = "promoted to champion" if result["promoted"] else "kept the current champion"
                metrics = ", ".join(f"{key} {value:.3g}" for key, value in _headline(result["metrics"]).items())
                say(f"  {name:<9} v{result['version']}: {verdict}; holdout {metrics}")
            for name, reason in summary["skipped"].items():
                say(f"  {name:<9} not trained: {reason}")
            if any(result["promoted"] for result in summary["models"].values()):
                say("a running API serves it after `POST /v1/models/reload` (admin) or a restart; nightly runs at once")

    @train.command("extractor")
    def extractor(
        as_json: bool = typer.Option(False, "--json", help="Print the training summary as JSON."),
    ) -> None:
        """Rebuild the offline action-item classifier from the shared datasets (reproducible)."""
        from handoff.cli.output import emit_json, progress_callback, say
        from handoff.extraction.training import train_extractor
        from handoff.settings import Settings

        summary = train_extractor(Settings(), progress=progress_callback(enabled=not as_json))
        if as_json:
            emit_json(summary)
        else:
            say(f"extractor trained: {summary}")

    @train.command("decision")
    def decision(
        as_json: bool = typer.Option(False, "--json", help="Print the training summary as JSON."),
    ) -> None:
        """Refit the extractor's decision layer on extraction_real_dev (its cross-validated numbers: make eval)."""
        from handoff.cli.output import emit_json, progress_callback, say
        from handoff.extraction.training import train_decision
        from handoff.settings import Settings

        summary = train_decision(Settings(), progress=progress_callback(enabled=not as_json))
        if as_json:
            emit_json(summary)
        else:
            say(f"decision layer fitted: {summary}")

    @train.command("spam")
    def spam(
        output: Path | None = typer.Option(None, "--output", help="Write the artifact here (default: the package's)."),
        as_json: bool = typer.Option(False, "--json", help="Print the training summary as JSON."),
    ) -> None:
        """Refit the inbox's content spam classifier on mail_spam_ham and Enron business mail (CV first)."""
        from handoff.cli.output import emit_json, progress_bar, say
        from handoff.intake.spam_model import ARTIFACT_DIR
        from handoff.intake.spam_training import train_spam
        from handoff.settings import Settings

        with progress_bar("cross-validating and fitting", enabled=not as_json) as report:
            summary = train_spam(Settings().datasets_dir, directory=output or ARTIFACT_DIR, on_progress=report)
        if as_json:
            emit_json(summary)
        else:
            cv = summary["cv_metrics"]
            say(
                f"spam model fitted on {summary['mails']} mails (threshold {summary['threshold']}); 5-fold CV: "
                f"spam caught {cv['spam_caught']:.1%}, ham quarantined {cv['ham_quarantined']:.1%}, "
                f"bulk marked spam {cv['bulk_marked_spam']:.1%}; wrote {summary['artifact']}"
            )


HEADLINE_METRICS = ("mae", "coverage80", "roc_auc", "brier")


def _headline(metrics: dict) -> dict:
    """The few holdout numbers a person reads first; `--json` has them all."""
    return {key: metrics[key] for key in HEADLINE_METRICS if isinstance(metrics.get(key), int | float)}
