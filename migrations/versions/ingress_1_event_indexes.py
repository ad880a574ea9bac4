"""ingress: two fewer index writes for each delivery's INSERT

Every index of ``events`` is written by each webhook's INSERT, the service's hottest statement
(issue 18 measured the INSERT at 60 µs with only the key and the duplicate check's index, 115 µs
with all eight). Two go, with no query losing its index:

- ``ix_events_integration_id`` (integration_id): the prefix of ``ix_events_organisation`` and of
  the duplicate check's unique index, which serve its look-ups;
- ``ix_events_received_status`` (received_at, integration_id, status) joins ``ix_events_received``
  (received_at, id), as (received_at, id, integration_id, status): still the event lists' order,
  and still covering for the ops page's count of the last day.

And ``ix_events_contact`` keeps only rows that name a contact (ledger events): a webhook's
event has none, so its INSERT does not touch it, and a look-up by contact (``contact_id = ?``)
still uses it.

Revision ID: ingress_1
Revises: ledger_3
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "ingress_1"
down_revision: Union[str, Sequence[str], None] = "ledger_3"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

NAMES_A_CONTACT = sa.text("contact_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_events_integration_id", table_name="events")
    op.drop_index("ix_events_received_status", table_name="events")
    op.drop_index("ix_events_received", table_name="events")
    op.create_index("ix_events_received", "events", ["received_at", "id", "integration_id", "status"])
    op.drop_index("ix_events_contact", table_name="events")
    op.create_index("ix_events_contact", "events", ["integration_id", "contact_id"],
                    sqlite_where=NAMES_A_CONTACT, postgresql_where=NAMES_A_CONTACT)


def downgrade() -> None:
    op.drop_index("ix_events_contact", table_name="events")
    op.create_index("ix_events_contact", "events", ["integration_id", "contact_id"])
    op.drop_index("ix_events_received", table_name="events")
    op.create_index("ix_events_received", "events", ["received_at", "id"])
    op.create_index("ix_events_received_status", "events", ["received_at", "integration_id", "status"])
    op.create_index("ix_events_integration_id", "events", ["integration_id"])
