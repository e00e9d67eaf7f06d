"""The demo CRM history: a deterministic, causally structured company history that models can learn from.

The causal story (docs/crm.md says it in words): every account carries a hidden monthly *health* that drifts and
takes shocks (owner changes, escalated tickets, projects that overran). Health drives what we can observe — usage,
tickets, survey scores, email tone, payment delays, upgrades — and, together with renewal timing, segment, tenure,
auto-renewal and recent owner changes, the monthly churn hazard. Project effort depends on scope, product, contract,
segment, team size, description keywords and a per-account complexity the PM only partly sees; the sales team's first
estimate tracks true effort but is optimistic and noisy. Nothing is written after the day it would be known.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import accumulate

import numpy as np
import pandas as pd

from handoff.crm.dictionary import ENTITIES
from handoff.crm.frames import frame_from_columns, frame_from_rows

DEMO_DOMAIN = "handoff-demo.com"
YEARS = 4

_FIRST_NAMES = (
    ("Robert", "Bob"), ("William", "Bill"), ("Katherine", "Kate"), ("Alexander", "Alex"), ("Elizabeth", "Liz"),
    ("Michael", "Mike"), ("Jennifer", "Jen"), ("Daniel", "Dan"), ("Christopher", "Chris"), ("Margaret", "Maggie"),
    ("Thomas", "Tom"), ("Samantha", "Sam"), ("Benjamin", "Ben"), ("Victoria", "Vicky"), ("Nicholas", "Nick"),
    ("Jessica", "Jess"), ("Matthew", "Matt"), ("Rebecca", "Becky"), ("Jonathan", "Jon"), ("Patricia", "Pat"),
    ("Wei", None), ("Li", None), ("Mei", None), ("Jun", None), ("Xiaoming", "Ming"), ("Yuki", None),
    ("Hiroshi", None), ("Priya", None), ("Arjun", None), ("Ananya", None), ("Lukas", None), ("Sophie", None),
    ("Jonas", None), ("Lena", None), ("Mateo", None), ("Lucia", None), ("Olga", None), ("Ivan", None),
    ("Fatima", None), ("Omar", None), ("Chloe", None), ("Hugo", None), ("Emma", None), ("Noah", None),
    ("Aisha", None), ("Kwame", None), ("Sara", None), ("Erik", None), ("Ingrid", None), ("Diego", None),
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Johnson", "Brown", "Miller", "Davis", "Wilson", "Taylor", "Anderson", "Thomas", "Moore", "Martin",
    "Clark", "Lewis", "Walker", "Hall", "Young", "King", "Wright", "Green", "Baker", "Zhang", "Wang", "Chen", "Liu",
    "Huang", "Zhou", "Tanaka", "Sato", "Suzuki", "Sharma", "Patel", "Gupta", "Müller", "Schmidt", "Fischer",
    "Weber", "Garcia", "Rodriguez", "Lopez", "Rossi", "Dubois", "Laurent", "Ivanova", "Novak", "Kowalski",
    "Hansen", "Nielsen", "Okafor", "Mensah", "Haddad", "Kim", "Park", "Nguyen", "Silva", "Costa",
)  # fmt: skip
_TIMEZONES = (
    "Europe/Berlin", "Europe/London", "America/New_York", "America/Chicago", "America/Los_Angeles",
    "Asia/Shanghai", "Asia/Singapore", "Asia/Tokyo", "Asia/Kolkata", "Australia/Sydney",
)  # fmt: skip
_ROLE_COUNTS = (("sales", 11), ("pm", 8), ("engineer", 20), ("account_owner", 8), ("designer", 2), ("admin", 1))
_HOURLY_COST = {
    "sales": (60, 90),
    "pm": (80, 120),
    "engineer": (70, 115),
    "account_owner": (55, 85),
    "designer": (60, 90),
    "admin": (40, 60),
}
_ROLE_SKILLS = {
    "sales": ("negotiation", "saas", "enterprise sales", "discovery", "forecasting", "german", "mandarin"),
    "pm": ("planning", "scrum", "stakeholder management", "risk management", "budgeting", "sap", "migration"),
    "engineer": (
        "python", "java", "sql", "data", "sap", "integration", "migration", "react", "mobile", "devops", "sso",
        "reporting", "salesforce", "etl",
    ),
    "account_owner": ("renewals", "customer success", "onboarding", "upselling", "training"),
    "designer": ("ux", "ui", "research", "figma"),
    "admin": ("finance", "operations"),
}  # fmt: skip

_INDUSTRIES = (
    "Software", "FinTech", "Healthcare", "Retail", "Manufacturing", "Logistics", "Education", "Media",
    "Energy", "Insurance", "Telecom", "Public Sector",
)  # fmt: skip
_COUNTRIES = ("US", "GB", "DE", "FR", "NL", "CN", "JP", "SG", "AU", "CA", "IN", "BR")
_COUNTRY_WEIGHTS = (0.28, 0.1, 0.12, 0.06, 0.04, 0.1, 0.05, 0.04, 0.05, 0.05, 0.07, 0.04)
_PHONE_PREFIX = {
    "US": "+1", "CA": "+1", "GB": "+44", "DE": "+49", "FR": "+33", "NL": "+31", "CN": "+86", "JP": "+81",
    "SG": "+65", "AU": "+61", "IN": "+91", "BR": "+55",
}  # fmt: skip
_NAME_HEADS = (
    "North", "Blue", "Silver", "Bright", "Green", "Iron", "Summit", "Harbor", "Cedar", "Nova", "Apex", "Vertex",
    "Pioneer", "Atlas", "Orion", "Lumen", "Quantum", "Crescent", "Falcon", "Granite", "Maple", "Polar", "Redwood",
    "Sterling", "Tidal", "Urban", "Vivid", "Willow", "Zenith", "Amber", "Beacon", "Cobalt", "Delta", "Ember",
    "Fjord", "Golden", "Helix", "Indigo", "Juniper", "Keystone",
)  # fmt: skip
_NAME_TAILS = (
    "wind", "stone", "field", "point", "bridge", "wave", "peak", "line", "works", "gate", "path", "light",
    "forge", "ridge", "port", "brook", "crest", "leaf", "star", "vale",
)  # fmt: skip
_NAME_KINDS = ("Logistics", "Systems", "Health", "Retail", "Labs", "Group", "Analytics", "Energy", "Media", "Foods")
_LEGAL = {"US": "Inc", "CA": "Inc", "GB": "Ltd", "DE": "GmbH", "FR": "SAS", "NL": "BV", "CN": "Co., Ltd."}
_TLD = {"US": "com", "CA": "ca", "GB": "co.uk", "DE": "de", "FR": "fr", "NL": "nl", "CN": "cn", "JP": "jp"}
_CONTACT_TITLES = (
    "CTO", "Head of IT", "Operations Manager", "Project Lead", "CFO", "Procurement Manager", "Product Owner",
    "IT Administrator", "VP Engineering", "Customer Service Lead",
)  # fmt: skip

_SEGMENTS = ("smb", "mid_market", "enterprise")
_SEGMENT_P = (0.55, 0.30, 0.15)
_TIERS = ("Basic", "Pro", "Enterprise")
_TIER_BY_SEGMENT = {"smb": (0.65, 0.3, 0.05), "mid_market": (0.2, 0.6, 0.2), "enterprise": (0.02, 0.28, 0.7)}
_SEAT_PRICE = {"Basic": 15.0, "Pro": 35.0, "Enterprise": 60.0}
_BILLING_BY_SEGMENT = {"smb": (0.6, 0.25, 0.15), "mid_market": (0.3, 0.4, 0.3), "enterprise": (0.1, 0.3, 0.6)}
_BILLING = ("monthly", "quarterly", "annual")
_BILLING_MONTHS = {"monthly": 1, "quarterly": 3, "annual": 12}

# Product: (PM-visible effort factor, delivery kind). Contract types change true effort but not the PM's plan.
_PRODUCTS = {
    "Analytics Suite": 1.0,
    "CRM Connect": 0.9,
    "Data Platform": 1.3,
    "Mobile App": 1.15,
    "Support Desk": 0.7,
    "Custom Integration": 1.25,
}
_CONTRACT_EFFORT = {"fixed_price": 1.0, "time_and_materials": 1.12, "retainer": 0.95}
_SEGMENT_EFFORT = {"smb": 0.9, "mid_market": 1.1, "enterprise": 1.3}
# Description phrases: (text, true effort factor). The PM's plan only sees 40 % of the extra effort they bring.
_PHRASES = (
    ("data migration from their legacy system", 1.3),
    ("integration with their SAP ERP", 1.45),
    ("REST API integration with the billing system", 1.18),
    ("custom reporting dashboards", 1.06),
    ("user training for the operations staff", 1.0),
    ("single sign-on setup", 1.02),
    ("multi-country rollout", 1.22),
    ("a pilot with one department first", 0.9),
    ("configuration of standard workflows", 0.92),
    ("mobile access for field staff", 1.08),
)
_PHRASE_P = np.array([0.14, 0.08, 0.12, 0.12, 0.12, 0.1, 0.06, 0.08, 0.1, 0.08])
_TASK_TITLES = (
    "Run kickoff workshop", "Collect requirements", "Configure workspace", "Set up single sign-on",
    "Import customer data", "Build integration connector", "Design report templates", "Write test plan",
    "Run user acceptance testing", "Train key users", "Prepare go-live checklist", "Migrate historical records",
    "Review security settings", "Tune performance", "Hand over documentation", "Set up monitoring",
)  # fmt: skip
_TICKET_CATEGORIES = ("login", "billing", "performance", "bug", "integration", "how-to", "data import", "reporting")

_EMAIL_IN = {
    "neg": (
        ("Still waiting on the fix", "We reported this two weeks ago and nothing has changed. This is not acceptable."),
        ("Unhappy with the last release", "The update broke our reports again. Our team is frustrated."),
        ("Invoice question", "We were charged for seats we do not use. Please correct this before we pay."),
        ("Escalation", "I need to escalate the delays on our project. Who is accountable here?"),
        ("Reconsidering the contract", "Management asked me to review alternatives before the renewal."),
    ),
    "mid": (
        ("Question about the dashboard", "Could you explain how the weekly numbers are calculated?"),
        ("Meeting next week", "Can we move our check-in to Thursday? Please send the agenda beforehand."),
        ("New user access", "Please add two colleagues from finance to our workspace."),
        ("Export format", "Is there a way to export the data as CSV with our own column names?"),
    ),
    "pos": (
        ("Thanks for the quick help", "The team resolved our issue within the hour. Much appreciated!"),
        ("Great rollout", "Everyone is using the new workflows already. Thanks for the smooth rollout."),
        ("Expanding to another team", "We would like to roll this out to our sales team as well. Can you quote?"),
        ("Positive feedback", "Our managers love the new reports. Keep it up."),
    ),
}
_EMAIL_OUT = (
    ("Follow-up from our call", "Thanks for your time today. As discussed, here are the next steps."),
    ("Your quarterly review", "Please find attached the usage summary for the last quarter."),
    ("Product update", "We released new features this month; happy to walk you through them."),
    ("Checking in", "Just checking in to see how things are going with the team."),
)
_CALL_NOTES = (
    ("Check-in call", "Discussed adoption and open tickets."),
    ("Renewal call", "Talked through the renewal terms and seat count."),
    ("Support call", "Walked the customer through a configuration issue."),
)
_MEETING_NOTES = (
    ("Quarterly business review", "Reviewed goals, usage and the roadmap."),
    ("Project status meeting", "Went through milestones, risks and open tasks."),
    ("Workshop", "Ran a workshop on reporting best practice."),
)
_NPS_COMMENTS = {
    "neg": ("Support is too slow.", "Too expensive for what we get.", "The project ran late.", "Hard to use."),
    "mid": ("It does the job.", "Some features are missing.", "OK overall.", ""),
    "pos": ("Great product and team.", "Very helpful support.", "Easy to use.", "Would recommend."),
}
_CHURN_FEEDBACK = {
    "low_adoption": "Our team stopped using it.",
    "support": "Support did not solve our problems.",
    "delivery": "The project went over time and budget.",
    "pricing": "Too expensive for our budget.",
    "competitor": "We switched to a competitor.",
    "budget": "Budget cuts this year.",
}


class _Random:
    """numpy's Generator with fast scalar draws: per-call overhead dominated the simulation, so scalars come
    from pre-drawn buffers (still fully determined by the seed); calls with `size=` go to the Generator."""

    _BUFFER = 1 << 16

    def __init__(self, generator: np.random.Generator) -> None:
        self.generator = generator
        self._uniforms: list[float] = []
        self._normals: list[float] = []

    def __getattr__(self, name: str):
        return getattr(self.generator, name)

    def random(self, size=None):
        if size is not None:
            return self.generator.random(size)
        if not self._uniforms:
            self._uniforms = self.generator.random(self._BUFFER).tolist()
        return self._uniforms.pop()

    def standard_normal(self) -> float:
        if not self._normals:
            self._normals = self.generator.standard_normal(self._BUFFER).tolist()
        return self._normals.pop()

    def normal(self, loc=0.0, scale=1.0, size=None):
        if size is not None:
            return self.generator.normal(loc, scale, size)
        return loc + scale * self.standard_normal()

    def lognormal(self, mean=0.0, sigma=1.0, size=None):
        if size is not None:
            return self.generator.lognormal(mean, sigma, size)
        return math.exp(mean + sigma * self.standard_normal())

    def uniform(self, low=0.0, high=1.0, size=None):
        if size is not None:
            return self.generator.uniform(low, high, size)
        return low + (high - low) * self.random()

    def integers(self, low, high=None, size=None):
        if size is not None:
            return self.generator.integers(low, high, size)
        if high is None:
            low, high = 0, low
        return low + min(high - low - 1, int(self.random() * (high - low)))

    def poisson(self, lam, size=None):
        if size is not None or not np.isscalar(lam):
            return self.generator.poisson(lam, size)
        if lam > 30:
            return max(0, round(self.normal(lam, math.sqrt(lam))))
        # Inversion: fine for the small rates used here.
        count, term = 0, math.exp(-lam)
        total, u = term, self.random()
        while u > total and count < 200:
            count += 1
            term *= lam / count
            total += term
        return count


def _clip(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(day.day, 28))


@dataclass
class _Member:
    id: str
    role: str
    left: date | None  # left the company: accounts they own are handed over
    name: str = ""


@dataclass
class _Project:
    """What the simulation needs to remember about a project while its account lives on."""

    id: str
    row: dict
    actual_end: date
    overrun: float
    delay_days: int
    task_rows: list = field(default_factory=list)


class _History:
    """Collects rows per entity as tuples in dictionary field order, with running ids."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple]] = {e.name: [] for e in ENTITIES}
        self.counters: dict[str, int] = {}
        self._order = {e.name: e.field_names for e in ENTITIES}

    def next_id(self, prefix: str, width: int) -> str:
        self.counters[prefix] = self.counters.get(prefix, 0) + 1
        return f"{prefix}-{self.counters[prefix]:0{width}d}"

    def add(self, entity_name: str, **values) -> None:
        self.rows[entity_name].append(tuple(map(values.get, self._order[entity_name])))


class _Generator:
    def __init__(self, accounts: int, seed: int, end: date) -> None:
        self.n_accounts = accounts
        self.rng = _Random(np.random.default_rng(seed))
        self.end = end
        self.start = date(end.year - YEARS, end.month, 1)
        self.h = _History()
        self.usage_parts: list[dict[str, np.ndarray]] = []
        self.used_names: set[str] = set()
        self.used_domains: set[str] = set()

    # ---- small helpers -------------------------------------------------------------------------------------
    def choice(self, options, p=None):
        if p is None:
            return options[int(self.rng.random() * len(options))]
        return options[min(len(options) - 1, bisect_right(list(accumulate(p)), self.rng.random()))]

    def moment(self, day: date) -> datetime:
        """A working-hours timestamp on a day."""
        minutes = int(self.rng.integers(8 * 60, 18 * 60))
        return datetime.combine(day, time(minutes // 60, minutes % 60))

    def before_end(self, value: date | datetime | None) -> date | datetime | None:
        if value is None:
            return None
        as_date = value.date() if isinstance(value, datetime) else value
        return value if as_date <= self.end else None

    # ---- team --------------------------------------------------------------------------------------------
    def team(self) -> None:
        rng = self.rng
        total = sum(n for _, n in _ROLE_COUNTS)
        firsts = rng.permutation(len(_FIRST_NAMES))[:total]
        lasts = rng.choice(len(_LAST_NAMES), size=total)
        self.members: list[_Member] = []
        index = 0
        for role, count in _ROLE_COUNTS:
            for _ in range(count):
                first, nickname = _FIRST_NAMES[firsts[index]]
                last = _LAST_NAMES[lasts[index]]
                index += 1
                member_id = self.h.next_id("TM", 3)
                ascii_last = last.replace("ü", "ue")
                email = f"{first}.{ascii_last}@{DEMO_DOMAIN}".lower()
                handle = f"@{first[0]}{ascii_last}".lower()
                aliases = ", ".join(x for x in (nickname, first.lower(), handle) if x)
                skills = rng.choice(
                    _ROLE_SKILLS[role], size=min(len(_ROLE_SKILLS[role]), 2 + int(rng.integers(0, 3))), replace=False
                )
                low, high = _HOURLY_COST[role]
                # A few account owners and engineers left during the history; their accounts changed hands.
                left = None
                if role in ("account_owner", "engineer", "sales") and rng.random() < 0.15:
                    left = self.start + timedelta(days=int(rng.integers(200, (self.end - self.start).days - 60)))
                self.members.append(_Member(member_id, role, left, f"{first} {last}"))
                self.h.add(
                    "team_members",
                    id=member_id,
                    name=f"{first} {last}",
                    email=email,
                    role=role,
                    skills=", ".join(sorted(set(skills))),
                    aliases=aliases,
                    timezone=self.choice(_TIMEZONES),
                    hourly_cost=round(float(rng.uniform(low, high)), 2),
                    active=left is None,
                )
        self.member_by_id = {m.id: m for m in self.members}
        self.by_role = {role: [m for m in self.members if m.role == role] for role, _ in _ROLE_COUNTS}

    def staff(self, role: str, day: date, exclude: str | None = None) -> str:
        """Somebody in a role who is still with us on that day."""
        pool = [m for m in self.by_role[role] if (m.left is None or m.left > day) and m.id != exclude]
        return pool[int(self.rng.integers(len(pool)))].id

    # ---- accounts ------------------------------------------------------------------------------------------
    def account_identity(self, country: str) -> tuple[str, str]:
        rng = self.rng
        while True:
            head, tail = self.choice(_NAME_HEADS), self.choice(_NAME_TAILS)
            kind = self.choice(_NAME_KINDS)
            base = f"{head}{tail}"
            name = f"{base} {kind} {_LEGAL.get(country, 'Ltd')}".strip()
            if name in self.used_names:
                continue
            self.used_names.add(name)
            domain = f"{base.lower()}-{kind.lower()}.{_TLD.get(country, 'com')}"
            if domain in self.used_domains:
                domain = f"{base.lower()}{int(rng.integers(2, 99))}.{_TLD.get(country, 'com')}"
            if domain in self.used_domains:
                self.used_names.discard(name)
                continue
            self.used_domains.add(domain)
            return name, domain

    def run(self) -> dict[str, pd.DataFrame]:
        self.team()
        total_days = (self.end - self.start).days
        # Growth: more customers signed up in later years.
        signup_offsets = np.sort((total_days - 45) * self.rng.random(self.n_accounts) ** 0.85).astype(int)
        for offset in signup_offsets:
            self.account(self.start + timedelta(days=int(offset)))
        return self.frames()

    def account(self, created: date) -> None:
        rng, h = self.rng, self.h
        account_id = h.next_id("A", 5)
        segment = self.choice(_SEGMENTS, p=_SEGMENT_P)
        country = self.choice(_COUNTRIES, p=_COUNTRY_WEIGHTS)
        industry = self.choice(_INDUSTRIES)
        name, domain = self.account_identity(country)
        tier = self.choice(_TIERS, p=_TIER_BY_SEGMENT[segment])
        seat_scale = {"smb": (2.5, 0.5), "mid_market": (4.2, 0.5), "enterprise": (6.0, 0.6)}[segment]
        seats = max(3, int(rng.lognormal(*seat_scale)))
        billing = self.choice(_BILLING, p=_BILLING_BY_SEGMENT[segment])
        auto_renew = bool(rng.random() < 0.8)
        # Hidden traits: baseline health, how hard their projects are, how slowly they pay.
        base_health = float(rng.normal({"smb": 0.1, "mid_market": 0.25, "enterprise": 0.4}[segment], 0.45))
        complexity = float(rng.lognormal(0.0, 0.22))
        pay_habit = float(rng.choice([0.0, 0.0, 0.0, 6.0, 14.0]))
        owner = self.staff("account_owner", created)

        contacts = self.contacts(account_id, domain, country)
        account_row = dict(
            id=account_id,
            name=name,
            domain=domain,
            industry=industry,
            segment=segment,
            country=country,
            created_at=created,
        )
        state = _AccountState(
            account_id=account_id,
            segment=segment,
            industry=industry,
            short=name.split()[0],
            created=created,
            tier=tier,
            seats=seats,
            billing=billing,
            auto_renew=auto_renew,
            base_health=base_health,
            complexity=complexity,
            pay_habit=pay_habit,
            owner=owner,
            contacts=contacts,
        )
        # The first deal is the licence sale that made them a customer, closed the day the account was created.
        self.deal(state, created - timedelta(days=int(rng.integers(20, 90))), first=True)
        self.simulate(state)
        account_row.update(
            owner_id=state.owner,
            plan_tier=state.tier,
            seats=state.seats,
            status="churned" if state.churned_at else "active",
        )
        h.add("accounts", **account_row)

    def contacts(self, account_id: str, domain: str, country: str) -> list[str]:
        rng = self.rng
        ids = []
        used = set()
        for position in range(int(rng.integers(2, 6))):
            first, _ = self.choice(_FIRST_NAMES)
            last = self.choice(_LAST_NAMES)
            local = f"{first}.{last}".lower().replace("ü", "ue")
            if local in used:
                local = f"{local}{position}"
            used.add(local)
            contact_id = self.h.next_id("C", 6)
            ids.append(contact_id)
            digits = "".join(str(d) for d in rng.integers(0, 10, size=9))
            self.h.add(
                "contacts",
                id=contact_id,
                account_id=account_id,
                first_name=first,
                last_name=last,
                email=f"{local}@{domain}",
                phone=f"{_PHONE_PREFIX[country]} {digits[:3]} {digits[3:6]} {digits[6:]}",
                title=self.choice(_CONTACT_TITLES),
                is_primary=position == 0,
            )
        return ids

    # ---- the monthly simulation ------------------------------------------------------------------------------
    def simulate(self, s: _AccountState) -> None:
        rng = self.rng
        health = s.base_health + float(rng.normal(0, 0.3))
        drift = 0.0
        month_start = date(s.created.year, s.created.month, 1)
        renewal = _add_months(s.created, 12)
        self.subscription(s, s.created, upgraded=False, downgraded=False)
        next_invoice = s.created
        next_survey = s.created + timedelta(days=int(rng.integers(60, 150)))
        month_index = 0
        health_path: list[tuple[date, float]] = []
        while month_start <= self.end:
            month_end = min(_add_months(month_start, 1) - timedelta(days=1), self.end)
            first_day = max(month_start, s.created)
            # Health drifts back towards the account's baseline, with noise and this month's shocks.
            # A drifting trend makes declines last for months, as disengagement does in real accounts.
            drift = 0.75 * drift + rng.normal(0, 0.07)
            health = 0.88 * health + 0.12 * s.base_health + drift + rng.normal(0, 0.15) + s.shock
            s.shock = 0.0
            s.last_health = health
            health_path.append((first_day, health))
            tenure_months = month_index

            renewal_this_month = month_start <= renewal <= month_end
            recent_owner_change = s.last_owner_change is not None and (first_day - s.last_owner_change).days < 100
            recent_bad_project = s.last_overrun_day is not None and (first_day - s.last_overrun_day).days < 180
            three_months_ago = health_path[-4][1] if len(health_path) >= 4 else health_path[0][1]
            logit = (
                -4.7
                - 1.9 * health
                - 2.0 * (health - three_months_ago)
                + (1.5 if renewal_this_month else 0.0)
                + (0.7 if renewal_this_month and not s.auto_renew else 0.0)
                + {"smb": 0.45, "mid_market": 0.0, "enterprise": -0.5}[s.segment]
                - 0.025 * min(tenure_months, 36)
                + (0.6 if recent_owner_change else 0.0)
                + (0.5 if recent_bad_project else 0.0)
            )
            if month_index > 0 and rng.random() < _sigmoid(logit):
                # Annual contracts end at renewal; others can leave on any day of the month.
                if renewal_this_month:
                    churn_day = renewal
                else:
                    churn_day = first_day + timedelta(days=int(rng.integers(0, max(1, (month_end - first_day).days))))
                self.finish_projects(s, churn_day - timedelta(days=1))
                self.churn(s, churn_day, health)
                break

            self.owner_changes(s, first_day, month_end)
            self.finish_projects(s, month_end)

            if renewal_this_month:
                self.renew(s, renewal, health)
                renewal = _add_months(renewal, 12)
            while next_invoice <= month_end:
                self.subscription_invoice(s, next_invoice, health)
                next_invoice = _add_months(next_invoice, _BILLING_MONTHS[s.billing])
            self.month_activity(s, first_day, month_end, health)
            if next_survey <= month_end:
                self.nps(s, next_survey, health)
                next_survey = next_survey + timedelta(days=int(rng.integers(80, 200)))
            if rng.random() < 0.07 * math.exp(0.5 * health) and month_end < self.end - timedelta(days=5):
                self.deal(s, first_day + timedelta(days=int(rng.integers(0, 28))), first=False, health=health)
            month_start = _add_months(month_start, 1)
            month_index += 1
        s.renewal = renewal
        self.close_open_subscription(s)
        self.write_deals(s)
        self.close_projects_at_churn(s)
        self.usage(s, health_path)

    def owner_changes(self, s: _AccountState, first_day: date, month_end: date) -> None:
        owner = self.member_by_id[s.owner]
        reason = None
        if owner.left is not None and owner.left <= month_end:
            reason, day = "previous owner left the company", max(first_day, owner.left)
        elif self.rng.random() < 0.008:
            reason, day = "territory rebalancing", first_day + timedelta(days=int(self.rng.integers(0, 27)))
        if reason is None or day > self.end:
            return
        new_owner = self.staff("account_owner", day, exclude=s.owner)
        self.h.add(
            "activities",
            id=self.h.next_id("ACT", 7),
            account_id=s.account_id,
            team_member_id=new_owner,
            kind="owner_change",
            occurred_at=self.moment(day),
            subject=f"Account owner changed from {owner.name} to {self.member_by_id[new_owner].name}",
            body=f"Reason: {reason}.",
        )
        s.owner = new_owner
        s.last_owner_change = day
        s.shock -= 0.3  # a new face: the relationship starts over

    def month_activity(self, s: _AccountState, first_day: date, month_end: date, health: float) -> None:
        rng, h = self.rng, self.h
        span = max(1, (month_end - first_day).days + 1)
        rate = {"smb": 1.0, "mid_market": 1.5, "enterprise": 2.1}[s.segment]
        for _ in range(int(rng.poisson(rate))):
            day = first_day + timedelta(days=int(rng.integers(0, span)))
            kind = self.choice(("email", "email", "email", "call", "meeting"))
            contact = self.choice(s.contacts)
            project = s.running_project(day)
            direction = None
            sentiment = None
            if kind == "email" and rng.random() < 0.55:
                direction = "inbound"
                sentiment = float(_clip(0.55 * health + rng.normal(0, 0.35), -1, 1))
                band = "neg" if sentiment < -0.25 else "pos" if sentiment > 0.3 else "mid"
                subject, body = self.choice(_EMAIL_IN[band])
            elif kind == "email":
                direction = "outbound"
                subject, body = self.choice(_EMAIL_OUT)
            elif kind == "call":
                subject, body = self.choice(_CALL_NOTES)
                sentiment = float(_clip(0.4 * health + rng.normal(0, 0.4), -1, 1))
            else:
                subject, body = self.choice(_MEETING_NOTES)
                sentiment = float(_clip(0.4 * health + rng.normal(0, 0.4), -1, 1))
            h.add(
                "activities",
                id=h.next_id("ACT", 7),
                account_id=s.account_id,
                contact_id=contact,
                project_id=project,
                team_member_id=s.owner,
                kind=kind,
                direction=direction,
                occurred_at=self.moment(day),
                subject=subject,
                body=body,
                sentiment=None if sentiment is None else round(sentiment, 3),
            )
        # Tickets: unhappy or struggling customers raise more, and escalate more.
        ticket_rate = {"smb": 0.3, "mid_market": 0.5, "enterprise": 0.8}[s.segment] * math.exp(-0.8 * health)
        for _ in range(int(rng.poisson(ticket_rate))):
            day = first_day + timedelta(days=int(rng.integers(0, span)))
            self.ticket(s, day, health)

    def ticket(self, s: _AccountState, day: date, health: float) -> None:
        rng = self.rng
        opened = self.moment(day)
        escalated = bool(rng.random() < _sigmoid(-2.3 - 0.9 * health))
        priority = self.choice(("low", "normal", "high", "urgent"), p=(0.25, 0.45, 0.22, 0.08))
        if escalated and priority in ("low", "normal"):
            priority = "high"
        first_response = float(rng.lognormal(4.0, 0.8))
        resolution = float(rng.lognormal(2.8 + (0.8 if escalated else 0.0), 0.9))
        closed = opened + timedelta(hours=resolution)
        still_open = closed.date() > self.end
        satisfaction = None
        if not still_open and rng.random() < 0.55:
            satisfaction = float(
                np.clip(round(3.7 + 0.8 * health - (0.8 if escalated else 0) + rng.normal(0, 0.9)), 1, 5)
            )
        self.h.add(
            "tickets",
            id=self.h.next_id("TK", 6),
            account_id=s.account_id,
            opened_at=opened,
            closed_at=None if still_open else closed,
            priority=priority,
            category=self.choice(_TICKET_CATEGORIES),
            first_response_minutes=round(first_response, 1),
            resolution_hours=None if still_open else round(resolution, 1),
            satisfaction=satisfaction,
            escalated=escalated,
        )
        if escalated:
            s.shock -= 0.1

    def nps(self, s: _AccountState, day: date, health: float) -> None:
        rng = self.rng
        if rng.random() > 0.45:
            return
        score = float(_clip(round(7.0 + 2.2 * health + rng.normal(0, 1.6)), 0, 10))
        band = "neg" if score <= 6 else "pos" if score >= 9 else "mid"
        comment = self.choice(_NPS_COMMENTS[band])
        self.h.add(
            "surveys",
            id=self.h.next_id("SV", 6),
            account_id=s.account_id,
            contact_id=self.choice(s.contacts),
            kind="nps",
            score=score,
            responded_at=self.moment(day),
            comment=comment or None,
        )

    # ---- money: subscriptions and invoices ----------------------------------------------------------------------
    def subscription(self, s: _AccountState, start: date, *, upgraded: bool, downgraded: bool) -> None:
        mrr = round(s.seats * _SEAT_PRICE[s.tier] * float(self.rng.uniform(0.85, 1.0)), 2)
        s.mrr = mrr
        s.subscription_id = self.h.next_id("SUB", 6)
        s.subscription_start = start
        s.subscription_flags = (upgraded, downgraded)
        s.subscription_ids.append((start, s.subscription_id))

    def close_subscription(self, s: _AccountState, end_date: date | None, renewal: date) -> None:
        upgraded, downgraded = s.subscription_flags
        self.h.add(
            "subscriptions",
            id=s.subscription_id,
            account_id=s.account_id,
            plan_tier=s.tier,
            seats=s.seats,
            mrr=s.mrr,
            arr=round(12 * s.mrr, 2),
            start_date=s.subscription_start,
            end_date=end_date,
            renewal_date=renewal,
            billing_frequency=s.billing,
            auto_renew=s.auto_renew,
            is_trial=False,
            upgraded=upgraded,
            downgraded=downgraded,
        )

    def renew(self, s: _AccountState, day: date, health: float) -> None:
        rng = self.rng
        if rng.random() < _sigmoid(-2.6 + 1.3 * health):
            self.close_subscription(s, day, day)
            s.seats = int(math.ceil(s.seats * rng.uniform(1.15, 1.5)))
            if s.tier != "Enterprise" and rng.random() < 0.3:
                s.tier = _TIERS[_TIERS.index(s.tier) + 1]
            self.subscription(s, day, upgraded=True, downgraded=False)
        elif rng.random() < _sigmoid(-2.8 - 1.3 * health):
            self.close_subscription(s, day, day)
            s.seats = max(2, int(s.seats * rng.uniform(0.6, 0.85)))
            self.subscription(s, day, upgraded=False, downgraded=True)

    def close_open_subscription(self, s: _AccountState) -> None:
        assert s.renewal is not None  # set when the simulation ends
        if s.churned_at:
            self.close_subscription(s, s.churned_at, s.renewal if s.renewal >= s.churned_at else s.churned_at)
        else:
            self.close_subscription(s, None, s.renewal)

    def subscription_invoice(self, s: _AccountState, issued: date, health: float) -> None:
        months = _BILLING_MONTHS[s.billing]
        self.invoice(s, issued, round(s.mrr * months, 2), health, project_id=None)

    def invoice(self, s: _AccountState, issued: date, amount: float, health: float, project_id: str | None) -> None:
        rng = self.rng
        terms = 45 if s.segment == "enterprise" else 30
        due = issued + timedelta(days=terms)
        # Payment delay: a fixed habit (some firms always pay late) plus a part driven by health.
        delay = s.pay_habit + rng.normal(-4.0 - 9.0 * health, 7.0)
        paid: date | None = max(due + timedelta(days=int(round(delay))), issued + timedelta(days=1))
        if s.churned_at is not None and paid is not None and paid > s.churned_at + timedelta(days=30):
            paid = None  # written off after they left
        paid = self.before_end(paid)
        self.h.add(
            "invoices",
            id=self.h.next_id("INV", 6),
            account_id=s.account_id,
            project_id=project_id,
            issued_at=issued,
            due_at=due,
            paid_at=paid,
            amount=amount,
            paid_amount=amount if paid else None,
        )

    # ---- deals and projects ----------------------------------------------------------------------------------
    def deal(self, s: _AccountState, opened: date, *, first: bool, health: float = 0.0) -> None:
        rng, h = self.rng, self.h
        deal_id = h.next_id("D", 6)
        owner = self.staff("sales", opened)
        if first:
            contract = "subscription"
            product = "Platform licence"
            amount = round(s.seats * _SEAT_PRICE[s.tier] * 12, 2)
            closed, stage = s.created, "won"
        else:
            product = self.choice(tuple(_PRODUCTS))
            contract = self.choice(
                ("fixed_price", "time_and_materials", "retainer", "subscription"), p=(0.45, 0.3, 0.1, 0.15)
            )
            amount = 0.0
            closed = opened + timedelta(days=int(rng.integers(15, 120)))
            won = rng.random() < _sigmoid(0.2 + 0.9 * health)
            stage = "won" if won else "lost"
            if closed > self.end:
                stage, closed = "open", None
        project = None
        if contract != "subscription":
            project = self.plan_project(s, deal_id, product, contract, closed or opened)
            amount = round(project.row["planned_budget"] * float(rng.uniform(1.3, 1.6)), -2)
        elif not first:
            amount = round(s.seats * _SEAT_PRICE[s.tier] * float(rng.uniform(2, 6)), 2)
        name = f"{s.short} — {product}" + (" (new business)" if first else "")
        s.deals.append(
            (
                project,
                dict(
                    id=deal_id,
                    account_id=s.account_id,
                    owner_id=owner,
                    name=name,
                    stage=stage,
                    amount=amount,
                    product=product,
                    contract_type=contract,
                    created_at=opened,
                    closed_at=closed,
                ),
            )
        )
        if stage == "won" and project is not None:
            s.pending_projects.append(project)

    def write_deals(self, s: _AccountState) -> None:
        """Deals still undecided when the account left are lost on that day; their projects never start."""
        for project, row in s.deals:
            if s.churned_at is not None and (row["closed_at"] is None or row["closed_at"] > s.churned_at):
                row.update(stage="lost", closed_at=s.churned_at)
                if project in s.pending_projects:
                    s.pending_projects.remove(project)
            self.h.add("deals", **row)

    def plan_project(self, s: _AccountState, deal_id: str, product: str, contract: str, kickoff: date) -> _Project:
        rng = self.rng
        n_phrases = int(rng.integers(1, 4))
        picks = rng.choice(len(_PHRASES), size=n_phrases, replace=False, p=_PHRASE_P)
        phrases = [_PHRASES[i] for i in picks]
        keyword_factor = math.prod(f for _, f in phrases)
        scope = int(_clip(rng.poisson({"smb": 4, "mid_market": 6, "enterprise": 9}[s.segment]), 1, 20))
        team = int(_clip(round(1 + scope / 3 + rng.normal(0, 1)), 1, 10))
        size = 55.0 * scope**0.9 * _PRODUCTS[product] * _SEGMENT_EFFORT[s.segment]
        overhead = 1 + 0.05 * (team - 1)  # coordination costs grow with the team
        true_hours = (
            size
            * keyword_factor
            * _CONTRACT_EFFORT[contract]
            * s.complexity
            * overhead
            * float(rng.lognormal(0, 0.25))
            # Accounts that already had a project are easier to deliver for (known systems, known people).
            * (0.9 if s.projects_done else 1.0)
        )
        planned_hours = (
            size * (1 + 0.4 * (keyword_factor - 1)) * (1 + 0.02 * (team - 1)) * float(rng.lognormal(0, 0.12))
        )
        sales_estimate = true_hours * math.exp(rng.normal(-0.22, 0.4)) if rng.random() < 0.7 else None
        rate = 95.0
        planned_budget = planned_hours * rate * float(rng.uniform(1.05, 1.15))
        planned_start = kickoff + timedelta(days=int(rng.integers(7, 35)))
        weekly_capacity = team * 28.0
        planned_days = max(14, int(planned_hours / weekly_capacity * 7))
        planned_end = planned_start + timedelta(days=planned_days)
        actual_start = planned_start + timedelta(days=int(max(0, rng.normal(3, 6))))
        efficiency = 1.0 / (1 + 0.03 * (team - 1))
        actual_days = max(10, int(true_hours / (weekly_capacity * efficiency) * 7 * float(rng.lognormal(0, 0.15))))
        actual_end = actual_start + timedelta(days=actual_days)
        actual_cost = true_hours * rate * float(rng.lognormal(0, 0.05))
        project_id = self.h.next_id("P", 5)
        manager = self.staff("pm", kickoff)
        verb = self.choice(("Roll out", "Implement", "Deliver", "Extend"))
        description = f"{verb} {product} for the {s.industry.lower()} team: " + "; ".join(p for p, _ in phrases) + "."
        row = dict(
            id=project_id,
            account_id=s.account_id,
            deal_id=deal_id,
            manager_id=manager,
            name=f"{s.short} {product} {planned_start.year}",
            product=product,
            contract_type=contract,
            team_size=team,
            scope_items=scope,
            description=description,
            planned_budget=round(planned_budget, 2),
            sales_estimate_hours=None if sales_estimate is None else round(sales_estimate, 1),
            planned_hours=round(planned_hours, 1),
            planned_start=planned_start,
            planned_end=planned_end,
            # The truth, revealed only as it happens (see `close_project`).
            _true_hours=true_hours,
            _actual_cost=actual_cost,
            _actual_start=actual_start,
            _created=kickoff,
        )
        overrun = actual_cost / planned_budget - 1
        return _Project(project_id, row, actual_end, overrun, (actual_end - planned_end).days)

    def finish_projects(self, s: _AccountState, month_end: date) -> None:
        """Projects whose real end falls in this month finish: their outcome shakes the account's health."""
        for project in [p for p in s.pending_projects if p.actual_end <= month_end]:
            s.pending_projects.remove(project)
            self.close_project(s, project, status="done", stop=project.actual_end)
            bad = max(0.0, project.overrun - 0.1) + max(0, project.delay_days) / 120
            s.shock -= 0.8 * bad
            if project.overrun > 0.15 or project.delay_days > 30:
                s.last_overrun_day = project.actual_end
            s.projects_done += 1
            self.csat(s, project, project.actual_end)

    def close_projects_at_churn(self, s: _AccountState) -> None:
        for project in s.pending_projects:
            if s.churned_at is not None and project.row["_actual_start"] <= s.churned_at:
                self.close_project(s, project, status="cancelled", stop=s.churned_at)
            elif s.churned_at is not None:
                self.close_project(s, project, status="cancelled", stop=None)
            else:
                started = project.row["_actual_start"] <= self.end
                self.close_project(s, project, status="active" if started else "planned", stop=None)
        s.pending_projects = []

    def close_project(self, s: _AccountState, project: _Project, *, status: str, stop: date | None) -> None:
        """Writes a project and its tasks as they stand on `stop` (done or cancelled) or at the end of history."""
        rng, h = self.rng, self.h
        row = dict(project.row)
        true_hours = row.pop("_true_hours")
        actual_cost = row.pop("_actual_cost")
        actual_start = row.pop("_actual_start")
        created = row.pop("_created")
        total_days = max(1, (project.actual_end - actual_start).days)
        if status == "done":
            row.update(actual_start=actual_start, actual_end=stop, actual_hours=round(true_hours, 1))
            row["actual_cost"] = round(actual_cost, 2)
        elif status == "cancelled" and stop is not None:
            share = min(1.0, max(0.0, (stop - actual_start).days / total_days))
            row.update(actual_start=actual_start, actual_end=stop, actual_hours=round(true_hours * share, 1))
            row["actual_cost"] = round(actual_cost * share, 2)
        elif status == "active":
            row.update(actual_start=actual_start)
        row["status"] = status
        h.add("projects", **row)
        if status in ("done", "active", "cancelled") and row.get("actual_start"):
            self.invoice(s, actual_start, round(row["planned_budget"] * 0.4, 2), s.last_health, project.id)
        if status == "done":
            assert stop is not None  # a delivered project has its real end
            if row["contract_type"] == "fixed_price":
                final = row["planned_budget"] * 0.6
            else:  # billed by effort: the overrun is the customer's
                final = max(row["planned_budget"] * 0.2, row["actual_cost"] * 1.2 - row["planned_budget"] * 0.4)
            self.invoice(s, stop, round(final, 2), s.last_health, project.id)
            h.add(
                "activities",
                id=h.next_id("ACT", 7),
                account_id=s.account_id,
                project_id=project.id,
                team_member_id=row["manager_id"],
                kind="event",
                occurred_at=self.moment(stop),
                subject=f"Project {row['name']} delivered",
                body=f"Delivered {project.delay_days} days after the planned end.",
            )
        # Tasks: the plan split over scope items; completions follow the real timeline.
        n_tasks = int(min(20, row["scope_items"] + rng.poisson(2)))
        shares = rng.dirichlet(np.ones(n_tasks))
        truth_shares = shares * rng.lognormal(0, 0.2, size=n_tasks)
        truth_shares /= truth_shares.sum()
        planned_days = max(1, (row["planned_end"] - row["planned_start"]).days)
        titles = rng.permutation(len(_TASK_TITLES))
        for i in range(n_tasks):
            due = row["planned_start"] + timedelta(days=int(planned_days * (i + 1) / n_tasks))
            completed = self.moment(actual_start + timedelta(days=int(total_days * (i + 1) / n_tasks)))
            done = completed.date() <= self.end and (stop is None or completed.date() <= stop) and status != "planned"
            if status == "planned":
                task_status = "open"
            elif done:
                task_status = "done"
            elif status == "cancelled":
                task_status = "rejected"
            else:
                task_status = "open"
            h.add(
                "tasks",
                id=h.next_id("T", 7),
                project_id=project.id,
                account_id=s.account_id,
                title=_TASK_TITLES[titles[i % len(titles)]],
                assignee_id=self.staff("engineer", created),
                due_date=due,
                priority=self.choice(("low", "normal", "high"), p=(0.2, 0.6, 0.2)),
                status=task_status,
                source="template",
                list_name="delivery",
                planned_hours=round(float(row["planned_hours"] * shares[i]), 1),
                actual_hours=round(float(true_hours * truth_shares[i]), 1) if done else None,
                created_at=self.moment(created),
                completed_at=completed if done else None,
            )

    def csat(self, s: _AccountState, project: _Project, day: date) -> None:
        rng = self.rng
        if rng.random() > 0.7:
            return
        penalty = 2.0 * max(0.0, project.overrun) + max(0, project.delay_days) / 60
        score = float(_clip(round(4.1 + 0.5 * s.last_health - penalty + rng.normal(0, 0.7)), 1, 5))
        self.h.add(
            "surveys",
            id=self.h.next_id("SV", 6),
            account_id=s.account_id,
            project_id=project.id,
            contact_id=self.choice(s.contacts),
            kind="csat",
            score=score,
            responded_at=self.moment(day),  # sent and answered at delivery, so never after the account left
            comment=self.choice(_NPS_COMMENTS["neg" if score <= 2 else "pos" if score >= 4 else "mid"]) or None,
        )

    # ---- churn and usage ---------------------------------------------------------------------------------------
    def churn(self, s: _AccountState, day: date, health: float) -> None:
        rng = self.rng
        s.churned_at = day
        if s.last_overrun_day is not None and (day - s.last_overrun_day).days < 200:
            reason = "delivery"
        elif health < -0.4:
            reason = self.choice(("low_adoption", "support", "competitor"))
        else:
            reason = self.choice(("pricing", "budget", "competitor"))
        self.h.add(
            "churn_events",
            id=self.h.next_id("CH", 5),
            account_id=s.account_id,
            churned_at=day,
            reason=reason,
            refund_amount=round(float(rng.uniform(0, 0.5) * s.mrr), 2) if rng.random() < 0.3 else 0.0,
            feedback=_CHURN_FEEDBACK[reason] if rng.random() < 0.6 else None,
            is_reactivation=False,
        )

    def usage(self, s: _AccountState, health_path: list[tuple[date, float]]) -> None:
        """Weekly usage while the account is live; volume follows health with weekly noise and seasonality."""
        rng = self.rng
        last = s.churned_at - timedelta(days=1) if s.churned_at else self.end
        first = s.created + timedelta(days=(7 - s.created.weekday()) % 7)  # first Monday
        n_weeks = (last - first).days // 7 + 1
        if n_weeks <= 0:
            return
        offsets = np.arange(n_weeks) * 7
        days = np.datetime64(first, "D") + offsets
        month_starts = [d for d, _ in health_path]
        healths = np.array([health for _, health in health_path])
        week_dates = [first + timedelta(days=int(o)) for o in offsets]
        idx = np.array([max(0, bisect_right(month_starts, d) - 1) for d in week_dates])
        health = healths[idx]
        months = np.array([d.month for d in week_dates])
        seasonal = np.where(np.isin(months, (8, 12)), 0.8, 1.0)
        # Adoption ramps up over the first month.
        ramp = np.minimum(1.0, (offsets + 7) / 28.0)
        rate = 6.0 * s.seats**0.8 * np.exp(0.55 * health + rng.normal(0, 0.18, size=n_weeks)) * seasonal * ramp
        events = rng.poisson(rate)
        duration = events * rng.lognormal(4.6, 0.3, size=n_weeks)
        errors = rng.poisson(events * 0.01 * np.exp(-0.4 * health))
        sub_starts = [start for start, _ in s.subscription_ids]
        sub_index = np.array([max(0, bisect_right(sub_starts, d) - 1) for d in week_dates])
        self.usage_parts.append(
            dict(
                account_id=np.full(n_weeks, s.account_id, dtype=object),
                subscription_id=np.array([s.subscription_ids[i][1] for i in sub_index], dtype=object),
                day=days,
                events=events,
                duration_seconds=np.round(duration, 1),
                errors=errors,
            )
        )

    def frames(self) -> dict[str, pd.DataFrame]:
        frames = {}
        for ent in ENTITIES:
            if ent.name == "usage":
                continue
            frames[ent.name] = frame_from_rows(ent.name, self.h.rows[ent.name])
        parts = self.usage_parts
        columns = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]} if parts else {}
        n = len(columns.get("day", ()))
        columns["id"] = np.array([f"U-{i:07d}" for i in range(1, n + 1)], dtype=object)
        columns["feature"] = np.full(n, "core", dtype=object)
        frames["usage"] = frame_from_columns("usage", columns)
        return {ent.name: frames[ent.name] for ent in ENTITIES}


@dataclass
class _AccountState:
    account_id: str
    segment: str
    industry: str
    short: str
    created: date
    tier: str
    seats: int
    billing: str
    auto_renew: bool
    base_health: float
    complexity: float
    pay_habit: float
    owner: str
    contacts: list[str]
    shock: float = 0.0
    last_health: float = 0.0
    churned_at: date | None = None
    renewal: date | None = None
    last_owner_change: date | None = None
    last_overrun_day: date | None = None
    projects_done: int = 0
    mrr: float = 0.0
    subscription_id: str = ""
    subscription_start: date | None = None
    subscription_flags: tuple[bool, bool] = (False, False)
    subscription_ids: list[tuple[date, str]] = field(default_factory=list)
    deals: list[tuple[_Project | None, dict]] = field(default_factory=list)
    pending_projects: list[_Project] = field(default_factory=list)

    def running_project(self, day: date) -> str | None:
        for project in self.pending_projects:
            if project.row["_actual_start"] <= day <= project.actual_end:
                return project.id
        return None


def generate(accounts: int = 3000, seed: int = 7, end: date = date(2026, 10, 31)) -> dict[str, pd.DataFrame]:
    """The demo CRM history as one DataFrame per dictionary entity (columns and dtypes as the dictionary says).

    Deterministic for a seed; covers `YEARS` years up to `end`; nothing in it is dated after `end` except
    plans (planned dates, due dates, renewal dates) that were known before it.
    """
    if accounts < 1:
        raise ValueError("accounts must be at least 1")
    return _Generator(accounts, seed, end).run()
