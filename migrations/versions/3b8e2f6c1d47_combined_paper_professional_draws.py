"""combined paper: the professional part's draw counts

Revision ID: 3b8e2f6c1d47
Revises: c9b433b09a94
Create Date: 2026-11-26 17:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3b8e2f6c1d47'
down_revision = 'c9b433b09a94'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('paper', schema=None) as batch_op:
        batch_op.add_column(sa.Column('draw_professional_single', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('draw_professional_multiple', sa.Integer(),
                                      nullable=True))
        batch_op.add_column(sa.Column('draw_professional_judge', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('paper', schema=None) as batch_op:
        batch_op.drop_column('draw_professional_judge')
        batch_op.drop_column('draw_professional_multiple')
        batch_op.drop_column('draw_professional_single')
