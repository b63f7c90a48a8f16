"""drop the single-column return_id indexes that a composite index already leads with

timeline_events(return_id) is covered by ix_timeline_return_at (return_id, at, id) and
return_lines(return_id) by uq_return_lines (return_id, line_id); each extra B-tree cost every
insert a write and served no query the composite could not.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 20:10:00.000000
"""
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('timeline_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_timeline_events_return_id'))
    with op.batch_alter_table('return_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_return_lines_return_id'))


def downgrade() -> None:
    with op.batch_alter_table('return_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_return_lines_return_id'), ['return_id'],
                              unique=False)
    with op.batch_alter_table('timeline_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_timeline_events_return_id'), ['return_id'],
                              unique=False)
