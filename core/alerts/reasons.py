"""A failure reason with its identifiers taken out, so that alike failures group together.

"contact 4f1c…e9 no longer exists" and "contact 77ab…01 no longer exists" are one reason:
"contact <id> no longer exists". Used by the alert digest and the connection health page.
"""
from __future__ import annotations

import re

_PATTERNS = (
    # Web links (a refusal names the contact holding a number by its link): one placeholder,
    # so "used by contact '…' (<link>)" groups whoever holds it.
    (re.compile(r"https?://[^\s)]+"), "<link>"),
    # UUIDs and long hex ids (Xero/Sage contact ids, event ids).
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<id>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{12,}\b"), "<id>"),
    # Quoted values: names, account numbers (not apostrophes: "the organisation's number").
    (re.compile(r"(?<!\w)'[^']{1,200}'(?!\w)"), "'…'"),
    (re.compile(r"\"[^\"]{1,200}\""), "\"…\""),
    # Numbers of two digits or more (organisation ids, QuickBooks ids), but not HTTP statuses
    # after "HTTP", which say what kind of failure it was.
    (re.compile(r"(?<!HTTP )(?<![\w.])\d{2,}(?![\w.])"), "<n>"),
)
MAX_LENGTH = 300


def pattern_of(reason: str | None) -> str:
    """The reason with identifiers replaced by placeholders (empty reasons read "no reason")."""
    text = " ".join((reason or "").split())
    if not text:
        return "no reason recorded"
    for pattern, placeholder in _PATTERNS:
        text = pattern.sub(placeholder, text)
    return text[:MAX_LENGTH]
