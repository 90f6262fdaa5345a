"""indexes for the lists' filters at province scale

报名进度 and the roster filter by 科室 (a department's id, or its name across the province)
and find enrollments by physician (name and ID-number searches): without these SQLite and
PostgreSQL scan the whole table at 330,000 physicians.

Revision ID: a7c2d9e4f1b3
Revises: a7d3c5e9f214
Create Date: 2026-11-27 03:00:00

"""
from alembic import op


revision = "a7c2d9e4f1b3"
down_revision = "a7d3c5e9f214"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("physician", schema=None) as batch_op:
        batch_op.create_index("ix_physician_department", ["department_id"], unique=False)
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.create_index("ix_enrollment_physician", ["physician_id"], unique=False)
    with op.batch_alter_table("department", schema=None) as batch_op:
        batch_op.create_index("ix_department_name", ["name"], unique=False)
    # Fresh statistics for the planner, which otherwise may not pick the new indexes.
    op.execute("ANALYZE")


def downgrade():
    with op.batch_alter_table("department", schema=None) as batch_op:
        batch_op.drop_index("ix_department_name")
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.drop_index("ix_enrollment_physician")
    with op.batch_alter_table("physician", schema=None) as batch_op:
        batch_op.drop_index("ix_physician_department")
