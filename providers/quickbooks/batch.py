"""Batch creates through ``POST …/batch`` (providers.md §B4).

Items run serially on the server and answer one by one, each with its Customer or its own Fault
inside an HTTP 200. The server's hard item cap is unconfirmed (§B4: "up to 10" on one page, "30"
recommended on another) and so is the answer past it: a whole request refused as invalid is halved
and sent again, down to single items, whose refusal is then that element's own result. That costs
at most 2n-1 calls for n items and never loses an element.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.errors import NameClash, Rejected, Transient
from core.models import ContactFields
from providers.base import BatchResult
from providers.quickbooks import clash, errors, mapping

if TYPE_CHECKING:
    from providers.contact_extras import Extras
    from providers.quickbooks.client import QuickBooksProvider

#: "Recommended maximum number of payloads in a single batch request is 30" (§B4).
MAX_ITEMS = 30

#: (position in the caller's list, Customer payload, idempotency scope)
Item = tuple[int, dict[str, Any], str]


def create(
    provider: QuickBooksProvider, items: list[tuple[ContactFields, str, Extras | None]]
) -> list[BatchResult]:
    """One result per element, in order; a refused element does not stop the others. Each
    item's Customer is built as a lone create builds it (``mapping.create_body``)."""
    results: list[BatchResult | None] = [None] * len(items)
    pending: list[Item] = []
    for position, (fields, scope, extras) in enumerate(items):
        try:
            pending.append((position, mapping.create_body(fields, extras), scope))
        except Rejected as error:  # a forbidden name never leaves the building
            results[position] = BatchResult(error=error)
    for start in range(0, len(pending), MAX_ITEMS):
        try:
            _send(provider, pending[start:start + MAX_ITEMS], results)
        except Transient as error:
            # Throttled or unavailable: what was created stays reported; the rest carry the
            # error and retry later (their requestids replay any write that did land).
            _fill(results, [position for position, _, _ in pending[start:]], error)
            break
    return [r if r is not None else BatchResult(error=_unanswered()) for r in results]


def _send(
    provider: QuickBooksProvider, chunk: list[Item], results: list[BatchResult | None]
) -> None:
    request = {
        "BatchItemRequest": [
            {"bId": f"b{position}", "operation": "create", "Customer": payload}
            for position, payload, _ in chunk
        ]
    }
    scope = "\n".join(scope for _, _, scope in chunk)
    try:
        answer = provider.post("batch", request, scope=scope, is_batch=True)
    except Rejected as refusal:
        if len(chunk) == 1:
            results[chunk[0][0]] = BatchResult(error=refusal)
            return
        middle = len(chunk) // 2
        _send(provider, chunk[:middle], results)
        _send(provider, chunk[middle:], results)
        return
    by_bid = {item.get("bId"): item for item in answer.get("BatchItemResponse", [])}
    for position, payload, _ in chunk:
        results[position] = _result(provider, by_bid.get(f"b{position}"), payload["DisplayName"])


def _result(provider: QuickBooksProvider, item: dict[str, Any] | None, name: str) -> BatchResult:
    if item is None:
        return BatchResult(error=_unanswered())
    if "Customer" in item:
        return BatchResult(contact=provider.to_contact(item["Customer"]))
    error = errors.fault_error(item) or _unanswered()
    if isinstance(error, NameClash):
        error = clash.explain(provider, error, name)
    return BatchResult(error=error)


def _fill(results: list[BatchResult | None], positions: list[int], error: Exception) -> None:
    for position in positions:
        if results[position] is None:
            results[position] = BatchResult(error=error)


def _unanswered() -> Transient:
    # The outcome is unknown: a retry searches before creating again (docs/architecture.md, step 3).
    return Transient("the batch answer has no result for this element", system=errors.SYSTEM)
