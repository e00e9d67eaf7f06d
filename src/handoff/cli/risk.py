"""`handoff estimate` and `handoff churn`: the kickoff estimate and the churn score, as the API returns them."""

from __future__ import annotations

from pathlib import Path

import typer


def _brief_from(path: Path):
    import json

    from pydantic import ValidationError

    from handoff.errors import InvalidInput, NotFound
    from handoff.risk.schemas import EstimateBrief

    if not path.is_file():
        raise NotFound(f"brief file {path} not found")
    try:
        return EstimateBrief.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as error:
        raise InvalidInput(f"{path} is not JSON: {error}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text") from None
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'brief'}: {e['msg']}" for e in error.errors())
        raise InvalidInput(f"{path}: {problems}") from None


def _range(name: str, values, unit: str) -> str:
    return f"{name}: {values.p50:,.0f} {unit} (80% range {values.p10:,.0f}–{values.p90:,.0f})"


def register(app: typer.Typer) -> None:
    """Adds this noun's commands to the app."""

    @app.command("estimate")
    def estimate_command(
        brief: Path | None = typer.Argument(None, help="JSON file with the brief (fields of EstimateBrief)."),
        deal: str | None = typer.Option(None, "--deal", help="Estimate a CRM deal instead of a brief file."),
        as_of: str | None = typer.Option(None, "--as-of", help="History cutoff YYYY-MM-DD (default: today)."),
        as_json: bool = typer.Option(False, "--json", help="Print the estimate as the API returns it."),
    ) -> None:
        """Kickoff estimate: effort and duration P10/P50/P90, overrun risk, reasons, similar past projects."""
        from handoff.cli.output import emit_json, parse_day, say
        from handoff.errors import InvalidInput
        from handoff.risk import registry, service
        from handoff.risk.schemas import EstimateBrief
        from handoff.store.db import transaction
        from handoff.wiring import build

        if (brief is None) == (deal is None):
            raise InvalidInput("give either a brief file or --deal ID")
        request = _brief_from(brief) if brief is not None else EstimateBrief(deal_id=deal)
        cutoff = parse_day(as_of, "--as-of")
        parts = build()
        parts.migrate()
        models = registry.load_champions(parts.settings, service.ESTIMATE_MODELS)
        with transaction(parts.sessions) as session:
            result = service.estimate(session, models, request, as_of=cutoff)
        if as_json:
            emit_json(result.model_dump(mode="json"))
            return
        say(_range("Effort", result.effort_hours, "h"))
        say(_range("Duration", result.duration_days, "days"))
        overrun = result.overrun
        expected = f", expected {overrun.expected_overrun_pct:+.0%}" if overrun.expected_overrun_pct is not None else ""
        say(f"P(cost > budget + 10%): {overrun.probability:.0%}{expected}")
        for name, factors in result.factors.items():
            say(f"Why ({name}): " + "; ".join(f.text for f in factors[:3]))
        for project in result.similar_projects:
            say(
                f"Similar: {project.name or project.project_id} — planned {project.planned_hours or 0:,.0f} h, "
                f"actual {project.actual_hours or 0:,.0f} h"
            )
        say(f"Stored as estimate {result.id}")

    @app.command("churn")
    def churn_command(
        account: str = typer.Option(..., "--account", help="CRM account id."),
        as_of: str | None = typer.Option(None, "--as-of", help="Score as of YYYY-MM-DD (default: freshest data)."),
        as_json: bool = typer.Option(False, "--json", help="Print the score as the API returns it."),
    ) -> None:
        """90-day churn probability of one account, with its top drivers."""
        from handoff.cli.output import emit_json, parse_day, say
        from handoff.risk import registry, service
        from handoff.store.db import transaction
        from handoff.wiring import build

        cutoff = parse_day(as_of, "--as-of")
        parts = build()
        parts.migrate()
        models = registry.load_champions(parts.settings, ("churn",))
        with transaction(parts.sessions) as session:
            result = service.churn_for_account(session, models, account, as_of=cutoff)
        if as_json:
            emit_json(result.model_dump(mode="json"))
            return
        say(f"{result.account_id}: {result.probability:.0%} churn risk within 90 days (as of {result.as_of})")
        for driver in result.drivers:
            say(f"  - {driver.text}")
