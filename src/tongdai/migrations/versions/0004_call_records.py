"""calls: CDRs, their legs and the queue log

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 13:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('call_records',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tenant_id', sa.String(length=32), nullable=True),
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('caller', sa.String(length=128), nullable=False),
    sa.Column('callee', sa.String(length=128), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('agent', sa.String(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('answered_at', sa.DateTime(), nullable=True),
    sa.Column('ended_at', sa.DateTime(), nullable=False),
    sa.Column('ring_s', sa.Double(), nullable=False),
    sa.Column('wait_s', sa.Double(), nullable=False),
    sa.Column('talk_s', sa.Double(), nullable=False),
    sa.Column('disposition', sa.String(length=32), nullable=False),
    sa.Column('cause', sa.String(length=200), nullable=False),
    sa.Column('transferred', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('call_id')
    )
    op.create_index('ix_call_records_listing', 'call_records', ['tenant_id', 'started_at', 'id'], unique=False)
    op.create_index(op.f('ix_call_records_tenant_id'), 'call_records', ['tenant_id'], unique=False)
    op.create_table('call_leg_records',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tenant_id', sa.String(length=32), nullable=True),
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('party', sa.String(length=128), nullable=False),
    sa.Column('answered', sa.Boolean(), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_call_leg_records_call_id'), 'call_leg_records', ['call_id'], unique=False)
    op.create_index(op.f('ix_call_leg_records_tenant_id'), 'call_leg_records', ['tenant_id'], unique=False)
    op.create_table('queue_log',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tenant_id', sa.String(length=32), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('agent', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=True),
    sa.Column('wait_s', sa.Double(), nullable=True),
    sa.Column('detail', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_queue_log_call_id'), 'queue_log', ['call_id'], unique=False)
    op.create_index('ix_queue_log_listing', 'queue_log', ['tenant_id', 'at', 'id'], unique=False)
    op.create_index(op.f('ix_queue_log_tenant_id'), 'queue_log', ['tenant_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_queue_log_tenant_id'), table_name='queue_log')
    op.drop_index('ix_queue_log_listing', table_name='queue_log')
    op.drop_index(op.f('ix_queue_log_call_id'), table_name='queue_log')
    op.drop_table('queue_log')
    op.drop_index(op.f('ix_call_leg_records_tenant_id'), table_name='call_leg_records')
    op.drop_index(op.f('ix_call_leg_records_call_id'), table_name='call_leg_records')
    op.drop_table('call_leg_records')
    op.drop_index(op.f('ix_call_records_tenant_id'), table_name='call_records')
    op.drop_index('ix_call_records_listing', table_name='call_records')
    op.drop_table('call_records')
