"""Bytes to text whatever the declaration says: declared charset first, then UTF-8, then a guess, never an error."""

from __future__ import annotations

import codecs
import re
import unicodedata

# Declarations that mail clients get wrong in practice, mapped to the superset that decodes what they really sent.
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "cp936": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "iso-8859-1": "cp1252",  # Windows senders label cp1252 as latin-1 ("smart quotes")
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "utf-8",  # an ASCII label on 8-bit bytes is nearly always UTF-8
    "ascii": "utf-8",
    "shift-jis": "cp932",
    "shift_jis": "cp932",
    "sjis": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
}


def codec_for(label: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None when the label is unknown or absent."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = _SUPERSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_bytes(data: bytes, declared: str | None = None) -> tuple[str, str]:
    """Decode `data`; returns the text and the codec that was used (a trailing '?' marks a lossy decode).

    NUL characters are dropped: no mail text needs them, and PostgreSQL refuses them in any text column.
    """
    text, codec = _decode(data, declared)
    return text.replace("\x00", ""), codec


def _decode(data: bytes, declared: str | None) -> tuple[str, str]:
    if not data:
        return "", codec_for(declared) or "utf-8"
    codec = codec_for(declared)
    if codec:
        try:
            return data.decode(codec), codec
        except (UnicodeDecodeError, LookupError):
            pass
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    guessed = "cp1252" if _few_latin_letters(data) else _guess(data)
    if guessed:
        try:
            return data.decode(guessed), guessed
        except (UnicodeDecodeError, LookupError):
            pass
    fallback = codec or "utf-8"
    return data.decode(fallback, errors="replace"), fallback + "?"


_HIGH_RUN = re.compile(rb"[\x80-\xff]{3}")


def _few_latin_letters(data: bytes) -> bool:
    """A few 8-bit bytes that read as Latin letters in cp1252 ("caf\\xe9", "Se\\xf1or"): too little for a statistical
    guess, which once read "caf\\xe9" as Urdu (cp1006). Western senders writing raw 8-bit mostly mean cp1252."""
    high = sum(byte >= 0x80 for byte in data)
    if not 0 < high < 16 or _HIGH_RUN.search(data):  # three 8-bit bytes in a row: a word of Cyrillic, Greek, CJK ...
        return False
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return all(ch.isalpha() and "LATIN" in unicodedata.name(ch, "") for ch in text if ord(ch) > 127)


def _guess(data: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(data[:65536], cp_isolation=None).best()
    if best is None:
        return None
    return codec_for(best.encoding) or best.encoding
