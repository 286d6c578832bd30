"""Jobs, their renders and their files.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("owner", sa.String(80), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("damage", sa.Text(), nullable=True),
    )
    op.create_index("ix_jobs_created", "jobs", ["created"])
    op.create_index("ix_jobs_owner_created", "jobs", ["owner", "created"])
    op.create_table(
        "renders",
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column("n", sa.Integer(), primary_key=True),
        sa.Column("model", sa.String(32), nullable=False),
        sa.Column("background", sa.String(32), nullable=False),
        sa.Column("file", sa.String(80), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_table(
        "files",
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("content_type", sa.String(80), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("files")
    op.drop_table("renders")
    op.drop_index("ix_jobs_owner_created", "jobs")
    op.drop_index("ix_jobs_created", "jobs")
    op.drop_table("jobs")
