"""A small HTML page per record, so that links under ``make run`` open the sandbox, not the real
sites (issue 16). Every value is escaped; the page carries no script."""
from __future__ import annotations

from html import escape
from typing import Any

from flask import Response


def record_page(title: str, system: str, fields: list[tuple[str, Any]], *,
                status: int = 200) -> Response:
    """``fields`` as a definition list under ``title``; empty values are left out."""
    rows = "".join(f"<dt>{escape(str(k))}</dt><dd>{escape(str(v))}</dd>"
                   for k, v in fields if v not in (None, "", [], {}))
    html = (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)} · {escape(system)} (sandbox)</title></head><body>"
        f"<p>{escape(system)} sandbox</p><h1>{escape(title)}</h1><dl>{rows}</dl></body></html>"
    )
    return Response(html, status=status, mimetype="text/html",
                    headers={"Content-Security-Policy": "default-src 'none'"})


def not_found_page(system: str, what: str) -> Response:
    return record_page(f"No such {what}", system, [], status=404)
