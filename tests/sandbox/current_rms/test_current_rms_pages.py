"""The organisation page the rental stand-in serves at Current RMS's web path (issue 16)."""
from __future__ import annotations

import requests


def test_the_organisation_page(rms, seed, sample_member):
    # Given
    member = seed({**sample_member, "name": "Festival <Of> Testing"})
    # When
    page = requests.get(f"{rms.url}/members/{member['id']}", timeout=5)
    other_account = requests.get(f"{rms.url}/members/{member['id']}",
                                 params={"subdomain": "nobody"}, timeout=5)
    missing = requests.get(f"{rms.url}/members/999999999", timeout=5)
    # Then
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "Festival &lt;Of&gt; Testing" in page.text and "<script" not in page.text
    assert other_account.status_code == 404 and missing.status_code == 404
