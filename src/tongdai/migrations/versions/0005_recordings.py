"""call records: the location of the call's recording

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 14:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('call_records') as batch:
        batch.add_column(sa.Column('recording', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('call_records') as batch:
        batch.drop_column('recording')
