"""The rental-system side: the Current RMS API client and its member mapping.

``CurrentRMS`` (client.py) reads and writes members and webhook registrations;
``organisation_from_member`` (mapping.py) is the organisation -> ``ContactFields`` mapping of
interface §5, ``member_body`` its reverse; errors.py translates refused answers.
"""
from __future__ import annotations

from providers.current_rms.client import CurrentRMS
from providers.current_rms.mapping import member_body, organisation_from_member, split_street

__all__ = ["CurrentRMS", "member_body", "organisation_from_member", "split_street"]
