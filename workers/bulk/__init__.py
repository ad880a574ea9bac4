"""Bulk work on the "bulk" queue: CSV link import, export to and import from the accounting
system (interface §7). ``workers.bulk.jobs.run_job`` is the one entry point of the actor."""
