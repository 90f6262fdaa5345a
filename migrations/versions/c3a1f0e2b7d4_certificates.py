"""certificates (考核结果通知书)

Revision ID: c3a1f0e2b7d4
Revises: 97b0f00a13ec
Create Date: 2026-11-26 13:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3a1f0e2b7d4'
down_revision = '97b0f00a13ec'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'certificate',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('enrollment_id', sa.Integer(), nullable=False),
        sa.Column('physician_id', sa.Integer(), nullable=False),
        sa.Column('institution_id', sa.Integer(), nullable=False),
        sa.Column('cycle_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.String(length=32), nullable=False),
        sa.Column('code', sa.String(length=32), nullable=False),
        sa.Column('physician_name', sa.String(length=64), nullable=False),
        sa.Column('masked_id_number', sa.String(length=32), nullable=False),
        sa.Column('institution_name', sa.String(length=128), nullable=False),
        sa.Column('practice_category', sa.String(length=16), nullable=True),
        sa.Column('level', sa.String(length=16), nullable=True),
        sa.Column('cycle_name', sa.String(length=64), nullable=False),
        sa.Column('administration_name', sa.String(length=128), nullable=False),
        sa.Column('issued_at', sa.DateTime(), nullable=False),
        sa.Column('issued_by_id', sa.Integer(), nullable=True),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.Column('revoked_reason', sa.Text(), nullable=True),
        sa.Column('revoked_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['cycle_id'], ['cycle.id'], ),
        sa.ForeignKeyConstraint(['enrollment_id'], ['enrollment.id'], ),
        sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], ),
        sa.ForeignKeyConstraint(['issued_by_id'], ['ab_user.id'], ),
        sa.ForeignKeyConstraint(['physician_id'], ['physician.id'], ),
        sa.ForeignKeyConstraint(['revoked_by_id'], ['ab_user.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('code'),
        sa.UniqueConstraint('enrollment_id'),
        sa.UniqueConstraint('number'),
    )
    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certificate_institution_id'), ['institution_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_certificate_physician_id'), ['physician_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certificate_physician_id'))
        batch_op.drop_index(batch_op.f('ix_certificate_institution_id'))
    op.drop_table('certificate')
