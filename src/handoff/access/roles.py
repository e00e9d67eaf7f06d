"""Who may do what: the roles, their permissions, and the one table of which permission each API route needs."""

from __future__ import annotations

ROLES = ("admin", "pm", "sales", "account_owner", "integration")

# Permissions are verbs on nouns. `contact_data` unmasks contact email/phone; `bulk_export` allows many rows at once.
PERMISSIONS = (
    "emails:write",
    "notes:write",
    "ledger:read",
    "ledger:retry",
    "ledger:release",
    "tasks:read",
    "tasks:review",
    "estimates:write",
    "estimates:read",
    "churn:read",
    "alerts:read",
    "alerts:manage",
    "contacts:read",
    "contact_data",
    "bulk_export",
    "audit:read",
    "models:manage",
    "metrics:read",
    "sync:manage",
    "hooks:manage",
)

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "pm": frozenset(
        {
            "notes:write",
            "emails:write",
            "tasks:read",
            "tasks:review",
            "estimates:write",
            "estimates:read",
            "churn:read",
            "alerts:read",
            "contacts:read",
        }
    ),
    "sales": frozenset(
        {
            "emails:write",
            "notes:write",
            "tasks:read",
            "estimates:write",
            "estimates:read",
            "churn:read",
            "contacts:read",
            "contact_data",
        }
    ),
    # Account owners see alerts and contacts of their own accounts only (the key is bound to a team member id).
    "account_owner": frozenset(
        {"tasks:read", "churn:read", "alerts:read", "alerts:manage", "contacts:read", "contact_data"}
    ),
    # A machine: mail providers, the CRM sync, dashboards. It moves data in bulk but reads no contact details unmasked.
    "integration": frozenset(
        {
            "emails:write",
            "notes:write",
            "ledger:read",
            "ledger:retry",
            "churn:read",
            "bulk_export",
            "tasks:read",
            "metrics:read",
            # Zapier and Make subscribe with an integration key; what they receive is masked for that role.
            "hooks:manage",
        }
    ),
}

# The one place that says which permission each route needs, keyed by the route's name (its OpenAPI operation id).
# A /v1 route missing here is refused for everyone (fail closed); a test checks every route is listed.
ROUTE_PERMISSIONS: dict[str, str] = {
    "receive_email": "emails:write",
    "receive_notes": "notes:write",
    "list_ledger": "ledger:read",
    "get_ledger_entry": "ledger:read",
    "retry_ledger": "ledger:retry",
    # A person's decision (quarantined mail may be a forgery): admins only, never the integration role.
    "release_ledger_entry": "ledger:release",
    "get_ledger_original": "ledger:read",
    "get_ledger_attachment": "ledger:read",
    "list_tasks": "tasks:read",
    "get_task": "tasks:read",
    "accept_task": "tasks:review",
    "complete_task": "tasks:review",
    "reopen_task": "tasks:review",
    "edit_task": "tasks:review",
    "reject_task": "tasks:review",
    "create_estimate": "estimates:write",
    "get_estimate": "estimates:read",
    "list_estimates": "estimates:read",
    "get_account_churn": "churn:read",
    "score_churn_batch": "bulk_export",
    "list_alerts": "alerts:read",
    "get_alert": "alerts:read",
    "snooze_alert": "alerts:manage",
    "resolve_alert": "alerts:manage",
    "list_account_contacts": "contacts:read",
    "export_contacts": "bulk_export",
    "list_audit": "audit:read",
    "create_hook_subscription": "hooks:manage",
    "list_hook_subscriptions": "hooks:manage",
    "delete_hook_subscription": "hooks:manage",
    "list_hook_deliveries": "hooks:manage",
    "whoami": "",  # any valid key
    "reload_models": "models:manage",
    # Where each project's and account's tasks go in Jira, Asana and Trello: admins only.
    "get_sync_mapping": "sync:manage",
    "put_sync_mapping": "sync:manage",
    # Asked for only when `api.metrics_require_key` is on; otherwise /metrics is open like /healthz.
    "metrics": "metrics:read",
    # The web app's pages (`/app`, for people signed in with a password or link), under the same permissions.
    "web_home": "",
    "web_inbox": "ledger:read",
    "web_ledger_entry": "ledger:read",
    "web_ledger_original": "ledger:read",
    "web_ledger_attachment": "ledger:read",
    "web_review": "tasks:read",
    "web_review_task": "tasks:review",
    "web_review_bulk": "tasks:review",
    "web_review_duplicate": "tasks:review",
    "web_tasks": "tasks:read",
    "web_ledger_retry": "ledger:retry",
    "web_ledger_release": "ledger:release",
    "web_accounts": "churn:read",
    "web_account": "churn:read",
    "web_alert_snooze": "alerts:manage",
    "web_alert_resolve": "alerts:manage",
    "web_outbox": "alerts:read",
    "web_estimates": "estimates:read",
    "web_estimate_create": "estimates:write",
    "web_estimate": "estimates:read",
    "web_backtest": "estimates:read",
    "web_models": "models:manage",
}

# Routes that need a second permission beside the one above. A message's bytes as they arrived (the raw .eml, an
# attachment) cannot be masked, so only a role that may see contact data downloads them (and each download is audited).
ROUTE_ALSO_NEEDS: dict[str, str] = {
    "get_ledger_original": "contact_data",
    "get_ledger_attachment": "contact_data",
    "web_ledger_original": "contact_data",
    "web_ledger_attachment": "contact_data",
}


# Roles held to their own accounts (`access.scope`), and the routes that apply that scope or return no account data.
# A scoped role is refused every other route, whatever its permissions say (fail closed): granting an account owner
# `ledger:read` one day must not open every account's ledger.
SCOPED_ROLES = frozenset({"account_owner"})
SCOPE_AWARE_ROUTES = frozenset(
    {
        "list_tasks",
        "get_task",
        "accept_task",
        "edit_task",
        "reject_task",
        "get_account_churn",
        "score_churn_batch",
        "list_alerts",
        "get_alert",
        "snooze_alert",
        "resolve_alert",
        "list_account_contacts",
        "export_contacts",
        # Ledger reads and estimates: entries and estimates on the caller's accounts only (`access.scope`).
        "list_ledger",
        "get_ledger_entry",
        "create_estimate",
        "get_estimate",
        "list_estimates",
        "whoami",
        "web_home",  # a redirect: no account data
        "web_inbox",
        "web_ledger_entry",
        "web_review",
        "web_review_task",
        "web_review_bulk",
        "web_review_duplicate",
        "web_tasks",
        "web_accounts",
        "web_account",
        "web_alert_snooze",
        "web_alert_resolve",
        "web_outbox",
        "web_estimates",  # estimates, the deals to pick and the backtest: the caller's accounts only
        "web_estimate_create",
        "web_estimate",
        "web_backtest",
    }
)


# Routes that authenticate by other means than an API key: the mail provider's webhook signs each request (HMAC).
SIGNED_ROUTES = (
    "receive_inbound_webhook",
    "receive_jira_hook",
    "receive_asana_hook",
    "check_trello_hook",
    "receive_trello_hook",
)


def permissions_of(role: str) -> frozenset[str]:
    return ROLE_PERMISSIONS.get(role, frozenset())


def allows(role: str, permission: str) -> bool:
    """The empty permission means: any authenticated caller."""
    return permission == "" or permission in permissions_of(role)


def may_call(role: str, route_name: str) -> bool:
    """The route's permission (and its `ROUTE_ALSO_NEEDS`), and for scoped roles a route that applies their scope;
    unlisted routes: nobody."""
    permission = ROUTE_PERMISSIONS.get(route_name)
    if permission is None or not allows(role, permission) or not allows(role, ROUTE_ALSO_NEEDS.get(route_name, "")):
        return False
    return role not in SCOPED_ROLES or route_name in SCOPE_AWARE_ROUTES
