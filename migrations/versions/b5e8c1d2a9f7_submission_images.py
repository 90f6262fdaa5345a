"""the images of each submission (photo, licence pages, proof), for 修改对比

Revision ID: b5e8c1d2a9f7
Revises: a7c2d9e4f1b3
Create Date: 2026-11-27 03:20:00

"""
import sqlalchemy as sa
from alembic import op


revision = "b5e8c1d2a9f7"
down_revision = "a7c2d9e4f1b3"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.add_column(sa.Column("images", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.drop_column("images")
