"""ivr: stored call flows, versioned per tenant

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('call_flows',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'name', 'version')
    )
    op.create_index('ix_call_flows_listing', 'call_flows', ['tenant_id', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_call_flows_tenant_id'), 'call_flows', ['tenant_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_call_flows_tenant_id'), table_name='call_flows')
    op.drop_index('ix_call_flows_listing', table_name='call_flows')
    op.drop_table('call_flows')
