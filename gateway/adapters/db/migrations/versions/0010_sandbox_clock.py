"""the sandbox clock: one row holding the offset every process adds to its clock in test mode

Revision ID: 0010
Revises: 0009
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    clock = op.create_table(
        'sandbox_clock',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('offset_us', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_clock')),
    )
    # The one row, there from the start: moving the clock only ever updates it (under a row lock).
    op.bulk_insert(clock, [{'id': 1, 'offset_us': 0, 'updated_at': datetime.now(timezone.utc)}])


def downgrade() -> None:
    op.drop_table('sandbox_clock')
