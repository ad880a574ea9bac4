"""Faithful local stand-ins of the rental system and the three accounting systems (interface §9).

Each stand-in is a Flask app built by its module's ``create_app(...)``; ``sandbox.runner``
serves any of them over real HTTP on 127.0.0.1. Every stand-in also answers the control
routes of ``sandbox.control`` under ``/_sandbox/`` so that tests can inject faults, read the
calls it received and reset it.
"""
