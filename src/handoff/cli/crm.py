"""`handoff demo-data` and `handoff import`: fill the CRM store with the demo history or a CRM export."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import typer


@contextmanager
def _bar(enabled: bool):
    """A rich progress bar on stderr (terminals only); yields (set_total, advance) callbacks."""
    if not enabled or not sys.stderr.isatty():
        yield (lambda total: None), (lambda entity, rows: None)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("generating", total=None)

        def set_total(total: int) -> None:
            bar.update(task, total=total, description="loading")

        def advance(entity: str, rows: int) -> None:
            bar.update(task, advance=rows, description=f"loading {entity}")

        yield set_total, advance


@contextmanager
def _spinner(message: str, enabled: bool):
    """A spinner on stderr for work without a row count to show (terminals only)."""
    if not enabled or not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


def _parquet_demo(*, accounts: int, seed: int, replace: bool, as_json: bool) -> None:
    """The synthetic CRM to Parquet, one partition at a time (on the Dask cluster when HANDOFF_ENGINE=dask)."""
    from contextlib import nullcontext

    from handoff.cli.output import emit_json, say
    from handoff.crm.parquet import write_synthetic
    from handoff.settings import Settings

    settings = Settings()
    settings.ensure_home()
    size = settings.dask.partition_accounts
    if settings.engine == "dask":
        from handoff.scale.cluster import dask_client

        context = dask_client(settings)
    else:
        context = nullcontext(None)
    with context as client:

        def mapper(function, *lists):
            if client is None:
                return map(function, *lists)
            from distributed import as_completed

            return (future.result() for future in as_completed(client.map(function, *lists, pure=False)))

        def shown(part: dict) -> None:
            if not as_json:
                say(f"  {part['name']}: {part['accounts']} accounts, {part['rows']} rows")

        manifest = write_synthetic(
            settings.crm_parquet_dir,
            accounts,
            seed=seed,
            partition_accounts=size,
            replace=replace,
            mapper=mapper,
            on_partition=shown,
        )
    rows = sum(part["rows"] for part in manifest["partitions"])
    if as_json:
        emit_json({"directory": str(settings.crm_parquet_dir), "rows": rows, **manifest})
    else:
        say(f"wrote the synthetic CRM to {settings.crm_parquet_dir}: {accounts} accounts, {rows} rows")


def register(app: typer.Typer) -> None:
    """Adds `demo-data` and `import` to the app."""

    @app.command("demo-data")
    def demo_data(
        accounts: int = typer.Option(3000, "--accounts", min=1, help="How many customer accounts to generate."),
        seed: int = typer.Option(7, "--seed", help="Random seed; the same seed gives the same history."),
        replace: bool = typer.Option(False, "--replace", help="Empty the CRM tables first."),
        as_json: bool = typer.Option(False, "--json", help="Print rows written per entity as JSON."),
        output_format: str = typer.Option(
            "db",
            "--format",
            help="db: the demo story into the store; parquet: the synthetic CRM at scale, as Parquet partitions "
            "under HANDOFF_HOME/crm-parquet (for HANDOFF_ENGINE=dask with HANDOFF_DASK__SOURCE=parquet).",
        ),
    ) -> None:
        """Generate the deterministic demo CRM history and load it into the store (or a synthetic one to Parquet)."""
        from handoff.cli.output import emit_json, say
        from handoff.crm.service import load_demo_data
        from handoff.errors import InvalidInput
        from handoff.wiring import build

        if output_format not in ("db", "parquet"):
            raise InvalidInput(f"--format must be db or parquet, not {output_format!r}")
        if output_format == "parquet":
            _parquet_demo(accounts=accounts, seed=seed, replace=replace, as_json=as_json)
            return
        parts = build()
        try:
            parts.migrate()
            with _bar(not as_json) as (set_total, advance):
                counts = load_demo_data(
                    parts.engine,
                    accounts=accounts,
                    seed=seed,
                    replace=replace,
                    on_generated=set_total,
                    on_progress=advance,
                )
        finally:
            parts.close()
        if as_json:
            emit_json(counts)
        else:
            say(f"loaded the demo CRM history: {sum(counts.values())} rows")
            for name, rows in counts.items():
                say(f"  {name:<14} {rows:>8}")

    @app.command("import")
    def import_csv(
        files: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="CSV files to import."),
        mapping: str = typer.Option(
            ..., "--mapping", help="Built-in mapping (hubspot, salesforce, ravenstack) or a YAML file."
        ),
        dry_run: bool = typer.Option(False, "--dry-run", help="Validate and count, write nothing."),
        as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
    ) -> None:
        """Import CRM export CSVs through a column mapping; any problem rejects the whole import."""
        from handoff.cli.output import emit_json, say
        from handoff.crm.importer import import_mapped_files
        from handoff.crm.mapping import load_mapping
        from handoff.errors import ImportRejected
        from handoff.wiring import build

        parts = build()
        try:
            with _spinner(f"importing {len(files)} file(s)", enabled=not as_json):
                loaded = load_mapping(mapping)  # a broken mapping fails before the store is touched
                parts.migrate()
                result = import_mapped_files(parts.engine, loaded, files, dry_run=dry_run)
        except ImportRejected as rejected:
            if as_json:
                emit_json({"ok": False, "problems": [p.as_dict() for p in rejected.problems]})
            else:
                for problem in rejected.problems:
                    sys.stderr.write(f"{problem}\n")
                sys.stderr.write(f"error: {rejected}\n")
            raise typer.Exit(2) from None
        finally:
            parts.close()
        if as_json:
            emit_json({"ok": True, "dry_run": dry_run, "entities": result})
        else:
            verb = "would import" if dry_run else "imported"
            for name, counts in result.items():
                say(
                    f"{verb} {name}: {counts['inserted']} inserted, {counts['updated']} updated, "
                    f"{counts['unchanged']} unchanged"
                )
