"""Text from mail and the CRM made safe for the channel it goes to: plain mail bodies, Slack, Markdown, HTML (pure).

handoff keeps every text it stores as plain text, as written (a task title holds `<script>` if the mail did, after
its HTML entities were decoded); whatever renders it escapes it here, for its own channel, at the moment of rendering.
"""

from __future__ import annotations

import html as _html
import re
import unicodedata

# Line and paragraph breaks of every kind, and other control characters: inside one value they would start a new
# line (a header in a mail, a list item or heading in Markdown) that the value's author chose.
_BREAKS = re.compile(r"[\r\n\v\f\x85\u2028\u2029]+")
# Markdown punctuation that can start emphasis, code, links, images, headings or tables (CommonMark escapes); a value
# never starts a line (`one_line`), so list and numbering marks need none.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]()#!|~])")


def one_line(text: str | None) -> str:
    """A value for one line: breaks become a space, other control and bidi-override characters are dropped."""
    if not text:
        return ""
    flat = _BREAKS.sub(" ", text)
    return "".join(char for char in flat if char == " " or unicodedata.category(char) not in ("Cc", "Cf")).strip()


def plain(text: str | None) -> str:
    """For a plain-text mail body: one line, nothing that could pass for a header or a MIME boundary of its own."""
    return one_line(text)


def slack(text: str | None) -> str:
    """Slack mrkdwn: `&`, `<` and `>` as entities (Slack's rule), so `<!channel>` or `<https://x|y>` stay text."""
    return one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def markdown(text: str | None) -> str:
    """WeCom and DingTalk Markdown: `&`, `<`, `>` as entities (both render some HTML, WeCom its `<font>` tags) and
    every Markdown punctuation mark backslash-escaped, so a name cannot open a link, an image or emphasis."""
    escaped = _html.escape(one_line(text), quote=False)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", escaped)


def html(text: str | None) -> str:
    """HTML text or attribute value: `& < > " '` as entities."""
    return _html.escape(text or "", quote=True)
