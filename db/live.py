"""What feeds live updates (docs/live.md): triggers NOTIFY the `pipecast_live` channel with IDs only.

- A statement writing deals sends `{"k": "c"|"u"|"d", "d": [deal ids], "p": [pipeline ids]}` (created,
  updated, deleted), in chunks of CHUNK ids; a statement touching more than BULK deals (a seed, a fiscal
  year's re-quartering) sends `{"k": "bulk", "p": [...]}` instead: forecasts refresh, no deal events.
- A statement writing anything else a forecast or a permission depends on sends `{"t": "<table>"}`.

NOTIFY is transactional: nothing is sent for a write that rolls back, and a transaction's identical
payloads are sent once. Every process LISTENs (pipecast.live) and computes each subscriber's payload
itself, with that subscriber's permissions at the time of sending.
"""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import deals

CHANNEL = "pipecast_live"
CHUNK = 400  # ids per notification: well under PostgreSQL's 8,000-byte payload limit
BULK = 20_000
# Tables whose writes may change a forecast table or what a viewer may see.
TOUCHING = (
    "goals",
    "forecast_submissions",
    "forecast_adjustments",
    "company_settings",
    "exchange_rates",
    "team_memberships",
    "teams",
    "users",
    "pipelines",
    "stages",
    "roles",
    "casbin_rule",
)
# Of those, the ones that can change who sees what (a subscriber's access is read again after them).
ACCESS_TABLES = frozenset({"team_memberships", "teams", "users", "roles", "casbin_rule"})
POLICY_TABLES = frozenset({"roles", "casbin_rule"})
DEAL_EVENTS = ("INSERT", "UPDATE", "DELETE")  # kinds c, u and d in the notifications


def install_statements() -> list[str]:
    """The functions and triggers (idempotent: CREATE OR REPLACE, DROP IF EXISTS)."""
    statements = [
        f"""
        CREATE OR REPLACE FUNCTION pipecast_live_deals() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            kind text := CASE TG_OP WHEN 'INSERT' THEN 'c' WHEN 'UPDATE' THEN 'u' ELSE 'd' END;
            ids bigint[];
            pipes bigint[];
            chunk int;
        BEGIN
            IF TG_OP = 'INSERT' THEN
                SELECT array_agg(id ORDER BY id), array_agg(DISTINCT pipeline_id) INTO ids, pipes
                FROM new_deals;
            ELSIF TG_OP = 'DELETE' THEN
                SELECT array_agg(id ORDER BY id), array_agg(DISTINCT pipeline_id) INTO ids, pipes
                FROM old_deals;
            ELSE
                SELECT array_agg(n.id ORDER BY n.id) INTO ids FROM new_deals n;
                SELECT array_agg(DISTINCT p) INTO pipes FROM (
                    SELECT pipeline_id FROM new_deals UNION SELECT pipeline_id FROM old_deals
                ) AS both_(p);
            END IF;
            IF ids IS NULL THEN
                RETURN NULL;
            END IF;
            IF cardinality(ids) > {BULK} THEN
                PERFORM pg_notify('{CHANNEL}', json_build_object('k', 'bulk', 'p', pipes)::text);
                RETURN NULL;
            END IF;
            FOR chunk IN 0 .. (cardinality(ids) - 1) / {CHUNK} LOOP
                PERFORM pg_notify('{CHANNEL}', json_build_object(
                    'k', kind, 'd', ids[chunk * {CHUNK} + 1 : (chunk + 1) * {CHUNK}], 'p', pipes
                )::text);
            END LOOP;
            RETURN NULL;
        END $$
        """,
        f"""
        CREATE OR REPLACE FUNCTION pipecast_live_touch() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', json_build_object('t', TG_TABLE_NAME)::text);
            RETURN NULL;
        END $$
        """,
    ]
    for event in DEAL_EVENTS:
        name = f"live_deals_{event.lower()}"
        transitions = {
            "INSERT": "NEW TABLE AS new_deals",
            "UPDATE": "NEW TABLE AS new_deals OLD TABLE AS old_deals",
            "DELETE": "OLD TABLE AS old_deals",
        }[event]
        statements += [
            f"DROP TRIGGER IF EXISTS {name} ON deals",
            f"CREATE TRIGGER {name} AFTER {event} ON deals REFERENCING {transitions}"
            " FOR EACH STATEMENT EXECUTE FUNCTION pipecast_live_deals()",
        ]
    for table in TOUCHING:
        statements += [
            f"DROP TRIGGER IF EXISTS live_touch ON {table}",
            f"CREATE TRIGGER live_touch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION pipecast_live_touch()",
        ]
    return statements


def uninstall_statements() -> list[str]:
    return [
        *(f"DROP TRIGGER IF EXISTS live_deals_{event.lower()} ON deals" for event in DEAL_EVENTS),
        *(f"DROP TRIGGER IF EXISTS live_touch ON {table}" for table in TOUCHING),
        "DROP FUNCTION IF EXISTS pipecast_live_deals()",
        "DROP FUNCTION IF EXISTS pipecast_live_touch()",
    ]


async def changed_since(conn: AsyncConnection, since: datetime) -> tuple[list[int], list[int]]:
    """The deals (and their pipelines) changed since a moment: what a listener that was away missed."""
    query = select(deals.c.id, deals.c.pipeline_id).where(deals.c.updated_at >= since)
    rows = (await conn.execute(query)).all()
    return [r.id for r in rows], sorted({r.pipeline_id for r in rows})
