"""routing: durable non-voice tasks and each tenant's workflow

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:53:43.114002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('routing_tasks',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('timeout_s', sa.Double(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=True),
    sa.Column('worker_id', sa.String(length=64), nullable=True),
    sa.Column('end_reason', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_routing_tasks_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_tasks'))
    )
    with op.batch_alter_table('routing_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_routing_tasks_live', ['tenant_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_routing_tasks_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('routing_workflows',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tenant_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_routing_workflows_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_workflows')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_routing_workflows_tenant_id_name'))
    )
    with op.batch_alter_table('routing_workflows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routing_workflows_tenant_id'), ['tenant_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('routing_workflows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routing_workflows_tenant_id'))

    op.drop_table('routing_workflows')
    with op.batch_alter_table('routing_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routing_tasks_tenant_id'))
        batch_op.drop_index('ix_routing_tasks_live')

    op.drop_table('routing_tasks')
