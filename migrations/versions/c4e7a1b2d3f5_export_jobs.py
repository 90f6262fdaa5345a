"""export jobs (导出记录: queued, running with progress, finished with an expiring file, failed)

Revision ID: c4e7a1b2d3f5
Revises: c3a1f0e2b7d4
Create Date: 2026-11-26 13:50:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c4e7a1b2d3f5'
down_revision = 'c3a1f0e2b7d4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'export_job',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('title', sa.String(length=64), nullable=False),
        sa.Column('filters', sa.JSON(), nullable=False),
        sa.Column('filters_text', sa.Text(), nullable=True),
        sa.Column('locale', sa.String(length=8), nullable=True),
        sa.Column('requested_by_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('rows_done', sa.Integer(), nullable=False),
        sa.Column('rows_total', sa.Integer(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('file_id', sa.Integer(), nullable=True),
        sa.Column('rq_job_id', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('expires_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['file_id'], ['stored_file.id']),
        sa.ForeignKeyConstraint(['requested_by_id'], ['ab_user.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('export_job', schema=None) as batch_op:
        batch_op.create_index('ix_export_job_requester', ['requested_by_id', 'id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('export_job', schema=None) as batch_op:
        batch_op.drop_index('ix_export_job_requester')
    op.drop_table('export_job')
