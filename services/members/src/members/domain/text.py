"""Clean-up of values typed by hand into spreadsheets: full-width characters and stray spaces."""

from __future__ import annotations

# Chinese input methods produce full-width digits and punctuation (０-９, ／, －, ．, ｘ); they
# mean exactly the ASCII characters, so folding them is normalising, not guessing.
_HALFWIDTH = str.maketrans(
    {chr(0xFF10 + i): str(i) for i in range(10)}
    | {"＋": "+", "－": "-", "．": ".", "／": "/", "：": ":", "Ｘ": "X", "ｘ": "x", "\u3000": " "}
)

# str.strip() knows U+3000 and U+00A0 but not these, which arrive with text pasted from the web.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"


def halfwidth(text: str) -> str:
    return text.translate(_HALFWIDTH)


def clean(text: str) -> str:
    """Surrounding whitespace and invisible characters removed; the inside left as typed."""
    # Most cells need nothing: both ends already show a character (an import's 10,000 rows
    # call this 200,000 times).
    if text and _shows(text[0]) and _shows(text[-1]):
        return text
    return text.strip().strip(_INVISIBLE).strip()


def _shows(character: str) -> bool:
    return not character.isspace() and character not in _INVISIBLE


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and clean(value) == "")
