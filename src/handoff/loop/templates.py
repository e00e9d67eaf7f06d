"""Project templates (YAML data shipped in `loop/templates/`): which tasks a won deal's project starts with."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from handoff.errors import InvalidInput


@dataclass(frozen=True)
class TemplateTask:
    title: str
    list_name: str
    offset_days: int
    planned_hours: float | None
    priority: str
    after: tuple[int, ...] = ()  # the tasks (1-based, in this template) that must finish first: plan predecessors


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    products: tuple[str, ...]
    contract_types: tuple[str, ...]
    team_size: int
    tasks: tuple[TemplateTask, ...]

    def specificity(self, product: str | None, contract_type: str | None) -> int | None:
        """How closely this template fits a deal, or None when it does not apply."""
        score = 0
        for wanted, value in ((self.products, product), (self.contract_types, contract_type)):
            if wanted:
                if value not in wanted:
                    return None
                score += 1
        return score


def parse_template(data: dict) -> Template:
    try:
        applies = data.get("applies_to") or {}
        tasks = tuple(
            TemplateTask(
                title=str(task["title"]),
                list_name=str(task.get("list_name", "delivery")),
                offset_days=int(task.get("offset_days", 0)),
                planned_hours=None if task.get("planned_hours") is None else float(task["planned_hours"]),
                priority=str(task.get("priority", "normal")),
                after=tuple(int(number) for number in task.get("after") or ()),
            )
            for task in data["tasks"]
        )
        return Template(
            name=str(data["name"]),
            description=str(data.get("description", "")),
            products=tuple(applies.get("products") or ()),
            contract_types=tuple(applies.get("contract_types") or ()),
            team_size=int(data.get("team_size", 1)),
            tasks=tasks,
        )
        for number, task in enumerate(tasks, 1):
            if any(not 1 <= before < number for before in task.after):
                raise ValueError(f"task {number} must come after earlier tasks only, not {list(task.after)}")
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidInput(f"bad project template {data.get('name', '?')}: {error}") from error


@cache
def builtin_templates() -> tuple[Template, ...]:
    folder = resources.files("handoff.loop") / "templates"
    found = [
        parse_template(yaml.safe_load(entry.read_text(encoding="utf-8")))
        for entry in sorted(folder.iterdir(), key=lambda entry: entry.name)
        if entry.name.endswith(".yaml")
    ]
    return tuple(found)


def choose_template(
    product: str | None, contract_type: str | None, templates: tuple[Template, ...] | None = None
) -> Template:
    """The most specific template that applies; the generic one always does."""
    candidates = [(t.specificity(product, contract_type), t.name, t) for t in templates or builtin_templates()]
    fitting = [(score, name, t) for score, name, t in candidates if score is not None]
    if not fitting:
        raise InvalidInput("no project template applies; keep one with empty `applies_to`")
    return max(fitting, key=lambda entry: (entry[0], entry[1]))[2]
