"""credit score: device usage days, features, model versions, scores, contests, observations, bureau queries, job runs

Revision ID: 0013
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('credit_job_runs',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('telemetry_purged_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_credit_job_runs'))
    )
    op.create_table('credit_models',
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('model', sa.String(length=24), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('points_table', sa.Text(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('trained_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('promoted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_credit_models'))
    )
    with op.batch_alter_table('credit_models', schema=None) as batch_op:
        batch_op.create_index('ix_credit_models_model_state', ['model', 'state'], unique=False)
        batch_op.create_index('uq_credit_models_live_model', ['model'], unique=True,
                              sqlite_where=sa.text("state = 'live'"), postgresql_where=sa.text("state = 'live'"))

    op.create_table('credit_observations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=40), nullable=False),
    sa.Column('plan_id', sa.String(length=40), nullable=True),
    sa.Column('observed_on', sa.Date(), nullable=False),
    sa.Column('device_features', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('repayment_features', sa.JSON(), nullable=False),
    sa.Column('defaulted_on', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_observations')),
    sa.UniqueConstraint('plan_id', name=op.f('uq_credit_observations_plan_id'))
    )
    with op.batch_alter_table('credit_observations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_observations_observed_on'), ['observed_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_credit_observations_subject'), ['subject'], unique=False)

    op.create_table('credit_bureau_queries',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('bureau', sa.String(length=40), nullable=False),
    sa.Column('purpose', sa.String(length=200), nullable=False),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('queried_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_credit_bureau_queries_customer_id_customers')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_credit_bureau_queries_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_bureau_queries'))
    )
    with op.batch_alter_table('credit_bureau_queries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_bureau_queries_customer_id'), ['customer_id'], unique=False)

    op.create_table('credit_contests',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('model_version', sa.String(length=40), nullable=True),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_credit_contests_customer_id_customers')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_credit_contests_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_contests'))
    )
    with op.batch_alter_table('credit_contests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_contests_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_credit_contests_state'), ['state'], unique=False)

    op.create_table('credit_features',
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('feature_group', sa.String(length=16), nullable=False),
    sa.Column('feature_values', sa.JSON(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_credit_features_customer_id_customers')),
    sa.PrimaryKeyConstraint('customer_id', 'feature_group', name=op.f('pk_credit_features'))
    )
    op.create_table('credit_scores',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('customer_id', sa.String(length=40), nullable=False),
    sa.Column('model_version', sa.String(length=40), nullable=False),
    sa.Column('model', sa.String(length=24), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('band', sa.String(length=8), nullable=False),
    sa.Column('installment_limit', sa.BigInteger(), nullable=False),
    sa.Column('assessment', sa.Text(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_credit_scores_customer_id_customers')),
    sa.ForeignKeyConstraint(['model_version'], ['credit_models.version'], name=op.f('fk_credit_scores_model_version_credit_models')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_scores'))
    )
    with op.batch_alter_table('credit_scores', schema=None) as batch_op:
        batch_op.create_index('ix_credit_scores_customer_id_id', ['customer_id', 'id'], unique=False)

    op.create_table('device_usage_days',
    sa.Column('device_id', sa.String(length=40), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('usage', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_usage_days_device_id_devices')),
    sa.PrimaryKeyConstraint('device_id', 'day', name=op.f('pk_device_usage_days'))
    )


def downgrade() -> None:
    op.drop_table('device_usage_days')
    with op.batch_alter_table('credit_scores', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_scores_customer_id_id')

    op.drop_table('credit_scores')
    op.drop_table('credit_features')
    with op.batch_alter_table('credit_contests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_contests_state'))
        batch_op.drop_index(batch_op.f('ix_credit_contests_customer_id'))

    op.drop_table('credit_contests')
    with op.batch_alter_table('credit_bureau_queries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_bureau_queries_customer_id'))

    op.drop_table('credit_bureau_queries')
    with op.batch_alter_table('credit_observations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_observations_subject'))
        batch_op.drop_index(batch_op.f('ix_credit_observations_observed_on'))

    op.drop_table('credit_observations')
    with op.batch_alter_table('credit_models', schema=None) as batch_op:
        batch_op.drop_index('uq_credit_models_live_model')
        batch_op.drop_index('ix_credit_models_model_state')

    op.drop_table('credit_models')
    op.drop_table('credit_job_runs')
