"""the tallies rolled up per region (region_tally)

Revision ID: e2f7a9c4b1d6
Revises: b5e8c1d2a9f7
Create Date: 2026-11-27 07:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e2f7a9c4b1d6'
down_revision = 'b5e8c1d2a9f7'
branch_labels = None
depends_on = None

# Summed per admin_path first (a few hundred paths), then added to every administration the
# path lies under (models.tally.rebuild_regions does the same).
FILL = """
INSERT INTO region_tally (cycle_id, administration_id, measure, count)
SELECT per_path.cycle_id, administration.id, per_path.measure, SUM(per_path.n)
FROM ({per_path}) AS per_path
JOIN administration ON per_path.admin_path LIKE administration.path || '%'
GROUP BY per_path.cycle_id, administration.id, per_path.measure
"""


def upgrade():
    op.create_table('region_tally',
    sa.Column('cycle_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('administration_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('measure', sa.String(length=32), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['administration_id'], ['administration.id'], ),
    sa.PrimaryKeyConstraint('cycle_id', 'administration_id', 'measure')
    )
    # An existing database starts with its roll-up counted from the tallies.
    op.execute(FILL.format(per_path=(
        "SELECT institution.admin_path AS admin_path, enrollment_tally.cycle_id AS cycle_id, "
        "enrollment_tally.state AS measure, SUM(enrollment_tally.count) AS n "
        "FROM enrollment_tally JOIN institution ON institution.id = enrollment_tally.institution_id "
        "GROUP BY institution.admin_path, enrollment_tally.cycle_id, enrollment_tally.state")))
    op.execute(FILL.format(per_path=(
        "SELECT institution.admin_path AS admin_path, 0 AS cycle_id, "
        "CAST('_roster' AS VARCHAR(32)) AS measure, SUM(roster_tally.count) AS n "
        "FROM roster_tally JOIN institution ON institution.id = roster_tally.institution_id "
        "GROUP BY institution.admin_path")))
    op.execute(FILL.format(per_path=(
        "SELECT institution.admin_path AS admin_path, exemption_tally.cycle_id AS cycle_id, "
        "CAST('_exempted' AS VARCHAR(32)) AS measure, SUM(exemption_tally.count) AS n "
        "FROM exemption_tally JOIN institution ON institution.id = exemption_tally.institution_id "
        "GROUP BY institution.admin_path, exemption_tally.cycle_id")))
    # Fresh statistics for the planner (SQLite has none for a new table).
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ANALYZE")
    else:
        op.execute("ANALYZE region_tally")


def downgrade():
    op.drop_table('region_tally')
