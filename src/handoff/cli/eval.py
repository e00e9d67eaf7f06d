"""`handoff eval tabular`: the product's learners, held out on any CSV, beside trivial baselines."""

from __future__ import annotations

from pathlib import Path

import typer

from handoff.errors import InvalidInput


def register(app: typer.Typer) -> None:
    """Adds this noun's commands to the app."""
    group = typer.Typer(help="Measure the product's models on your own data.", no_args_is_help=True)
    group.command("tabular")(tabular)
    app.add_typer(group, name="eval")


def tabular(
    csv: Path = typer.Option(..., "--csv", help="The table, one row per case, with a header line."),
    target: str = typer.Option(..., "--target", help="The column to predict."),
    task: str = typer.Option(..., "--task", help="classification (two classes) or regression (a number)."),
    drop: str = typer.Option("", "--drop", help="Comma-separated columns to leave out (leaks, identifiers)."),
    text: str = typer.Option("", "--text", help="Comma-separated free-text columns to embed (all-MiniLM-L6-v2)."),
    time: str = typer.Option("", "--time", help="Column that orders rows in time (for time:F protocols)."),
    protocol: str = typer.Option(
        "cv:5x5", "--protocol", help="cv:RxK (R repeats of K-fold) or time:F (latest F held out)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for the splits and the learners."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document for scripts."),
) -> None:
    """Cross-validate the same learner the product uses (typing, tuning in folds, calibration) on a CSV."""
    from handoff.cli.output import emit_json, progress_callback, say
    from handoff.risk.evaluation import TASKS, evaluate_table, parse_protocol

    if task not in TASKS:
        raise InvalidInput(f"unknown task {task!r}; use classification or regression")
    parse_protocol(protocol)  # fail on a bad protocol before reading a large file
    frame = _read_csv(csv)
    document = evaluate_table(
        frame,
        target=target,
        task=task,
        drop=_names(drop),
        text=_names(text) or None,
        time=time or None,
        protocol=protocol,
        seed=seed,
        progress=progress_callback(enabled=not json_output),
    )
    if json_output:
        emit_json(document)
        return
    say(f"{document['task']} on {document['n_rows']} rows, protocol {document['protocol']}")
    names = list(document["metrics"])
    say("model".ljust(22) + "".join(name.rjust(12) for name in names))
    rows = {"handoff learner": document["metrics"], **document["baselines"]}
    for label, metrics in rows.items():
        say(label.ljust(22) + "".join(f"{metrics.get(name, float('nan')):12.4f}" for name in names))
    versus = document["versus_best_baseline"]
    se = "" if versus["difference_se"] is None else f" (standard error {versus['difference_se']:.4f})"
    say(
        f"{versus['metric']}: learner minus {versus['best_baseline']} {versus['difference']:+.4f}{se}; "
        + ("at least the baseline" if versus["at_least_baseline"] else "below the baseline")
    )
    say("picked by the inner folds: " + ", ".join(f"{name} {count}" for name, count in document["picked"].items()))


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _read_csv(path: Path):
    import pandas as pd

    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise InvalidInput(f"cannot read {path} as CSV: {error}") from error
