"""console at scale: indexes for search by platform id, returns per day, top reasons

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 02:10:00.000000
"""
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_returns_platform_id'), ['platform_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_returns_requested_at'), ['requested_at'],
                              unique=False)

    with op.batch_alter_table('return_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_return_lines_reason_code'), ['reason_code'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('return_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_return_lines_reason_code'))

    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_returns_requested_at'))
        batch_op.drop_index(batch_op.f('ix_returns_platform_id'))
