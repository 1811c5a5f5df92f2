"""enrollment tokens

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('enrollment_tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('device_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_enrollment_tokens_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_enrollment_tokens'))
    )
    with op.batch_alter_table('enrollment_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrollment_tokens_merchant_id'), ['merchant_id'], unique=False)


def downgrade() -> None:
    op.drop_table('enrollment_tokens')
