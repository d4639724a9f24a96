"""forecast adjustments and the forecast:adjust permission

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

A manager's judgment of a subject's forecast (docs/domain.md, "The call"), and forecast:adjust for the
default roles: admin ALL, sales_manager TEAM (sales_rep none).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRANTS = [("admin", "ALL"), ("sales_manager", "TEAM")]


def upgrade() -> None:
    op.create_table(
        "forecast_adjustments",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("team_id", sa.BigInteger(), nullable=True),
        sa.Column("pipeline_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=15, scale=2), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("adjusted_by", sa.BigInteger(), nullable=False),
        sa.Column("adjusted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (team_id IS NULL)", name=op.f("ck_forecast_adjustments_one_subject")
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_forecast_adjustments_amount_not_negative")),
        sa.CheckConstraint(
            "length(note) BETWEEN 1 AND 2000", name=op.f("ck_forecast_adjustments_note_length")
        ),
        sa.ForeignKeyConstraint(
            ["adjusted_by"], ["users.id"], name=op.f("fk_forecast_adjustments_adjusted_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipelines.id"], name=op.f("fk_forecast_adjustments_pipeline_id_pipelines")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_forecast_adjustments_team_id_teams")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_forecast_adjustments_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_adjustments")),
        sa.UniqueConstraint(
            "adjusted_by", "idempotency_key", name=op.f("uq_forecast_adjustments_adjusted_by_idempotency_key")
        ),
    )
    op.create_index(
        "ix_forecast_adjustments_user",
        "forecast_adjustments",
        ["user_id", "pipeline_id", "period", "adjusted_at"],
    )
    op.create_index(
        "ix_forecast_adjustments_team",
        "forecast_adjustments",
        ["team_id", "pipeline_id", "period", "adjusted_at"],
    )
    op.create_index(op.f("ix_forecast_adjustments_pipeline_id"), "forecast_adjustments", ["pipeline_id"])
    op.bulk_insert(
        sa.table("casbin_rule", *(sa.column(c) for c in ("ptype", "v0", "v1", "v2", "v3", "v4"))),
        [
            {"ptype": "p", "v0": role, "v1": "forecast", "v2": "adjust", "v3": scope, "v4": "false"}
            for role, scope in GRANTS
        ],
    )
    op.execute("NOTIFY pipecast_policies")


def downgrade() -> None:
    op.execute("DELETE FROM casbin_rule WHERE ptype = 'p' AND v1 = 'forecast' AND v2 = 'adjust'")
    op.drop_table("forecast_adjustments")
