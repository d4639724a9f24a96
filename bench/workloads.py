"""What the benchmark sends: GraphQL workloads, and the hand-written SQL floors for two of them."""

from datetime import date

from db.periods import Period

DASHBOARD = """query($period: Period!) { teams(first: 20) { totalCount edges { node { name members(first: 20) {
  edges { node { name deals(first: 20, filter: {period: $period}) { totalCount edges { node { name amount
  stage { label } owner { name } } } } } } } } } } }"""

FORECAST = """query($p: ID!, $period: Period!, $t: ID) { forecast(pipelineId: $p, period: $period, teamId: $t) {
  summary { goal closedWon gap total pipelineValue categories { category amount count } submissionsTotal }
  teams { subject { ... on Team { name } } goal closedWon total dealCount restricted }
  users { subject { ... on User { name } } goal closedWon total dealCount submission { amount } restricted } } }"""

HOME = """query($p: ID!, $period: Period!) { viewer { name forecast(pipelineId: $p, period: $period) { goal closedWon
  total gap submission { amount } } deals(first: 20, filter: {period: $period, pipelineId: $p}) { totalCount
  edges { node { name amount stage { label } forecastCategory } } } } }"""

SUBMIT = """mutation($i: SubmitForecastInput!) { submitForecast(input: $i) { id } }"""

# The dashboard shape side by side with PostGraphile v5 (bench/peer): 20 teams by name × 20 members × their
# first 20 deals by close date, with stage and owner. Both return the same teams, the same number of
# members per team and of deals per member; PostGraphile lists a team's members through its memberships
# in key order (it has no name order across the join), Pipecast by name.
PEER_PIPECAST = """{ teams(first: 20) { totalCount edges { node { name members(first: 20) { edges { node { name
  deals(first: 20) { totalCount edges { node { name amount stage { label } owner { name } } } } } } } } } } }"""
PEER_POSTGRAPHILE = """{ allTeams(first: 20, orderBy: [NAME_ASC, PRIMARY_KEY_ASC]) { totalCount nodes { name
  teamMembershipsByTeamId(first: 20) { nodes { userByUserId { name dealsByOwnerId(first: 20,
  orderBy: [CLOSE_DATE_ASC, PRIMARY_KEY_ASC]) { totalCount nodes { name amount stageByStageId { label }
  userByOwnerId { name } } } } } } } } }"""


def quarter(today: date | None = None) -> Period:
    from db.periods import period_containing  # noqa: PLC0415

    return period_containing(today or date.today(), "QUARTER")


# The floor of the dashboard: the same teams, members and deals (within the manager's TEAM reach) as one
# json_agg statement.
DASHBOARD_FLOOR = """
WITH RECURSIVE closure(ancestor, team) AS (
  SELECT id, id FROM teams UNION ALL SELECT c.ancestor, t.id FROM closure c JOIN teams t ON t.parent_id = c.team
), reach AS (
  SELECT array_agg(DISTINCT m2.user_id) || $3::bigint AS ids FROM team_memberships m2 JOIN closure c ON c.team = m2.team_id
  WHERE c.ancestor IN (SELECT team_id FROM team_memberships WHERE user_id = $3)
), page AS (SELECT id, name FROM teams ORDER BY name, id LIMIT 20)
SELECT json_build_object('total', (SELECT count(*) FROM teams), 'teams', (
  SELECT json_agg(json_build_object('name', p.name, 'members', (
    SELECT json_agg(json_build_object('name', u.name,
      'total', (SELECT count(*) FROM deals d WHERE d.owner_id = u.id AND d.close_date BETWEEN $1 AND $2
                AND d.owner_id = ANY((SELECT ids FROM reach)::bigint[])),
      'deals', (SELECT json_agg(json_build_object('name', d.name, 'amount', d.amount, 'stage', s.label, 'owner', u.name))
                FROM (SELECT * FROM deals d WHERE d.owner_id = u.id AND d.close_date BETWEEN $1 AND $2
                      AND d.owner_id = ANY((SELECT ids FROM reach)::bigint[]) ORDER BY d.close_date, d.id LIMIT 20) d
                JOIN stages s ON s.id = d.stage_id)))
    FROM (SELECT u.id, u.name FROM users u WHERE u.id IN (SELECT user_id FROM team_memberships WHERE team_id = p.id)
          ORDER BY u.name, u.id LIMIT 20) u))) FROM page p))
"""

# The floor of the forecast table: per-user and per-team grouped sums by category and state, for the
# root team's tree, as one statement.
FORECAST_FLOOR = """
WITH RECURSIVE closure(ancestor, team) AS (
  SELECT id, id FROM teams UNION ALL SELECT c.ancestor, t.id FROM closure c JOIN teams t ON t.parent_id = c.team
), rate AS (
  SELECT DISTINCT ON (currency) currency, rate FROM exchange_rates WHERE valid_from <= current_date
  ORDER BY currency, valid_from DESC
), scoped AS (
  SELECT d.owner_id, m.team_id,
         CASE s.state WHEN 'WON' THEN 'CLOSED_WON' WHEN 'LOST' THEN 'NOT_FORECASTED'
              ELSE coalesce(d.forecast_category, s.forecast_category) END AS category, s.state,
         d.amount * coalesce(d.frozen_rate, CASE WHEN d.currency = cs.currency THEN 1 ELSE r.rate END) AS amount_c,
         coalesce(d.probability, s.probability) AS probability
  FROM deals d JOIN stages s ON s.id = d.stage_id
  JOIN users u ON u.id = d.owner_id AND u.sales_seat
  JOIN team_memberships m ON m.user_id = u.id AND m.is_primary
  CROSS JOIN company_settings cs LEFT JOIN rate r ON r.currency = d.currency
  WHERE d.pipeline_id = $1 AND d.close_date BETWEEN $2 AND $3
), per_user AS (
  SELECT owner_id, team_id, category, state, count(*) AS n, sum(amount_c) AS c, sum(amount_c * probability) AS w
  FROM scoped GROUP BY owner_id, team_id, category, state
)
SELECT json_build_object(
  'users', (SELECT json_agg(x) FROM (SELECT owner_id, category, state, n, c, w FROM per_user pu
            JOIN closure cl ON cl.team = pu.team_id WHERE cl.ancestor = $4) x),
  'teams', (SELECT json_agg(y) FROM (SELECT cl.ancestor, category, state, sum(n) n, sum(c) c, sum(w) w
            FROM per_user pu JOIN closure cl ON cl.team = pu.team_id
            WHERE cl.ancestor IN (SELECT id FROM teams WHERE parent_id = $4 OR id = $4)
            GROUP BY cl.ancestor, category, state) y),
  'goals', (SELECT json_agg(g) FROM (SELECT DISTINCT ON (user_id) user_id, amount FROM goals
            WHERE pipeline_id = $1 AND period = $5 AND user_id IS NOT NULL ORDER BY user_id, set_at DESC) g))
"""
