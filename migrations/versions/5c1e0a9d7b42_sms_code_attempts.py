"""sms code attempts and voiding

Revision ID: 5c1e0a9d7b42
Revises: 11b3f785d0c8
Create Date: 2026-11-24 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5c1e0a9d7b42'
down_revision = '11b3f785d0c8'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sms_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('voided_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('sms_message', schema=None) as batch_op:
        batch_op.drop_column('voided_at')
        batch_op.drop_column('attempts')
