"""Refusals that name their holder by web link still group together on the health page and in
the alert digest (``core.alerts.reasons.pattern_of``): the link is an identifier too."""
from __future__ import annotations

from core.alerts.reasons import pattern_of
from core.errors import AccountNumberClash, Holder
from core.link_wording import account_number_refusal, taken


def _reason(number: str, holder: Holder) -> str:
    clash = AccountNumberClash("The Account Number already exists.", number=number, holder=holder,
                               reason=taken("Xero", "account number", number, holder))
    return account_number_refusal(clash, number)


def test_two_refusals_by_different_holders_are_one_group() -> None:
    first = _reason("FOT-001", Holder("f454079d-6980-4094-9ab7-e17bef09496f", "Old Festival Ltd",
                                      "https://go.xero.com/organisationlogin/default.aspx?shortcode=!pPk"
                                      "&redirecturl=/Contacts/View/f454079d-6980-4094-9ab7-e17bef09496f"))
    second = _reason("ACME-7", Holder("0a54079d-6980-4094-9ab7-e17bef09496f", "Acme (old)",
                                      "https://go.xero.com/organisationlogin/default.aspx?shortcode=!pPk"
                                      "&redirecturl=/Contacts/View/0a54079d-6980-4094-9ab7-e17bef09496f"))
    assert first.startswith("Xero refused: account number 'FOT-001' is already used by contact "
                            "'Old Festival Ltd' (https://go.xero.com/")
    assert pattern_of(first) == pattern_of(second) == (
        "Xero refused: account number '…' is already used by contact '…' (<link>); change the "
        "organisation's account number in Current RMS (or the other contact's), then replay")


def test_a_holder_the_search_did_not_find_is_said_so() -> None:
    assert taken("Sage", "reference (account number)", "X1", None) == (
        "Sage refused: reference (account number) 'X1' is already used by another contact "
        "(which a search did not find)")
    inactive = Holder("9", "Acme Hire", None, noun="customer", active=False)
    assert inactive.describe() == "inactive customer 'Acme Hire' (id 9)"
