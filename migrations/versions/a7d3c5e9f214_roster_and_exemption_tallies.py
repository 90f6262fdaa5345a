"""roster and exemption tallies

Revision ID: a7d3c5e9f214
Revises: 3b8e2f6c1d47
Create Date: 2026-11-27 02:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7d3c5e9f214'
down_revision = '3b8e2f6c1d47'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('roster_tally',
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], ),
    sa.PrimaryKeyConstraint('institution_id')
    )
    op.create_table('exemption_tally',
    sa.Column('cycle_id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cycle_id'], ['cycle.id'], ),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], ),
    sa.PrimaryKeyConstraint('cycle_id', 'institution_id')
    )
    # An existing database starts with its tallies counted.
    op.execute("INSERT INTO roster_tally (institution_id, count) "
               "SELECT institution_id, COUNT(id) FROM physician "
               "WHERE institution_id IS NOT NULL GROUP BY institution_id")
    op.execute("INSERT INTO exemption_tally (cycle_id, institution_id, count) "
               "SELECT enrollment.cycle_id, enrollment.institution_id, COUNT(exemption.id) "
               "FROM exemption JOIN enrollment ON enrollment.id = exemption.enrollment_id "
               "WHERE exemption.state = 'approved' "
               "GROUP BY enrollment.cycle_id, enrollment.institution_id")


def downgrade():
    op.drop_table('exemption_tally')
    op.drop_table('roster_tally')
