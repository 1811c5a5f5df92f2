"""the sandbox clock: one row holding the offset every process adds to its clock in test mode

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sandbox_clock',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('offset_us', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_clock')),
    )


def downgrade() -> None:
    op.drop_table('sandbox_clock')
