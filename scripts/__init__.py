"""Developer commands behind ``make run``, ``make test`` and ``make migrate`` (CONTRACT §1)."""
