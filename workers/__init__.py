"""Dramatiq: the broker first (``workers.broker``), then thin actors over plain functions."""
