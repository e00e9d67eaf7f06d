"""`handoff export mspdi`: a project or a saved kickoff estimate as a Microsoft Project XML plan (docs/plans.md)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    export_app = typer.Typer(help="Files for other tools: Microsoft Project plans (MSPDI XML).", no_args_is_help=True)
    app.add_typer(export_app, name="export")

    @export_app.command("mspdi")
    def mspdi_command(
        project: str | None = typer.Option(None, "--project", help="A project id: its template and accepted tasks."),
        estimate: str | None = typer.Option(None, "--estimate", help="A saved estimate id (`GET /v1/estimates`)."),
        out: Path = typer.Option(Path("plan.xml"), "--out", "-o", help="Where to write the XML."),
    ) -> None:
        """Write MSPDI XML that Microsoft Project (and MPXJ, ProjectLibre, GanttProject) opens: tasks with start,
        finish and work from the P50, P10/P90 in the custom fields Number1/Number2, the roster as resources."""
        from handoff.cli.output import say
        from handoff.errors import InvalidInput
        from handoff.plans.mspdi import to_mspdi
        from handoff.plans.service import estimate_plan, project_plan
        from handoff.wiring import build

        if (project is None) == (estimate is None):
            raise InvalidInput("give exactly one of --project ID or --estimate ID")
        parts = build()
        try:
            with parts.sessions() as session:
                plan = project_plan(session, project) if project else estimate_plan(session, estimate or "")
        finally:
            parts.close()
        out.write_bytes(to_mspdi(plan))
        say(f"wrote {out}: {len(plan.tasks)} tasks, {len(plan.resources)} resources")
