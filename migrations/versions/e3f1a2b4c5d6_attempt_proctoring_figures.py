"""监考管理's order and filter stored on the attempt (risk, lowest similarity)

The list sorted every attempt of the province by a risk computed over all their snapshots
(357 ms at 330,000 physicians); the attempt now keeps its risk and its lowest similarity,
updated with each face-check result, page event and purge (commands.proctoring), and an
index serves the list's order. Back-filled here with the formula of
models.proctoring.risk_of, as of this revision.

Revision ID: e3f1a2b4c5d6
Revises: e2f7a9c4b1d6
Create Date: 2026-11-27 07:00:00

"""
import sqlalchemy as sa
from alembic import op


revision = "e3f1a2b4c5d6"
down_revision = "e2f7a9c4b1d6"
branch_labels = None
depends_on = None

_SHOTS = "FROM snapshot WHERE snapshot.attempt_id = exam_attempt.id"
_LOWEST = f"(SELECT min(snapshot.similarity) {_SHOTS})"


def _flag(column):
    return f"(SELECT count(*) {_SHOTS} AND snapshot.{column})"


def _event(column):
    return (f"coalesce((SELECT proctor_case.{column} FROM proctor_case "
            f"WHERE proctor_case.attempt_id = exam_attempt.id), 0)")


def upgrade():
    with op.batch_alter_table("exam_attempt", schema=None) as batch_op:
        batch_op.add_column(sa.Column("proctor_risk", sa.Float(), server_default="0",
                                      nullable=False))
        batch_op.add_column(sa.Column("proctor_lowest", sa.Float(), nullable=True))
        batch_op.create_index("ix_exam_attempt_proctor_risk", ["proctor_risk", "id"],
                              unique=False)
    # Only the attempts with snapshots or a case differ from the default (risk 0, no lowest).
    op.execute(
        f"UPDATE exam_attempt SET proctor_lowest = {_LOWEST}, proctor_risk = "
        f"(1 - coalesce({_LOWEST}, 1)) * 100 + 20 * {_flag('multiple_faces')} "
        f"+ 10 * {_flag('no_face')} + 5 * {_flag('low_similarity')} "
        f"+ 3 * {_flag('looking_away')} + 10 * {_event('camera_stopped')} "
        f"+ 2 * {_event('page_hidden')} "
        "WHERE exam_attempt.id IN (SELECT attempt_id FROM snapshot "
        "UNION SELECT attempt_id FROM proctor_case)")
    op.execute("ANALYZE")


def downgrade():
    with op.batch_alter_table("exam_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_exam_attempt_proctor_risk")
        batch_op.drop_column("proctor_lowest")
        batch_op.drop_column("proctor_risk")
