"""The one Settings object: every knob, read from `HANDOFF_*` variables; all state lives under `home`."""

from __future__ import annotations

import urllib.parse
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def find_shared_datasets(start: Path) -> Path:
    """`shared/datasets` beside the checkout or beside any folder above it (CI clones one level deeper)."""
    for folder in start.parents:
        candidate = folder / "shared" / "datasets"
        if candidate.is_dir():
            return candidate
    return start.parent / "shared" / "datasets"


class LlmSettings(BaseModel):
    """An OpenAI-compatible endpoint; extraction stays offline while `base_url` is unset."""

    base_url: str | None = None
    model: str = "gpt-4o-mini"
    api_key: SecretStr = SecretStr("not-needed")
    timeout_s: float = 20.0
    max_retries: int = 2
    max_concurrency: int = 4
    prompt_version: str = "v1"
    tracing: bool = False


class InboxSettings(BaseModel):
    """Who may send to the inbox and how much it accepts."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    recipients: list[str] = Field(default_factory=lambda: ["tasks@handoff.local"])
    allowed_sender_domains: list[str] = Field(default_factory=list)  # empty: any domain
    # Our own domains (besides the inbox's): their senders are staff, so the forwards they send credit the customer.
    # Roster (CRM team_members) addresses count without being listed here.
    internal_domains: list[str] = Field(default_factory=list)
    max_message_bytes: int = 25 * 1024 * 1024
    # How long the SMTP inbox keeps retrying a busy database before it answers 451 (senders wait 10 minutes for the
    # reply to DATA, RFC 5321 4.5.3.2.6); a store that is broken, not busy, answers 451 at once.
    store_wait_s: float = Field(120.0, ge=0.0, le=540.0)
    parse_timeout_s: float = 10.0
    webhook_secret: SecretStr | None = None
    imap_host: str | None = None
    imap_port: int = 993
    imap_user: str | None = None
    imap_password: SecretStr | None = None
    imap_mailbox: str = "INBOX"
    imap_folders: list[str] = Field(default_factory=list)  # more folders polled besides imap_mailbox
    imap_ssl: bool = True
    imap_poll_s: float = 30.0
    # The spam and bulk gate (docs/intake.md). Authentication-Results are believed to *pass* a sender only from
    # these authserv-ids (our own receiving MTA, e.g. "mx.example.com"); a failure is believed from anyone.
    trusted_authserv_ids: list[str] = Field(default_factory=list)
    # Quarantine customer mail that no trusted receiver passed SPF/DKIM/DMARC for (needs trusted_authserv_ids or
    # sender_auth).
    require_aligned_auth: bool = False
    # Our own SPF, DKIM and DMARC checks on mail the SMTP inbox receives (`intake.sender_auth`; asks DNS), for a
    # handoff that takes mail straight from the internet with no MTA in front to write Authentication-Results.
    # Its results are written under `authserv_id` (default: the first recipient's domain) and believed by the gate.
    sender_auth: bool = False
    authserv_id: str | None = Field(None, min_length=1, max_length=255, pattern=r"^[A-Za-z0-9.\-]+$")
    dns_timeout_s: float = Field(5.0, gt=0.0, le=30.0)
    rspamd_url: str | None = None  # e.g. http://127.0.0.1:11333: each message goes to its POST /checkv2
    spamd: str | None = None  # SpamAssassin's spamd as host:port, e.g. 127.0.0.1:783
    spam_filter_timeout_s: float = Field(10.0, gt=0.0, le=120.0)
    # A filter that is down: the message waits in the ledger (`received`) and is asked again after this long.
    spam_filter_retry_s: float = Field(60.0, gt=0.0, le=3600.0)
    # The embedded content classifier (intake/artifacts/MODEL_CARD.md) runs on every mail unless turned off; its
    # spam probability at or above the threshold quarantines the mail (None: the shipped model's own threshold).
    content_classifier: bool = True
    content_spam_threshold: float | None = Field(None, gt=0.0, le=1.0, allow_inf_nan=False)
    # A stranger's mail scoring at or above this but below the threshold is let through, but only its explicit asks
    # ("please send…", "could you…") become tasks: the band where spam's calls to action and real mail overlap.
    content_suspect_score: float = Field(0.5, gt=0.0, le=1.0, allow_inf_nan=False)

    def own_authserv_id(self) -> str | None:
        """The authserv-id of our own sender checks, or None when `sender_auth` is off."""
        if not self.sender_auth:
            return None
        domain = self.recipients[0].rsplit("@", 1)[-1] if self.recipients else "handoff.local"
        return (self.authserv_id or domain).strip().lower()


class ExtractionSettings(BaseModel):
    """How tasks are read out of messages and when they skip review."""

    auto_accept_confidence: float | None = Field(None, ge=0.0, le=1.0)  # None: every task waits for review
    # Chosen on eval/extraction/cases/duplicates.yaml: no false link there.
    duplicate_similarity: float = Field(0.75, ge=0.0, le=1.0)
    # Threads for MiniLM's matrix products (None: torch's default, one per core). One by default: on two cores
    # shared with the worker's own Python and other processes, two threads spin against each other and embedding
    # got 7-10x slower (`python -m eval.intake.bench`, docs/intake.md); the vectors are the same either way.
    embedding_threads: int | None = Field(1, ge=1, le=64)


class AlertSettings(BaseModel):
    """When a churn score becomes an alert, and where digests go."""

    # Probabilities: a threshold outside (0, 1) alerts on everyone or no one, and NaN silently turns alerts off.
    churn_threshold: float = Field(0.5, gt=0.0, lt=1.0, allow_inf_nan=False)
    jump_threshold: float = Field(0.15, gt=0.0, lt=1.0, allow_inf_nan=False)
    low_survey_score: float = Field(6.0, ge=0.0, le=10.0, allow_inf_nan=False)  # NPS 0-10 / CSAT scaled to 0-10
    # None: no SMTP server, so each owner's digest waits in the outbox (the `alert_digests` table, `/app/outbox`)
    # instead of failing three times against a server that is not there.
    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_sender: str = "handoff@handoff.local"
    slack_webhook_url: SecretStr | None = None  # the URL's path is its secret
    wecom_webhook_url: SecretStr | None = None
    dingtalk_webhook_url: SecretStr | None = None
    dingtalk_secret: SecretStr | None = None
    generic_webhook_url: SecretStr | None = None
    generic_webhook_secret: SecretStr | None = None
    nightly_hour_utc: int = Field(2, ge=0, le=23)


class ApiSettings(BaseModel):
    """Where the service listens, and what it guards beyond the role table."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_body_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    # CPU-bound requests (estimates, churn feature builds) that run at once; more threads than cores only fight
    # over the GIL: 8 estimates at once answered 153 req/s, 2 at a time 225 (`make bench`). Default: the core count.
    scoring_threads: int | None = Field(None, ge=1, le=64)
    # /metrics names routes and ledger counts; on a shared network, make it take a key with `metrics:read`.
    metrics_require_key: bool = False
    # Contact listings (one account's, or the bulk export) per key per minute, so no key pages through every contact
    # at speed; 0 turns the limit off. Counted per process (docs/security.md).
    contacts_per_minute: int = Field(60, ge=0, le=100_000)


class WebSettings(BaseModel):
    """The web app under `/app`: where people reach it, how long sign-in links and sessions last, sign-in limits."""

    # The address printed in sign-in links; None: http://{api.host}:{api.port}.
    base_url: str | None = None
    # Signs session cookies and CSRF tokens. None: one is made once and kept in HANDOFF_HOME/web-secret (0600);
    # several replicas behind one address must share it, so set it there.
    secret_key: SecretStr | None = None
    session_hours: float = Field(12.0, gt=0.0, le=24.0 * 30)
    link_hours: float = Field(72.0, gt=0.0, le=24.0 * 30)
    # Failed sign-ins allowed per email within the window (and four times as many per client address) before every
    # further try is refused with 429 until the window has passed; counted per process.
    sign_in_attempts: int = Field(5, ge=1, le=1000)
    sign_in_window_s: float = Field(900.0, gt=0.0, le=86_400.0)
    # Cookies marked Secure (sent over HTTPS only). None: when base_url starts with https.
    cookie_secure: bool | None = None


class JiraSettings(BaseModel):
    """Jira Cloud (REST v3): an Atlassian account's email and API token (basic auth), the project issues go to."""

    base_url: str | None = None  # https://your-site.atlassian.net
    email: str | None = None
    api_token: SecretStr | None = None
    project_key: str | None = None
    issue_type: str = "Task"
    # The secret set on the Jira admin webhook: deliveries to /v1/hooks/jira are refused unless signed with it.
    webhook_secret: SecretStr | None = None
    # Team member email -> Atlassian accountId, for people whose email Jira hides (user search cannot find them,
    # and their changes come back with an accountId only): '{"ana@ourco.example": "5b10ac8d82e05b22cc7d4ef5"}'.
    account_ids: dict[str, str] = Field(default_factory=dict)
    # handoff priority -> the Jira priority's name (Jira's default scheme); '{}' leaves Jira's priority alone.
    priorities: dict[str, str] = Field(
        default_factory=lambda: {"urgent": "Highest", "high": "High", "normal": "Medium", "low": "Low"}
    )

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.email and self.api_token and self.project_key)


class AsanaSettings(BaseModel):
    """Asana: a token (OAuth access token; `external` needs OAuth, see docs/sync.md) and the project tasks go to."""

    base_url: str = "https://app.asana.com"
    token: SecretStr | None = None
    project_gid: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.token and self.project_gid)


class TrelloSettings(BaseModel):
    """Trello: an API key and token (sent as query parameters, as Trello asks) and the list cards go to."""

    base_url: str = "https://api.trello.com"
    key: SecretStr | None = None
    token: SecretStr | None = None
    list_id: str | None = None
    # Trello signs webhooks with the application's OAuth 1.0 secret over body + the callback URL as registered.
    secret: SecretStr | None = None
    callback_url: str | None = None  # as given to POST /1/webhooks: https://handoff.example/v1/hooks/trello
    done_list_id: str | None = None  # a card moved to this list is done (besides Trello's own "due complete")
    # Team member email -> Trello member id, for members the board's usernames and full names do not match.
    member_ids: dict[str, str] = Field(default_factory=dict)

    @property
    def configured(self) -> bool:
        return bool(self.key and self.token and self.list_id)


class SyncSettings(BaseModel):
    """Where accepted tasks go (docs/sync.md): each target is on once its settings are complete."""

    jira: JiraSettings = Field(default_factory=JiraSettings)
    asana: AsanaSettings = Field(default_factory=AsanaSettings)
    trello: TrelloSettings = Field(default_factory=TrelloSettings)
    timeout_s: float = Field(10.0, gt=0.0, le=120.0)
    # Tries of one request inside one push (429 and 5xx on reads); the outbox tries a task again later beyond that.
    max_attempts: int = Field(4, ge=1, le=10)
    backoff_s: float = Field(1.0, ge=0.0, le=60.0)
    # A Retry-After longer than this ends the push of that task for now; the outbox comes back after it.
    max_retry_after_s: float = Field(60.0, ge=0.0, le=3600.0)
    # After a create whose answer was lost, wait this long before looking for the task again: Jira's search index
    # lags writes by seconds, and a look too early would miss the issue just made and make a second one.
    settle_s: float = Field(5.0, ge=0.0, le=120.0)
    # How long one pusher holds a task before another may take it over (a crashed push frees it after this).
    lease_s: float = Field(600.0, gt=0.0, le=86_400.0)
    push_interval_s: float = Field(30.0, gt=0.0, le=86_400.0)  # how often `handoff up` pushes what is pending
    batch_size: int = Field(50, ge=1, le=10_000)
    # How often `handoff up` reads every linked item back (Asana's webhooks are at-most-once; any hook can be missed).
    pull_interval_s: float = Field(900.0, gt=0.0, le=86_400.0)
    # Which Jira project, Asana project or Trello list a project's or account's tasks go to; None: home/sync.yaml.
    mapping_path: Path | None = None
    # Where the tools reach this service (https://handoff.example): `handoff sync hooks register` gives them
    # <public_url>/v1/hooks/<tool>. Trello's HANDOFF_SYNC__TRELLO__CALLBACK_URL, when set, wins for Trello.
    public_url: str | None = None

    def hook_url(self, target: str) -> str | None:
        """The webhook URL a tool is given (and Trello's signatures are computed over); None when not known."""
        if target == "trello" and self.trello.callback_url:
            return self.trello.callback_url
        return f"{self.public_url.rstrip('/')}/v1/hooks/{target}" if self.public_url else None

    def targets(self) -> list[str]:
        """The configured targets, in a fixed order."""
        return [name for name in ("jira", "asana", "trello") if getattr(self, name).configured]


class HooksSettings(BaseModel):
    """Events out to subscribers (docs/api.md, "Events"): delivery, its retries, and which targets may be reached."""

    # Targets on loopback, private, link-local (cloud metadata) or reserved addresses are refused unless this is on:
    # a subscriber must not make the service probe its own network (SSRF). On for a target inside your network.
    allow_private_targets: bool = False
    timeout_s: float = Field(10.0, gt=0.0, le=120.0)
    deliver_interval_s: float = Field(5.0, gt=0.0, le=3600.0)  # how often `handoff up` delivers what is due
    batch_size: int = Field(100, ge=1, le=10_000)
    lease_s: float = Field(120.0, gt=0.0, le=86_400.0)  # a crashed deliverer's rows are taken over after this
    # Waits double from the first to the cap: 1, 2, 4 … 64 min, then every 2 h; 16 attempts span about 18 hours.
    first_backoff_s: float = Field(60.0, ge=0.0, le=86_400.0)
    max_backoff_s: float = Field(7200.0, ge=0.0, le=86_400.0)
    max_attempts: int = Field(16, ge=1, le=100)


class DaskSettings(BaseModel):
    """The Dask engine (`HANDOFF_ENGINE=dask`): which cluster runs the nightly's partitions, and how big they are."""

    # A dask.distributed scheduler address (tcp://host:8786). None: a LocalCluster on this machine, one
    # single-threaded worker process per core (pandas and LightGBM hold the GIL), each with a memory limit.
    scheduler: str | None = None
    workers: int | None = Field(None, ge=1, le=256)  # LocalCluster only; None: the core count
    # LocalCluster only: per worker, e.g. "5GB"; None: half the machine's memory shared by the workers, so a worker
    # that grows past it is paused and restarted by its nanny instead of the machine swapping.
    memory_limit: str | None = None
    # Accounts per partition (one task): with their CRM rows about 20 rows each, 250,000 accounts are ~1 GB in pandas.
    partition_accounts: int = Field(250_000, ge=1, le=10_000_000)
    # Where the CRM comes from: "database" reads it in account-id ranges; "parquet" reads the partitions that
    # `handoff demo-data --format parquet` writes under home/crm-parquet.
    source: Literal["database", "parquet"] = "database"


class Settings(BaseSettings):
    """Everything handoff reads from its environment. Build it once, in `wiring`, and pass it down."""

    model_config = SettingsConfigDict(env_prefix="HANDOFF_", env_nested_delimiter="__", env_file=".env", extra="ignore")

    home: Path = Path("var")
    database_url: str | None = None  # None: SQLite under home
    # How long a statement waits for another connection's lock (SQLite busy_timeout, PostgreSQL lock_timeout) before
    # it gives up: the API then answers 503 with Retry-After and the SMTP inbox retries. Writes hold locks briefly.
    database_busy_timeout_s: float = Field(default=30.0, gt=0.0, le=600.0)
    datasets_dir: Path = Field(default_factory=lambda: find_shared_datasets(PROJECT_ROOT))
    mlflow_tracking_uri: str | None = None  # None: a file store under home
    environment: str = "development"
    scheduler: bool = False  # the in-process nightly scheduler; `make run` turns it on
    # Where the nightly scores: "local" holds every account in this process; "dask" scores partition by partition
    # on a dask.distributed cluster (`dask` section; docs/deployment.md).
    engine: Literal["local", "dask"] = "local"

    llm: LlmSettings = Field(default_factory=LlmSettings)
    inbox: InboxSettings = Field(default_factory=InboxSettings)
    extraction: ExtractionSettings = Field(default_factory=ExtractionSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    hooks: HooksSettings = Field(default_factory=HooksSettings)
    dask: DaskSettings = Field(default_factory=DaskSettings)

    def warnings(self) -> list[str]:
        """Settings that work but leave a door open; `handoff up` and `handoff inbox` print them at start."""
        found: list[str] = []
        if not self.inbox.allowed_sender_domains:
            found.append(
                "HANDOFF_INBOX__ALLOWED_SENDER_DOMAINS is empty: the SMTP inbox takes mail from any sender domain "
                "(set it to your and your customers' domains, or put handoff behind an MTA that filters)"
            )
        if self.inbox.require_aligned_auth and not self.inbox.trusted_authserv_ids and not self.inbox.sender_auth:
            found.append(
                "HANDOFF_INBOX__REQUIRE_ALIGNED_AUTH is on but no HANDOFF_INBOX__TRUSTED_AUTHSERV_IDS are set and "
                "HANDOFF_INBOX__SENDER_AUTH is off: every customer mail will be quarantined"
            )
        for name in ("jira", "asana", "trello"):
            section = getattr(self.sync, name)
            defaults = type(section).model_fields
            given = [
                key
                for key, value in section.__dict__.items()
                if value != defaults[key].get_default(call_default_factory=True)
            ]
            if given and not section.configured:
                found.append(f"HANDOFF_SYNC__{name.upper()}__* is partly set: {name} stays off until all are set")
        return found

    def secret_values(self) -> list[str]:
        """Every configured secret in clear, for `redaction.register_secrets`; nothing else should unwrap them all."""
        found: list[str] = []
        sync = (self.sync.jira, self.sync.asana, self.sync.trello)
        for section in (self.llm, self.inbox, self.alerts, self.api, self.web, *sync):
            for name, value in section.__dict__.items():
                # A placeholder default ("not-needed") is no secret, and blanking it would blank a plain word.
                if isinstance(value, SecretStr) and value != type(section).model_fields[name].default:
                    found.append(value.get_secret_value())
        for url in (self.database_url, self.mlflow_tracking_uri):
            password = urllib.parse.urlsplit(url).password if url and "://" in url else None
            if password:
                found.append(password)
        return found

    @cached_property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.resolved_home / 'handoff.db'}"

    @property
    def resolved_tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        # A SQLite-backed store: the model registry (aliases) needs a database backend.
        return f"sqlite:///{self.resolved_home / 'mlflow.db'}"

    @property
    def web_base_url(self) -> str:
        """Where people open the web app (sign-in links point here), without a trailing slash."""
        return (self.web.base_url or f"http://{self.api.host}:{self.api.port}").rstrip("/")

    @property
    def mlflow_artifacts_dir(self) -> Path:
        return self.resolved_home / "mlartifacts"

    @property
    def crm_parquet_dir(self) -> Path:
        """The CRM as Parquet partitions (`handoff demo-data --format parquet`), read by the Dask engine."""
        return self.resolved_home / "crm-parquet"

    @property
    def raw_mail_dir(self) -> Path:
        return self.resolved_home / "raw"

    def ensure_home(self) -> Path:
        """Create the state folder on first use (never at import)."""
        for folder in (self.resolved_home, self.raw_mail_dir, self.mlflow_artifacts_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return self.resolved_home
