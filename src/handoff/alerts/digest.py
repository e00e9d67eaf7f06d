"""The morning digest: one message per account owner, only their accounts, riskiest first (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from handoff import markup

CAUSE_WORDS = {"threshold": "high churn risk", "jump": "risk jumped"}
WHY_WORDS = {"opened": "new", "reopened": "back (snooze lifted)", "riskier": "riskier"}


@dataclass(frozen=True)
class DigestItem:
    alert_id: str
    account_id: str
    account_name: str
    cause: str
    why: str  # opened, reopened, riskier
    probability: float
    previous_probability: float | None
    drivers: tuple[str, ...]
    change: str


@dataclass(frozen=True)
class Digest:
    run_date: date
    owner_id: str
    owner_name: str
    recipient: str | None
    items: tuple[DigestItem, ...] = field(default_factory=tuple)

    @property
    def subject(self) -> str:
        count = len(self.items)
        return f"Churn risk {self.run_date.isoformat()}: {count} account{'s' if count != 1 else ''} need you"

    @property
    def text(self) -> str:
        """The plain-text mail body; every value from the CRM or a model kept to its own line (`markup.plain`)."""
        put = markup.plain
        lines = [f"Hello {put(self.owner_name)},", "", "These of your accounts became riskier overnight:", ""]
        for rank, item in enumerate(self.items, 1):
            lines.append(
                f"{rank}. {put(item.account_name)} - {item.probability:.0%} churn risk in 90 days "
                f"({CAUSE_WORDS.get(item.cause, put(item.cause))}, {WHY_WORDS.get(item.why, put(item.why))})"
            )
            lines.append(f"   What changed: {put(item.change)}")
            if item.drivers:
                lines.append("   Why: " + "; ".join(put(driver) for driver in item.drivers))
            lines.append(f"   Alert {put(item.alert_id)}: snooze or resolve with `handoff alerts`.")
            lines.append("")
        return "\n".join(lines)

    def chat(self, escape: Callable[[str], str], bold: str = "**") -> str:
        """The chat message for one channel: `escape` is its rule from `handoff.markup` (`slack`, `markdown`), applied
        to every value; `bold` its emphasis mark."""
        lines = [f"{bold}{escape(self.subject)}{bold}", f"For {escape(self.owner_name)}:"]
        for item in self.items:
            drivers = "; ".join(escape(d) for d in item.drivers) if item.drivers else "no single driver stands out"
            lines.append(
                f"- {bold}{escape(item.account_name)}{bold} {item.probability:.0%} "
                f"({escape(CAUSE_WORDS.get(item.cause, item.cause))}). {escape(item.change)}. Why: {drivers}"
            )
        return "\n".join(lines)

    def as_payload(self) -> dict:
        """The generic webhook body: structured, so a receiver can route it without parsing text."""
        return {
            "type": "churn_digest",
            "run_date": self.run_date.isoformat(),
            "owner_id": self.owner_id,
            "owner_name": self.owner_name,
            "subject": self.subject,
            "alerts": [
                {
                    "alert_id": item.alert_id,
                    "account_id": item.account_id,
                    "account_name": item.account_name,
                    "cause": item.cause,
                    "why": item.why,
                    "probability": round(item.probability, 4),
                    "previous_probability": None
                    if item.previous_probability is None
                    else round(item.previous_probability, 4),
                    "drivers": list(item.drivers),
                    "change": item.change,
                }
                for item in self.items
            ],
        }


def digest_from_payload(payload: dict, recipient: str | None) -> Digest:
    """Rebuilds a stored digest, so a retry sends exactly what the first attempt sent."""
    items = tuple(
        DigestItem(
            alert_id=entry["alert_id"],
            account_id=entry["account_id"],
            account_name=entry["account_name"],
            cause=entry["cause"],
            why=entry["why"],
            probability=entry["probability"],
            previous_probability=entry["previous_probability"],
            drivers=tuple(entry["drivers"]),
            change=entry["change"],
        )
        for entry in payload["alerts"]
    )
    return Digest(date.fromisoformat(payload["run_date"]), payload["owner_id"], payload["owner_name"], recipient, items)


def group_digests(
    run_date: date, items_by_owner: Mapping[str, Iterable[DigestItem]], owners: Mapping[str, tuple[str, str | None]]
) -> list[Digest]:
    """One digest per owner with at least one item; each account once (its riskiest alert), riskiest first."""
    digests = []
    for owner_id in sorted(items_by_owner):
        best: dict[str, DigestItem] = {}
        for item in items_by_owner[owner_id]:
            if item.account_id not in best or item.probability > best[item.account_id].probability:
                best[item.account_id] = item
        if not best:
            continue
        ordered = tuple(sorted(best.values(), key=lambda item: (-item.probability, item.account_id)))
        name, email = owners.get(owner_id, (owner_id, None))
        digests.append(Digest(run_date, owner_id, name, email, ordered))
    return digests
