"""Text from the CRM and mail is escaped for each channel it goes to (real SMTP and HTTP servers on loopback)."""

from __future__ import annotations

import re
from datetime import date

from handoff import markup
from handoff.alerts.channels import DingTalkChannel, EmailChannel, SlackChannel, WeComChannel
from handoff.alerts.digest import Digest, DigestItem
from handoff.intake.html import html_to_text
from handoff.testing.http_receiver import HttpReceiver
from handoff.testing.smtp_capture import SmtpCapture


def _digest(account_name: str, owner_name: str = "Ann Lee", change: str = "usage fell") -> Digest:
    item = DigestItem(
        "al-1", "a1", account_name, "threshold", "opened", 0.81, 0.2, (f"driver of {account_name}",), change
    )
    return Digest(date(2026, 11, 2), "tm1", owner_name, "ann@example.com", (item,))


def test_a_company_name_with_crlf_creates_no_header_and_no_recipient() -> None:
    hostile = "Acme\r\nBcc: eve@evil.example\r\n\r\nX-Injected: 1"
    with SmtpCapture() as smtp:
        EmailChannel(smtp.host, smtp.port, "handoff@handoff.local").send(
            _digest(hostile, owner_name=f"Ann\r\n{hostile}")
        )
    [mail] = smtp.messages
    assert mail.rcpt_tos == ("ann@example.com",)  # smtplib would have sent to a Bcc header's address too
    assert mail.message["Bcc"] is None and mail.message["X-Injected"] is None
    body = mail.message.get_content()
    assert not re.search(r"^(Bcc|X-Injected):", body, re.MULTILINE)
    assert "1. Acme Bcc: eve@evil.example X-Injected: 1 - 81% churn risk" in body  # kept, on its own line


def test_slack_gets_no_mention_link_or_markup_from_a_value() -> None:
    hostile = "<!channel> Acme & Sons <https://evil.example|click here>"
    with HttpReceiver() as hooks:
        SlackChannel(hooks.url("/slack")).send(_digest(hostile, change="<@U123> pinged\nnew line"))
    text = hooks.received("/slack")[0].json()["text"]
    assert "<" not in text and ">" not in text  # Slack reads every <...> as a mention, a link or a command
    assert "&lt;!channel&gt; Acme &amp; Sons &lt;https://evil.example|click here&gt;" in text
    assert "&lt;@U123&gt; pinged new line" in text


def test_wecom_and_dingtalk_markdown_gets_no_link_html_or_emphasis_from_a_value() -> None:
    hostile = '[Pay here](https://evil.example) <font color="warning">URGENT</font> **now**\n# Heading'
    with HttpReceiver() as hooks:
        WeComChannel(hooks.url("/wecom")).send(_digest(hostile))
        DingTalkChannel(hooks.url("/ding"), None).send(_digest(hostile))
    for text in (
        hooks.received("/wecom")[0].json()["markdown"]["content"],
        hooks.received("/ding")[0].json()["markdown"]["text"],
    ):
        assert "](" not in text.replace("\\](", "") and "<font" not in text and "\n#" not in text
        assert r"\[Pay here\]\(https://evil.example\) &lt;font" in text and r"\*\*now\*\*" in text


def test_entities_decoded_from_mail_stay_text_and_every_renderer_escapes_them() -> None:
    """Titles are stored as plain text, as the mail meant them; HTML renderers escape when rendering (security.md)."""
    title = html_to_text("<p>Fix &lt;script&gt;alert(1)&lt;/script&gt; on the portal</p>").strip()
    assert title == "Fix <script>alert(1)</script> on the portal"
    assert markup.html(title) == "Fix &lt;script&gt;alert(1)&lt;/script&gt; on the portal"
    assert markup.html('" onmouseover="x') == "&quot; onmouseover=&quot;x"
    assert "<script>" not in markup.slack(title) and "<script>" not in markup.markdown(title)
    assert markup.one_line("a\u2028b\u202ec\x00d") == "a bcd"  # paragraph separator, bidi override, NUL
