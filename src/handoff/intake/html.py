"""HTML mail to readable plain text: blocks become lines, quotes keep a '>' prefix, scripts and styles vanish."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from handoff.intake.deadline import NO_DEADLINE, Deadline

_BLOCKS = {
    "p", "div", "br", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "hr", "section", "article", "header", "footer", "dd", "dt", "center",
}  # fmt: skip
_SKIPPED = {"script", "style", "head", "title", "template", "noscript", "xml", "o:p"}
# Mail clients wrap quoted history in these; they become '>' lines so the cleaner can separate them.
_QUOTE_CLASSES = re.compile(r"gmail_quote|yahoo_quoted|moz-cite-prefix|x_gmail_quote|protonmail_quote")


class _TextBuilder(HTMLParser):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__(convert_charrefs=True)
        self.deadline = deadline
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip_depth = 0
        self.quote_depth = 0
        self.quote_stack: list[bool] = []
        self.pre = 0
        self.steps = 0

    def _break(self) -> None:
        text = "".join(self.current)
        if not self.pre:
            text = re.sub(r"[ \t\r\n\u00a0]+", " ", text).strip()
        self.lines.append(("> " * self.quote_depth) + text if text else "")
        self.current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.steps += 1
        if self.steps % 500 == 0:
            self.deadline.check()
        if tag in _SKIPPED:
            self.skip_depth += 1
            return
        if tag in _BLOCKS:
            self._break()
        if tag in ("blockquote", "div"):
            classes = dict(attrs).get("class") or ""
            quoting = tag == "blockquote" or bool(_QUOTE_CLASSES.search(classes))
            self.quote_stack.append(quoting)
            self.quote_depth += quoting
        if tag == "li":
            self.current.append("- ")
        elif tag == "pre":
            self.pre += 1
        elif tag in ("td", "th") and self.current:
            self.current.append("\t")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.current.append(f"[{alt}]")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("blockquote", "div"):  # an empty self-closed block opens nothing
            self._break()
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if tag in _BLOCKS:
            self._break()
        if tag in ("blockquote", "div") and self.quote_stack:
            self.quote_depth -= self.quote_stack.pop()
        if tag == "pre":
            self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.pre:
            for i, piece in enumerate(data.split("\n")):
                if i:
                    self._break()
                self.current.append(piece)
            return
        self.current.append(data)


def html_to_text(html: str, deadline: Deadline = NO_DEADLINE) -> str:
    """Plain text of an HTML body, one block per line, runs of blank lines collapsed."""
    builder = _TextBuilder(deadline)
    try:
        builder.feed(html)
        builder.close()
    except AssertionError:  # html.parser gives up on some broken markup; keep what it read
        pass
    builder._break()
    text = "\n".join(line.rstrip() for line in builder.lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
