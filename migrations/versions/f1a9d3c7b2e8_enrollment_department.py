"""报名进度 by 科室: the physician's department copied onto the enrollment, kept by triggers

The list filtered by state and department ("待测评" and "内科") read the department of each
enrollment's physician one row at a time until its capped count was reached: about 30,000
physicians at 330,000 (issue 9: twice its time at 1,000). The enrollment now carries the
department of its physician, with an index on (department, state) that answers the filter
directly. The database keeps the copy, whatever writes the rows (the app, a bulk load, a
script): a new enrollment takes its physician's department, and a physician moved to another
department (or out of one) takes their enrollments along.

Revision ID: f1a9d3c7b2e8
Revises: e3f1a2b4c5d6
Create Date: 2026-11-27 10:30:00

"""
import sqlalchemy as sa
from alembic import op


revision = "f1a9d3c7b2e8"
down_revision = "e3f1a2b4c5d6"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = (
    """CREATE TRIGGER enrollment_department_on_insert AFTER INSERT ON enrollment
    BEGIN
        UPDATE enrollment SET department_id =
            (SELECT department_id FROM physician WHERE physician.id = NEW.physician_id)
        WHERE id = NEW.id;
    END""",
    """CREATE TRIGGER enrollment_department_on_physician AFTER UPDATE OF physician_id
    ON enrollment WHEN OLD.physician_id IS NOT NEW.physician_id
    BEGIN
        UPDATE enrollment SET department_id =
            (SELECT department_id FROM physician WHERE physician.id = NEW.physician_id)
        WHERE id = NEW.id;
    END""",
    """CREATE TRIGGER physician_department_to_enrollments AFTER UPDATE OF department_id
    ON physician WHEN OLD.department_id IS NOT NEW.department_id
    BEGIN
        UPDATE enrollment SET department_id = NEW.department_id WHERE physician_id = NEW.id;
    END""",
)

POSTGRESQL_TRIGGERS = (
    """CREATE FUNCTION enrollment_department_from_physician() RETURNS trigger AS $$
    BEGIN
        NEW.department_id := (SELECT department_id FROM physician
                              WHERE physician.id = NEW.physician_id);
        RETURN NEW;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER enrollment_department_on_write BEFORE INSERT OR UPDATE OF physician_id
    ON enrollment FOR EACH ROW EXECUTE FUNCTION enrollment_department_from_physician()""",
    """CREATE FUNCTION physician_department_to_enrollments() RETURNS trigger AS $$
    BEGIN
        UPDATE enrollment SET department_id = NEW.department_id
        WHERE physician_id = NEW.id;
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER physician_department_to_enrollments AFTER UPDATE OF department_id
    ON physician FOR EACH ROW WHEN (OLD.department_id IS DISTINCT FROM NEW.department_id)
    EXECUTE FUNCTION physician_department_to_enrollments()""",
)


def upgrade():
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("department_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_enrollment_department_state", ["department_id", "state"],
                              unique=False)
    op.execute("UPDATE enrollment SET department_id = (SELECT department_id FROM physician "
               "WHERE physician.id = enrollment.physician_id)")
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL_TRIGGERS if postgresql else SQLITE_TRIGGERS:
        op.execute(statement)
    op.execute("ANALYZE")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER physician_department_to_enrollments ON physician")
        op.execute("DROP TRIGGER enrollment_department_on_write ON enrollment")
        op.execute("DROP FUNCTION physician_department_to_enrollments()")
        op.execute("DROP FUNCTION enrollment_department_from_physician()")
    else:
        for name in ("physician_department_to_enrollments", "enrollment_department_on_physician",
                     "enrollment_department_on_insert"):
            op.execute(f"DROP TRIGGER {name}")
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.drop_index("ix_enrollment_department_state")
        batch_op.drop_column("department_id")
