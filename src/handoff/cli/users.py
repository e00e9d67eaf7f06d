"""`handoff users`: invite people to the web app (a one-time sign-in link), list and disable them."""

from __future__ import annotations

import typer


def sign_in_link(settings, token: str) -> str:
    return f"{settings.web_base_url}/app/welcome?token={token}"


def register(app: typer.Typer) -> None:
    users = typer.Typer(help="People who sign in to the web app (/app): admin, pm, sales, account_owner.")
    app.add_typer(users, name="users", no_args_is_help=True)

    @users.command("invite")
    def invite_(
        email: str = typer.Argument(..., help="Their email address; what they sign in with."),
        role: str = typer.Option(..., "--role", help="admin, pm, sales or account_owner."),
        name: str | None = typer.Option(
            None, "--name", help="How pages name them (default: the address's local part)."
        ),
        owner: str | None = typer.Option(None, "--owner", help="Their team member id (required for account_owner)."),
        send: bool = typer.Option(False, "--send", help="Also mail the link through HANDOFF_ALERTS__SMTP_HOST."),
        language: str | None = typer.Option(
            None, "--language", help="Their pages' language, en or zh_CN (default: their browser's)."
        ),
    ) -> None:
        """Print a one-time sign-in link (inviting again replaces the previous link)."""
        from datetime import timedelta

        from handoff.access.users import invite, set_language
        from handoff.cli.output import say
        from handoff.store.db import transaction
        from handoff.web.i18n import LOCALES
        from handoff.wiring import build

        parts = build()
        parts.migrate()
        hours = parts.settings.web.link_hours
        with transaction(parts.sessions) as session:
            token, user = invite(
                session, email=email, role=role, name=name, owner_id=owner, link_ttl=timedelta(hours=hours)
            )
            if language is not None:
                set_language(session, user.id, language, known=LOCALES)
        link = sign_in_link(parts.settings, token)
        typer.echo(link)
        say(f"[dim]{user.role} {user.email}: the link works once, for {hours:g} hours[/dim]")
        if send:
            _mail_link(parts.settings, user.email, link)
            say(f"[dim]sent to {user.email}[/dim]")

    @users.command("list")
    def list_() -> None:
        """Everyone invited: email, role, name, whether they have a password, last sign-in."""
        from handoff.access.users import list_users
        from handoff.wiring import build

        parts = build()
        parts.migrate()
        with parts.sessions() as session:
            for user in list_users(session):
                state = "disabled" if user.disabled_at else ("password" if user.has_password else "link only")
                typer.echo(f"{user.email:<32} {user.role:<13} {user.name:<24} {state:<9} {user.last_sign_in_at or '-'}")

    @users.command("disable")
    def disable_(email: str = typer.Argument(...)) -> None:
        """No more sign-ins for them; their open sessions end now."""
        from handoff.access.users import disable
        from handoff.cli.output import say
        from handoff.store.db import transaction
        from handoff.wiring import build

        parts = build()
        parts.migrate()
        with transaction(parts.sessions) as session:
            user = disable(session, email)
        say(f"disabled {user.email}")


def _mail_link(settings, address: str, link: str) -> None:
    import smtplib
    from email.message import EmailMessage

    from handoff.errors import ExternalFailure, InvalidInput

    if not settings.alerts.smtp_host:
        raise InvalidInput("no SMTP server configured (HANDOFF_ALERTS__SMTP_HOST); the link is printed above")
    message = EmailMessage()
    message["From"] = settings.alerts.smtp_sender
    message["To"] = address
    message["Subject"] = "Your handoff sign-in link"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(f"Open this link to sign in to handoff (it works once):\n\n{link}\n")
    try:
        with smtplib.SMTP(settings.alerts.smtp_host, settings.alerts.smtp_port, timeout=10) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        raise ExternalFailure(f"could not send the link to {address}: {error}; it is printed above") from error
