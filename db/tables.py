"""The whole data model of docs/domain.md as SQLAlchemy Core tables.

The Alembic revisions in `db/migrations` create exactly these tables; a test compares the two.
Money is NUMERIC(15, 2) (amounts below 10^13 with cents), rates NUMERIC(20, 10), probabilities
NUMERIC(5, 4). Enumerations are text with CHECK constraints so that a new value is a cheap migration.
History tables (deal_changes, goals, forecast_submissions, audit_log) are append-only; deal_versions
only ever closes its current rows and appends new ones.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from db.vocabulary import AMOUNT_BASES, FORECAST_CATEGORIES, MEMBERSHIP_ROLES, PERIOD_KINDS, STAGE_STATES

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

MONEY = Numeric(15, 2)
RATE = Numeric(20, 10)
PROBABILITY = Numeric(5, 4)


def rollup_measure(kind: str, category: str) -> str:
    """The deal_rollups column of one category's `kind` of figure: deals, amount or weighted."""
    return f"{kind}_{category.lower()}"


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _created() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


company_settings = Table(
    "company_settings",
    metadata,
    Column("id", SmallInteger, primary_key=True, server_default=text("1")),
    Column("currency", String(3), nullable=False, server_default="USD"),
    Column("fiscal_year_start_month", SmallInteger, nullable=False, server_default=text("1")),
    CheckConstraint("id = 1", name="single_row"),
    CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_code"),
    CheckConstraint("fiscal_year_start_month BETWEEN 1 AND 12", name="fiscal_month"),
)

users = Table(
    "users",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("name", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("sales_seat", Boolean, nullable=False, server_default=text("false")),
    _created(),
    CheckConstraint("length(name) BETWEEN 1 AND 200", name="name_length"),
    Index("uq_users_email_lower", func.lower(text("email")), unique=True),
)

teams = Table(
    "teams",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("name", Text, nullable=False),
    Column("parent_id", BigInteger, ForeignKey("teams.id"), index=True),
    _created(),
    CheckConstraint("length(name) BETWEEN 1 AND 200", name="name_length"),
    CheckConstraint("parent_id IS DISTINCT FROM id", name="not_own_parent"),
)

team_memberships = Table(
    "team_memberships",
    metadata,
    Column("team_id", BigInteger, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
    Column("role", Text, nullable=False, server_default="MEMBER"),
    Column("is_primary", Boolean, nullable=False, server_default=text("false")),
    CheckConstraint(_one_of("role", MEMBERSHIP_ROLES), name="role"),
    # At most one primary team per user.
    Index("uq_team_memberships_primary", "user_id", unique=True, postgresql_where=text("is_primary")),
)

pipelines = Table(
    "pipelines",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("name", Text, nullable=False),
    Column("period_kind", Text, nullable=False, server_default="QUARTER"),
    Column("forecast_amount", Text, nullable=False, server_default="WEIGHTED"),
    _created(),
    CheckConstraint("length(name) BETWEEN 1 AND 200", name="name_length"),
    CheckConstraint(_one_of("period_kind", PERIOD_KINDS), name="period_kind"),
    CheckConstraint(_one_of("forecast_amount", AMOUNT_BASES), name="forecast_amount"),
)

stages = Table(
    "stages",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("pipeline_id", BigInteger, ForeignKey("pipelines.id", ondelete="CASCADE"), nullable=False),
    Column("label", Text, nullable=False),
    Column("display_order", Integer, nullable=False),
    Column("probability", PROBABILITY, nullable=False),
    Column("state", Text, nullable=False),
    Column("forecast_category", Text, nullable=False),
    CheckConstraint("length(label) BETWEEN 1 AND 200", name="label_length"),
    CheckConstraint("probability BETWEEN 0 AND 1", name="probability"),
    CheckConstraint(_one_of("state", STAGE_STATES), name="state"),
    CheckConstraint(_one_of("forecast_category", FORECAST_CATEGORIES), name="forecast_category"),
    UniqueConstraint("pipeline_id", "display_order"),
)

deals = Table(
    "deals",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("name", Text, nullable=False),
    Column("owner_id", BigInteger, ForeignKey("users.id")),
    Column("pipeline_id", BigInteger, ForeignKey("pipelines.id"), nullable=False),
    Column("stage_id", BigInteger, ForeignKey("stages.id"), nullable=False, index=True),
    Column("amount", MONEY, nullable=False),
    Column("currency", String(3), nullable=False),
    # The rate in force when the deal entered a WON or LOST stage; NULL while the deal is open.
    Column("frozen_rate", RATE),
    Column("close_date", Date, nullable=False),
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # A category set by hand (NULL: the deal follows its stage's mapping). A WON stage always means
    # CLOSED_WON and a LOST stage NOT_FORECASTED, whatever is stored here; see db.deals.
    Column("forecast_category", Text),
    # A per-deal override of the stage probability.
    Column("probability", PROBABILITY),
    Column("next_step", Text),
    # Optimistic concurrency: every update increments it.
    Column("version", Integer, nullable=False, server_default=text("1")),
    CheckConstraint("length(name) BETWEEN 1 AND 200", name="name_length"),
    CheckConstraint("amount >= 0", name="amount_not_negative"),
    CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_code"),
    CheckConstraint("frozen_rate > 0", name="frozen_rate_positive"),
    CheckConstraint("probability BETWEEN 0 AND 1", name="probability"),
    CheckConstraint(_one_of("forecast_category", FORECAST_CATEGORIES), name="forecast_category"),
    # The forecast aggregate: pipeline and close-date range, then owner and stage without a heap visit.
    Index("ix_deals_pipeline_close", "pipeline_id", "close_date", "owner_id", "stage_id"),
    # A user's deals in a period, and a user's first N deals (keyset on id).
    Index("ix_deals_owner_close", "owner_id", "close_date"),
    Index("ix_deals_owner_id", "owner_id", "id"),
)

# The forecast's figures per owner, period bucket (a close month, and a fiscal quarter) and open currency,
# pivoted by forecast category, kept in the writers' transactions (db/rollups.py). Keys hold no NULLs:
# owner 0 is "no owner"; currency is db.rollups.currency_code's number of the ISO code, 0 "frozen, already
# in the company currency". Sums are unconstrained NUMERIC, so they stay exact.
deal_rollups = Table(
    "deal_rollups",
    metadata,
    Column("pipeline_id", BigInteger, primary_key=True),
    Column("span", SmallInteger, primary_key=True),  # 1: the calendar month; 3: the fiscal quarter
    Column("month", Date, primary_key=True),  # the bucket's first month
    Column("owner_id", BigInteger, primary_key=True),
    Column("currency", SmallInteger, primary_key=True),
    *(
        Column(rollup_measure(kind, category), Integer if kind == "deals" else Numeric, nullable=False)
        for category in FORECAST_CATEGORIES
        for kind in ("deals", "amount", "weighted")
    ),
    Column("open_amount", Numeric, nullable=False),
)

# The open deals' amounts per stage (db/stage_rollups.py): what a prediction's moments are
# summed from (docs/prediction.md), by close month and fiscal quarter as the deal rollups. Amounts in the
# deal's currency (open deals' rates are read through).
stage_rollups = Table(
    "stage_rollups",
    metadata,
    Column("pipeline_id", BigInteger, primary_key=True),
    Column("span", SmallInteger, primary_key=True),  # 1: the calendar month; 3: the fiscal quarter
    Column("month", Date, primary_key=True),  # the bucket's first month
    Column("owner_id", BigInteger, primary_key=True),
    Column("currency", SmallInteger, primary_key=True),
    Column("stage_id", BigInteger, primary_key=True),
    Column("deals", Integer, nullable=False),
    Column("amount", Numeric, nullable=False),
    Column("squares", Numeric, nullable=False),
    Column("cubes", Numeric, nullable=False),
)

deal_changes = Table(
    "deal_changes",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("deal_id", BigInteger, ForeignKey("deals.id", ondelete="CASCADE"), nullable=False),
    # The moment of the write (not of the transaction's start), so concurrent changes read in order.
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
    Column("actor_id", BigInteger, ForeignKey("users.id"), index=True),
    Column("field", Text, nullable=False),
    Column("old_value", Text),
    Column("new_value", Text),
    # Ids are taken while the deal's row lock is held, so they follow the order the changes were made in.
    Index("ix_deal_changes_deal", "deal_id", "id"),
)

# Every deal's state through time (docs/domain.md, "History"): one row per version of the fields a
# forecast reads, valid from `valid_from` until `valid_to` (infinity: the deal as it is now), kept by
# triggers on deals in the writer's transaction (db/history.py). Column names are the deals' own, so one
# definition of what a deal adds to a forecast (db.rollups) reads both.
deal_versions = Table(
    "deal_versions",
    metadata,
    Column("deal_id", BigInteger, ForeignKey("deals.id", ondelete="CASCADE"), primary_key=True),
    Column("valid_from", DateTime(timezone=True), primary_key=True),
    Column("valid_to", DateTime(timezone=True), nullable=False, server_default=text("'infinity'")),
    Column("pipeline_id", BigInteger, nullable=False),
    Column("owner_id", BigInteger),
    Column("stage_id", BigInteger, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("frozen_rate", RATE),
    Column("close_date", Date, nullable=False),
    Column("forecast_category", Text),
    Column("probability", PROBABILITY),
    # A subject's deals in a period as of a moment; and the versions that began, or ended, after one.
    Index("ix_deal_versions_pipeline_owner_close", "pipeline_id", "owner_id", "close_date"),
    Index("ix_deal_versions_pipeline_valid_from", "pipeline_id", "valid_from"),
    Index("ix_deal_versions_pipeline_valid_to", "pipeline_id", "valid_to"),
)

exchange_rates = Table(
    "exchange_rates",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("currency", String(3), nullable=False),
    # amount in `currency` × rate = amount in the company currency
    Column("rate", RATE, nullable=False),
    Column("valid_from", Date, nullable=False),
    _created(),
    CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_code"),
    CheckConstraint("rate > 0", name="rate_positive"),
    UniqueConstraint("currency", "valid_from"),
)

goals = Table(
    "goals",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id")),
    Column("team_id", BigInteger, ForeignKey("teams.id")),
    Column("pipeline_id", BigInteger, ForeignKey("pipelines.id"), nullable=False, index=True),
    # The period key as written at the API ('2026-11' or '2026-Q4'): it keeps its kind, so switching a
    # pipeline's period kind never loses a goal.
    Column("period", Text, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("set_by", BigInteger, ForeignKey("users.id"), index=True),
    Column("set_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("(user_id IS NULL) <> (team_id IS NULL)", name="one_subject"),
    CheckConstraint("amount >= 0", name="amount_not_negative"),
    Index("ix_goals_user", "user_id", "pipeline_id", "period", "set_at"),
    Index("ix_goals_team", "team_id", "pipeline_id", "period", "set_at"),
)

forecast_submissions = Table(
    "forecast_submissions",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id")),
    Column("team_id", BigInteger, ForeignKey("teams.id")),
    Column("pipeline_id", BigInteger, ForeignKey("pipelines.id"), nullable=False, index=True),
    Column("period", Text, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("note", Text),
    Column("submitted_by", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("idempotency_key", Text),
    CheckConstraint("(user_id IS NULL) <> (team_id IS NULL)", name="one_subject"),
    CheckConstraint("amount >= 0", name="amount_not_negative"),
    CheckConstraint("length(note) <= 2000", name="note_length"),
    UniqueConstraint("submitted_by", "idempotency_key"),
    Index("ix_forecast_submissions_user", "user_id", "pipeline_id", "period", "submitted_at"),
    Index("ix_forecast_submissions_team", "team_id", "pipeline_id", "period", "submitted_at"),
)

# A manager's judgment of a subject's forecast (docs/domain.md, "The call"): append-only, the latest in
# force; an entry without an amount clears it.
forecast_adjustments = Table(
    "forecast_adjustments",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id")),
    Column("team_id", BigInteger, ForeignKey("teams.id")),
    Column("pipeline_id", BigInteger, ForeignKey("pipelines.id"), nullable=False, index=True),
    Column("period", Text, nullable=False),
    Column("amount", MONEY),
    Column("note", Text, nullable=False),
    Column("adjusted_by", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("adjusted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("idempotency_key", Text),
    CheckConstraint("(user_id IS NULL) <> (team_id IS NULL)", name="one_subject"),
    CheckConstraint("amount >= 0", name="amount_not_negative"),
    CheckConstraint("length(note) BETWEEN 1 AND 2000", name="note_length"),
    UniqueConstraint("adjusted_by", "idempotency_key"),
    Index("ix_forecast_adjustments_user", "user_id", "pipeline_id", "period", "adjusted_at"),
    Index("ix_forecast_adjustments_team", "team_id", "pipeline_id", "period", "adjusted_at"),
)

user_preferences = Table(
    "user_preferences",
    metadata,
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("deal_columns", ARRAY(Text), nullable=False, server_default=text("'{}'")),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("actor_id", BigInteger, ForeignKey("users.id"), index=True),
    Column("action", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("details", JSONB),
)

# Role names (policies and assignments live in casbin_rule; a role may exist with neither yet).
roles = Table(
    "roles",
    metadata,
    Column("name", Text, primary_key=True),
    _created(),
    CheckConstraint("name ~ '^[a-z][a-z0-9_]{0,62}$'", name="name_format"),
)

# The Casbin policy table, in the layout of the async SQLAlchemy adapter (ptype, v0..v5), with the
# uniqueness and the lookup index the stock table lacks.
casbin_rule = Table(
    "casbin_rule",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("ptype", String(255), nullable=False),
    Column("v0", String(255), nullable=False, server_default=""),
    Column("v1", String(255), nullable=False, server_default=""),
    Column("v2", String(255), nullable=False, server_default=""),
    Column("v3", String(255), nullable=False, server_default=""),
    Column("v4", String(255), nullable=False, server_default=""),
    Column("v5", String(255), nullable=False, server_default=""),
    UniqueConstraint("ptype", "v0", "v1", "v2", "v3", "v4", "v5"),
    CheckConstraint("strpos(v0 || v1 || v2 || v3 || v4 || v5, ', ') = 0", name="no_comma_space"),
)
