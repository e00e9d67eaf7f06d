"""`handoff docs`: regenerate documentation that is derived from code."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    docs = typer.Typer(help="Generated documentation.", no_args_is_help=True)
    app.add_typer(docs, name="docs")

    @docs.command("dictionary")
    def dictionary(out: Path = typer.Option(Path("docs/data-dictionary.md"), help="Where to write it.")) -> None:
        """Write the data dictionary (docs/data-dictionary.md) from the code that defines it."""
        from handoff.crm.dictionary import render_markdown

        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_markdown() + "\n", encoding="utf-8")
        typer.echo(f"wrote {out}")
