"""The canonical CRM data dictionary: every entity and field, defined once; tables and docs derive from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FieldType = Literal["str", "text", "int", "float", "bool", "date", "datetime"]


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    description: str
    required: bool = False
    references: str | None = None  # "entity.field"
    choices: tuple[str, ...] = ()
    contact_data: bool = False  # personal contact detail: masked without the right, reads audited


@dataclass(frozen=True)
class Entity:
    name: str
    description: str
    fields: tuple[Field, ...]
    key: str = "id"
    time_field: str | None = None  # when a row becomes known; point-in-time features cut on it

    def field(self, name: str) -> Field:
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        raise KeyError(f"{self.name} has no field {name!r}")

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


def _id(what: str) -> Field:
    return Field("id", "str", f"Stable identifier of the {what}, as the source CRM writes it.", required=True)


def _ref(name: str, entity: str, description: str, required: bool = False) -> Field:
    return Field(name, "str", description, required=required, references=f"{entity}.id")


SEGMENTS = ("smb", "mid_market", "enterprise")
CONTRACT_TYPES = ("fixed_price", "time_and_materials", "subscription", "retainer")
PRIORITIES = ("low", "normal", "high", "urgent")

ENTITIES: tuple[Entity, ...] = (
    Entity(
        "team_members",
        "People on our side: sales, project managers, engineers, account owners.",
        (
            _id("team member"),
            Field("name", "str", "Full name as shown in the CRM.", required=True),
            Field("email", "str", "Work email address; also how mail from them is recognised.", contact_data=True),
            Field(
                "role", "str", "Job role.", choices=("sales", "pm", "engineer", "designer", "account_owner", "admin")
            ),
            Field("skills", "text", "Comma-separated skills, e.g. 'python, data, sap'."),
            Field("aliases", "text", "Comma-separated nicknames and @handles they answer to."),
            Field("timezone", "str", "IANA time zone, e.g. 'Europe/Berlin'."),
            Field("hourly_cost", "float", "Internal cost per hour, in the company currency."),
            Field("active", "bool", "Still on the team."),
        ),
    ),
    Entity(
        "accounts",
        "Customer companies.",
        (
            _id("account"),
            Field("name", "str", "Company name.", required=True),
            Field("domain", "str", "Main email/web domain, e.g. 'acme.com'; links mail to the account."),
            Field("industry", "str", "Industry as written in the CRM."),
            Field("segment", "str", "Size segment.", choices=SEGMENTS),
            Field("country", "str", "Country (ISO code or name)."),
            _ref("owner_id", "team_members", "Account owner; receives the churn digest."),
            Field("created_at", "date", "When the account became a customer (or signed up)."),
            Field("plan_tier", "str", "Current plan or service tier."),
            Field("seats", "int", "Licensed seats or users."),
            Field("status", "str", "Lifecycle state.", choices=("prospect", "active", "churned")),
        ),
        time_field="created_at",
    ),
    Entity(
        "contacts",
        "People at customer accounts.",
        (
            _id("contact"),
            _ref("account_id", "accounts", "The contact's company.", required=True),
            Field("first_name", "str", "Given name."),
            Field("last_name", "str", "Family name."),
            Field(
                "email",
                "str",
                "Email address; forwarded mail is credited to the contact it came from.",
                contact_data=True,
            ),
            Field("phone", "str", "Phone number.", contact_data=True),
            Field("title", "str", "Job title."),
            Field("is_primary", "bool", "Main contact of the account."),
        ),
    ),
    Entity(
        "deals",
        "Sales opportunities; a won deal starts a project.",
        (
            _id("deal"),
            _ref("account_id", "accounts", "The buying account.", required=True),
            _ref("owner_id", "team_members", "Sales owner."),
            Field("name", "str", "Deal name."),
            Field("stage", "str", "Pipeline stage.", choices=("open", "won", "lost")),
            Field("amount", "float", "Deal value in the company currency."),
            Field("product", "str", "Main product or service sold."),
            Field("contract_type", "str", "How the work is billed.", choices=CONTRACT_TYPES),
            Field("created_at", "date", "When the deal was opened."),
            Field("closed_at", "date", "When it was won or lost."),
        ),
        time_field="created_at",
    ),
    Entity(
        "projects",
        "Delivery projects, with what was planned and what really happened.",
        (
            _id("project"),
            _ref("account_id", "accounts", "The customer.", required=True),
            _ref("deal_id", "deals", "The deal that started it."),
            _ref("manager_id", "team_members", "Project manager."),
            Field("name", "str", "Project name."),
            Field("status", "str", "Delivery state.", choices=("planned", "active", "done", "cancelled")),
            Field("product", "str", "Main product or service delivered."),
            Field("contract_type", "str", "How the work is billed.", choices=CONTRACT_TYPES),
            Field("team_size", "int", "People planned on the project."),
            Field("scope_items", "int", "Number of scope items (deliverables, epics) at kickoff."),
            Field("description", "text", "Free-text brief written at kickoff."),
            Field("planned_budget", "float", "Budget agreed at kickoff."),
            Field("actual_cost", "float", "Cost at completion (empty while running)."),
            Field("sales_estimate_hours", "float", "The sales team's first effort estimate, if any."),
            Field("planned_hours", "float", "Effort planned at kickoff."),
            Field("actual_hours", "float", "Effort at completion (empty while running)."),
            Field("planned_start", "date", "Planned start date."),
            Field("planned_end", "date", "Planned end date."),
            Field("actual_start", "date", "Real start date."),
            Field("actual_end", "date", "Real end date (empty while running)."),
        ),
        time_field="planned_start",
    ),
    Entity(
        "tasks",
        "Project tasks, from the CRM, templates, email, meetings and surveys.",
        (
            _id("task"),
            _ref("project_id", "projects", "Project the task belongs to."),
            _ref("account_id", "accounts", "Customer the task is for."),
            Field("title", "str", "Short imperative title.", required=True),
            Field("description", "text", "Longer description."),
            _ref("assignee_id", "team_members", "Who does it."),
            Field("due_date", "date", "When it is due."),
            Field("priority", "str", "Urgency.", choices=PRIORITIES),
            Field("status", "str", "Workflow state.", choices=("suggested", "open", "done", "rejected")),
            Field("source", "str", "Where it came from.", choices=("crm", "email", "meeting", "survey", "template")),
            Field("list_name", "str", "Which list it sits on, e.g. 'risks' for improvement tasks."),
            Field("planned_hours", "float", "Planned effort."),
            Field("actual_hours", "float", "Booked effort."),
            Field("created_at", "datetime", "When it was created."),
            Field("completed_at", "datetime", "When it was done."),
        ),
        time_field="created_at",
    ),
    Entity(
        "activities",
        "Everything that happened with an account: emails, calls, meetings, notes, events.",
        (
            _id("activity"),
            _ref("account_id", "accounts", "The account concerned.", required=True),
            _ref("contact_id", "contacts", "The customer person involved."),
            _ref("project_id", "projects", "The project concerned."),
            _ref("team_member_id", "team_members", "Our person involved."),
            Field(
                "kind", "str", "What happened.", choices=("email", "call", "meeting", "note", "event", "owner_change")
            ),
            Field("direction", "str", "For messages: from or to the customer.", choices=("inbound", "outbound")),
            Field("occurred_at", "datetime", "When it happened.", required=True),
            Field("subject", "str", "Subject or headline."),
            Field("body", "text", "Text of the message or note."),
            Field("sentiment", "float", "Tone from -1 (angry) to 1 (happy), when known."),
        ),
        time_field="occurred_at",
    ),
    Entity(
        "tickets",
        "Support tickets.",
        (
            _id("ticket"),
            _ref("account_id", "accounts", "Account that raised it.", required=True),
            Field("opened_at", "datetime", "When it was opened.", required=True),
            Field("closed_at", "datetime", "When it was closed."),
            Field("priority", "str", "Ticket priority.", choices=PRIORITIES),
            Field("category", "str", "Topic as written in the helpdesk."),
            Field("first_response_minutes", "float", "Minutes to first response."),
            Field("resolution_hours", "float", "Hours to resolution."),
            Field("satisfaction", "float", "Customer rating of the ticket, 1-5."),
            Field("escalated", "bool", "Was escalated."),
        ),
        time_field="opened_at",
    ),
    Entity(
        "surveys",
        "CSAT and NPS responses.",
        (
            _id("survey response"),
            _ref("account_id", "accounts", "Responding account.", required=True),
            _ref("project_id", "projects", "Project the response is about."),
            _ref("contact_id", "contacts", "Who answered."),
            Field("kind", "str", "Survey type.", choices=("csat", "nps")),
            Field("score", "float", "CSAT 1-5 or NPS 0-10.", required=True),
            Field("responded_at", "datetime", "When the answer came in.", required=True),
            Field("comment", "text", "Free-text comment."),
        ),
        time_field="responded_at",
    ),
    Entity(
        "subscriptions",
        "Contracts and plans, with their renewal dates.",
        (
            _id("subscription"),
            _ref("account_id", "accounts", "Subscribing account.", required=True),
            Field("plan_tier", "str", "Plan."),
            Field("seats", "int", "Seats."),
            Field("mrr", "float", "Monthly recurring revenue."),
            Field("arr", "float", "Annual recurring revenue."),
            Field("start_date", "date", "Start.", required=True),
            Field("end_date", "date", "End (empty while running)."),
            Field("renewal_date", "date", "Next renewal date."),
            Field("billing_frequency", "str", "Billing period.", choices=("monthly", "quarterly", "annual")),
            Field("auto_renew", "bool", "Renews automatically."),
            Field("is_trial", "bool", "A trial."),
            Field("upgraded", "bool", "Was an upgrade of an earlier plan."),
            Field("downgraded", "bool", "Was a downgrade of an earlier plan."),
        ),
        time_field="start_date",
    ),
    Entity(
        "usage",
        "Product usage, one row per subscription (or account), feature and day.",
        (
            _id("usage record"),
            _ref("account_id", "accounts", "Account (may be empty when the subscription says it)."),
            _ref("subscription_id", "subscriptions", "Subscription the usage belongs to."),
            Field("day", "date", "Day of use.", required=True),
            Field("feature", "str", "Feature or module used."),
            Field("events", "int", "Number of uses."),
            Field("duration_seconds", "float", "Time spent."),
            Field("errors", "int", "Errors seen."),
        ),
        time_field="day",
    ),
    Entity(
        "invoices",
        "Invoices and their payments.",
        (
            _id("invoice"),
            _ref("account_id", "accounts", "Billed account.", required=True),
            _ref("project_id", "projects", "Project billed, for project work."),
            Field("issued_at", "date", "Issue date.", required=True),
            Field("due_at", "date", "Payment due date."),
            Field("paid_at", "date", "Date paid (empty while unpaid)."),
            Field("amount", "float", "Amount invoiced."),
            Field("paid_amount", "float", "Amount received."),
        ),
        time_field="issued_at",
    ),
    Entity(
        "churn_events",
        "Accounts that left (or reactivated).",
        (
            _id("churn event"),
            _ref("account_id", "accounts", "The account.", required=True),
            Field("churned_at", "date", "Effective churn date.", required=True),
            Field("reason", "str", "Reason code."),
            Field("refund_amount", "float", "Refund paid."),
            Field("feedback", "text", "What the customer said."),
            Field("is_reactivation", "bool", "The event records a comeback, not a loss."),
        ),
        time_field="churned_at",
    ),
)

ENTITIES_BY_NAME: dict[str, Entity] = {entity.name: entity for entity in ENTITIES}


def entity(name: str) -> Entity:
    try:
        return ENTITIES_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown entity {name!r}; known: {', '.join(ENTITIES_BY_NAME)}") from None


def render_markdown() -> str:
    """The data dictionary as Markdown; `docs/data-dictionary.md` is this text, kept in step by a test."""
    lines = [
        "# Data dictionary",
        "",
        "Generated from `src/handoff/crm/dictionary.py` by `handoff docs dictionary`; do not edit by hand.",
        "Every CRM import maps its columns onto these fields. Fields marked *contact data* are masked for",
        "roles without the right, and every read of them is audited.",
        "",
    ]
    for ent in ENTITIES:
        lines += [f"## `{ent.name}`", "", ent.description, ""]
        if ent.time_field:
            lines += [f"Point-in-time field: `{ent.time_field}` (features for a cutoff only see rows before it).", ""]
        lines += ["| field | type | required | description |", "|---|---|---|---|"]
        for f in ent.fields:
            notes = [f.description]
            if f.references:
                notes.append(f"References `{f.references}`.")
            if f.choices:
                notes.append("One of " + ", ".join(f"`{c}`" for c in f.choices) + ".")
            if f.contact_data:
                notes.append("*Contact data.*")
            key = " (key)" if f.name == ent.key else ""
            lines.append(f"| `{f.name}`{key} | {f.type} | {'yes' if f.required else ''} | {' '.join(notes)} |")
        lines.append("")
    return "\n".join(lines)
