"""initial data model

Revision ID: 0001
Revises:
Create Date: 2026-11-27

The tables of db/tables.py, the company settings row and the default roles of docs/domain.md.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The default roles (docs/domain.md): (resource, action, scope, unassigned), as this revision made them.
DEFAULT_POLICIES = {
    "admin": [
        ("deal", "view", "ALL", "true"),
        ("deal", "edit", "ALL", "false"),
        ("forecast", "view", "ALL", "false"),
        ("forecast", "edit", "ALL", "false"),
        ("goal", "edit", "ALL", "false"),
        ("forecast", "settings", "ALL", "false"),
        ("directory", "manage", "ALL", "false"),
        ("permissions", "manage", "ALL", "false"),
    ],
    "sales_manager": [
        ("deal", "view", "TEAM", "false"),
        ("deal", "edit", "TEAM", "false"),
        ("forecast", "view", "TEAM", "false"),
        ("forecast", "edit", "TEAM", "false"),
        ("goal", "edit", "TEAM", "false"),
    ],
    "sales_rep": [
        ("deal", "view", "TEAM", "false"),
        ("deal", "edit", "OWN", "false"),
        ("forecast", "view", "TEAM", "false"),
        ("forecast", "edit", "OWN", "false"),
    ],
}


def upgrade() -> None:
    op.create_table(
        "casbin_rule",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("ptype", sa.String(length=255), nullable=False),
        sa.Column("v0", sa.String(length=255), server_default="", nullable=False),
        sa.Column("v1", sa.String(length=255), server_default="", nullable=False),
        sa.Column("v2", sa.String(length=255), server_default="", nullable=False),
        sa.Column("v3", sa.String(length=255), server_default="", nullable=False),
        sa.Column("v4", sa.String(length=255), server_default="", nullable=False),
        sa.Column("v5", sa.String(length=255), server_default="", nullable=False),
        sa.CheckConstraint(
            "strpos(v0 || v1 || v2 || v3 || v4 || v5, ', ') = 0", name=op.f("ck_casbin_rule_no_comma_space")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_casbin_rule")),
        sa.UniqueConstraint(
            "ptype", "v0", "v1", "v2", "v3", "v4", "v5", name=op.f("uq_casbin_rule_ptype_v0_v1_v2_v3_v4_v5")
        ),
    )
    op.create_table(
        "company_settings",
        sa.Column("id", sa.SmallInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False),
        sa.Column("fiscal_year_start_month", sa.SmallInteger(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_company_settings_currency_code")),
        sa.CheckConstraint(
            "fiscal_year_start_month BETWEEN 1 AND 12", name=op.f("ck_company_settings_fiscal_month")
        ),
        sa.CheckConstraint("id = 1", name=op.f("ck_company_settings_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_company_settings")),
    )
    op.create_table(
        "roles",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("name ~ '^[a-z][a-z0-9_]{0,62}$'", name=op.f("ck_roles_name_format")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_roles")),
    )
    op.create_table(
        "exchange_rates",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rate", sa.Numeric(precision=20, scale=10), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_exchange_rates_currency_code")),
        sa.CheckConstraint("rate > 0", name=op.f("ck_exchange_rates_rate_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_rates")),
        sa.UniqueConstraint("currency", "valid_from", name=op.f("uq_exchange_rates_currency_valid_from")),
    )
    op.create_table(
        "pipelines",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("period_kind", sa.Text(), server_default="QUARTER", nullable=False),
        sa.Column("forecast_amount", sa.Text(), server_default="WEIGHTED", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "forecast_amount IN ('WEIGHTED', 'RAW')", name=op.f("ck_pipelines_forecast_amount")
        ),
        sa.CheckConstraint("period_kind IN ('MONTH', 'QUARTER')", name=op.f("ck_pipelines_period_kind")),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 200", name=op.f("ck_pipelines_name_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 200", name=op.f("ck_teams_name_length")),
        sa.CheckConstraint("parent_id IS DISTINCT FROM id", name=op.f("ck_teams_not_own_parent")),
        sa.ForeignKeyConstraint(["parent_id"], ["teams.id"], name=op.f("fk_teams_parent_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
    )
    op.create_index(op.f("ix_teams_parent_id"), "teams", ["parent_id"], unique=False)
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("sales_seat", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 200", name=op.f("ck_users_name_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_index("uq_users_email_lower", "users", [sa.literal_column("lower(email)")], unique=True)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_audit_log_actor_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_actor_id"), "audit_log", ["actor_id"], unique=False)
    op.create_table(
        "forecast_submissions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("team_id", sa.BigInteger(), nullable=True),
        sa.Column("pipeline_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=15, scale=2), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("submitted_by", sa.BigInteger(), nullable=False),
        sa.Column(
            "submitted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (team_id IS NULL)", name=op.f("ck_forecast_submissions_one_subject")
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_forecast_submissions_amount_not_negative")),
        sa.CheckConstraint("length(note) <= 2000", name=op.f("ck_forecast_submissions_note_length")),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipelines.id"], name=op.f("fk_forecast_submissions_pipeline_id")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by"], ["users.id"], name=op.f("fk_forecast_submissions_submitted_by")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_forecast_submissions_team_id")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_forecast_submissions_user_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forecast_submissions")),
        sa.UniqueConstraint(
            "submitted_by",
            "idempotency_key",
            name=op.f("uq_forecast_submissions_submitted_by_idempotency_key"),
        ),
    )
    op.create_index(
        op.f("ix_forecast_submissions_pipeline_id"), "forecast_submissions", ["pipeline_id"], unique=False
    )
    op.create_index(
        "ix_forecast_submissions_team",
        "forecast_submissions",
        ["team_id", "pipeline_id", "period", "submitted_at"],
        unique=False,
    )
    op.create_index(
        "ix_forecast_submissions_user",
        "forecast_submissions",
        ["user_id", "pipeline_id", "period", "submitted_at"],
        unique=False,
    )
    op.create_table(
        "goals",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("team_id", sa.BigInteger(), nullable=True),
        sa.Column("pipeline_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=15, scale=2), nullable=False),
        sa.Column("set_by", sa.BigInteger(), nullable=True),
        sa.Column("set_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("(user_id IS NULL) <> (team_id IS NULL)", name=op.f("ck_goals_one_subject")),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_goals_amount_not_negative")),
        sa.ForeignKeyConstraint(["pipeline_id"], ["pipelines.id"], name=op.f("fk_goals_pipeline_id")),
        sa.ForeignKeyConstraint(["set_by"], ["users.id"], name=op.f("fk_goals_set_by")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_goals_team_id")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_goals_user_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goals")),
    )
    op.create_index(op.f("ix_goals_pipeline_id"), "goals", ["pipeline_id"], unique=False)
    op.create_index(op.f("ix_goals_set_by"), "goals", ["set_by"], unique=False)
    op.create_index("ix_goals_team", "goals", ["team_id", "pipeline_id", "period", "set_at"], unique=False)
    op.create_index("ix_goals_user", "goals", ["user_id", "pipeline_id", "period", "set_at"], unique=False)
    op.create_table(
        "stages",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("pipeline_id", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("display_order", sa.Integer(), nullable=False),
        sa.Column("probability", sa.Numeric(precision=5, scale=4), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("forecast_category", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "forecast_category IN ('NOT_FORECASTED', 'PIPELINE', 'BEST_CASE', 'COMMIT', 'CLOSED_WON')",
            name=op.f("ck_stages_forecast_category"),
        ),
        sa.CheckConstraint("state IN ('OPEN', 'WON', 'LOST')", name=op.f("ck_stages_state")),
        sa.CheckConstraint("length(label) BETWEEN 1 AND 200", name=op.f("ck_stages_label_length")),
        sa.CheckConstraint("probability BETWEEN 0 AND 1", name=op.f("ck_stages_probability")),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipelines.id"], name=op.f("fk_stages_pipeline_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stages")),
        sa.UniqueConstraint("pipeline_id", "display_order", name=op.f("uq_stages_pipeline_id_display_order")),
    )
    op.create_table(
        "team_memberships",
        sa.Column("team_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.Text(), server_default="MEMBER", nullable=False),
        sa.Column("is_primary", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.CheckConstraint("role IN ('MEMBER', 'MANAGER')", name=op.f("ck_team_memberships_role")),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_team_memberships_team_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_team_memberships_user_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_team_memberships")),
    )
    op.create_index(op.f("ix_team_memberships_user_id"), "team_memberships", ["user_id"], unique=False)
    op.create_index(
        "uq_team_memberships_primary",
        "team_memberships",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("is_primary"),
    )
    op.create_table(
        "user_preferences",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "deal_columns", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_preferences_user_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_preferences")),
    )
    op.create_table(
        "deals",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=True),
        sa.Column("pipeline_id", sa.BigInteger(), nullable=False),
        sa.Column("stage_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=15, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("frozen_rate", sa.Numeric(precision=20, scale=10), nullable=True),
        sa.Column("close_date", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("forecast_category", sa.Text(), nullable=True),
        sa.Column("probability", sa.Numeric(precision=5, scale=4), nullable=True),
        sa.Column("next_step", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_deals_currency_code")),
        sa.CheckConstraint(
            "forecast_category IN ('NOT_FORECASTED', 'PIPELINE', 'BEST_CASE', 'COMMIT', 'CLOSED_WON')",
            name=op.f("ck_deals_forecast_category"),
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_deals_amount_not_negative")),
        sa.CheckConstraint("frozen_rate > 0", name=op.f("ck_deals_frozen_rate_positive")),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 200", name=op.f("ck_deals_name_length")),
        sa.CheckConstraint("probability BETWEEN 0 AND 1", name=op.f("ck_deals_probability")),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_deals_owner_id")),
        sa.ForeignKeyConstraint(["pipeline_id"], ["pipelines.id"], name=op.f("fk_deals_pipeline_id")),
        sa.ForeignKeyConstraint(["stage_id"], ["stages.id"], name=op.f("fk_deals_stage_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deals")),
    )
    op.create_index("ix_deals_owner_close", "deals", ["owner_id", "close_date"], unique=False)
    op.create_index("ix_deals_owner_id", "deals", ["owner_id", "id"], unique=False)
    op.create_index(
        "ix_deals_pipeline_close",
        "deals",
        ["pipeline_id", "close_date", "owner_id", "stage_id"],
        unique=False,
    )
    op.create_index(op.f("ix_deals_stage_id"), "deals", ["stage_id"], unique=False)
    op.create_table(
        "deal_changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("deal_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False
        ),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("field", sa.Text(), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_deal_changes_actor_id")),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_deal_changes_deal_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deal_changes")),
    )
    op.create_index(op.f("ix_deal_changes_actor_id"), "deal_changes", ["actor_id"], unique=False)
    op.create_index("ix_deal_changes_deal", "deal_changes", ["deal_id", "id"], unique=False)

    op.execute("INSERT INTO company_settings (id) VALUES (1)")
    op.bulk_insert(sa.table("roles", sa.column("name")), [{"name": role} for role in DEFAULT_POLICIES])
    op.bulk_insert(
        sa.table("casbin_rule", *(sa.column(c) for c in ("ptype", "v0", "v1", "v2", "v3", "v4"))),
        [
            {"ptype": "p", "v0": role, "v1": resource, "v2": action, "v3": scope, "v4": unassigned}
            for role, grants in DEFAULT_POLICIES.items()
            for resource, action, scope, unassigned in grants
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_deal_changes_deal", table_name="deal_changes")
    op.drop_index(op.f("ix_deal_changes_actor_id"), table_name="deal_changes")
    op.drop_table("deal_changes")
    op.drop_index(op.f("ix_deals_stage_id"), table_name="deals")
    op.drop_index("ix_deals_pipeline_close", table_name="deals")
    op.drop_index("ix_deals_owner_id", table_name="deals")
    op.drop_index("ix_deals_owner_close", table_name="deals")
    op.drop_table("deals")
    op.drop_table("user_preferences")
    op.drop_index(
        "uq_team_memberships_primary", table_name="team_memberships", postgresql_where=sa.text("is_primary")
    )
    op.drop_index(op.f("ix_team_memberships_user_id"), table_name="team_memberships")
    op.drop_table("team_memberships")
    op.drop_table("stages")
    op.drop_index("ix_goals_user", table_name="goals")
    op.drop_index("ix_goals_team", table_name="goals")
    op.drop_index(op.f("ix_goals_set_by"), table_name="goals")
    op.drop_index(op.f("ix_goals_pipeline_id"), table_name="goals")
    op.drop_table("goals")
    op.drop_index("ix_forecast_submissions_user", table_name="forecast_submissions")
    op.drop_index("ix_forecast_submissions_team", table_name="forecast_submissions")
    op.drop_index(op.f("ix_forecast_submissions_pipeline_id"), table_name="forecast_submissions")
    op.drop_table("forecast_submissions")
    op.drop_index(op.f("ix_audit_log_actor_id"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("uq_users_email_lower", table_name="users")
    op.drop_table("users")
    op.drop_index(op.f("ix_teams_parent_id"), table_name="teams")
    op.drop_table("teams")
    op.drop_table("pipelines")
    op.drop_table("exchange_rates")
    op.drop_table("roles")
    op.drop_table("company_settings")
    op.drop_table("casbin_rule")
