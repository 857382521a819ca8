"""callbacks: calls promised to customers at a time (scheduled callbacks)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scheduled_callbacks',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('customer_id', sa.String(length=32), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=True),
    sa.Column('agent_id', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_result', sa.String(length=64), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_scheduled_callbacks_agent_id_agents'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_scheduled_callbacks_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_scheduled_callbacks_customer_id_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_scheduled_callbacks_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduled_callbacks'))
    )
    with op.batch_alter_table('scheduled_callbacks', schema=None) as batch_op:
        batch_op.create_index('ix_scheduled_callbacks_due', ['status', 'due_at'], unique=False)
        batch_op.create_index('ix_scheduled_callbacks_listing', ['tenant_id', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_scheduled_callbacks_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('scheduled_callbacks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduled_callbacks_tenant_id'))
        batch_op.drop_index('ix_scheduled_callbacks_listing')
        batch_op.drop_index('ix_scheduled_callbacks_due')
    op.drop_table('scheduled_callbacks')
