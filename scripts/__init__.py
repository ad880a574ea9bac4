"""Developer commands behind ``make run``, ``make test`` and ``make migrate`` (interface §1)."""
