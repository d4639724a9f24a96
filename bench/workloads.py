"""What the benchmark sends: GraphQL workloads, and the hand-written SQL floors for two of them."""

from datetime import date

from db.periods import Period

DASHBOARD = """query($period: Period!) { teams(first: 20) { totalCount edges { node { name members(first: 20) {
  edges { node { name deals(first: 20, filter: {period: $period}) { totalCount edges { node { name amount
  stage { label } owner { name } } } } } } } } } } }"""

FORECAST = """query($p: ID!, $period: Period!, $t: ID) { forecast(pipelineId: $p, period: $period, teamId: $t) {
  summary { goal closedWon gap total pipelineValue categories { category amount count } submissionsTotal call }
  teams { subject { ... on Team { name } } goal closedWon total dealCount restricted adjustment { amount } call }
  users { subject { ... on User { name } } goal closedWon total dealCount submission { amount } restricted
  adjustment { amount } call } } }"""

# The same table with every row's prediction (the target: at most twice the table without).
FORECAST_PREDICTED = """query($p: ID!, $period: Period!, $t: ID) { forecast(pipelineId: $p, period: $period, teamId: $t) {
  summary { goal closedWon gap total pipelineValue categories { category amount count } submissionsTotal call
  prediction { p10 p50 p90 expected openDeals basis } }
  teams { subject { ... on Team { name } } goal closedWon total dealCount restricted adjustment { amount } call
  prediction { p10 p50 p90 } }
  users { subject { ... on User { name } } goal closedWon total dealCount submission { amount } restricted
  adjustment { amount } call prediction { p10 p50 p90 } } } }"""

HOME = """query($p: ID!, $period: Period!) { viewer { name forecast(pipelineId: $p, period: $period) { goal closedWon
  total gap submission { amount } } deals(first: 20, filter: {period: $period, pipelineId: $p}) { totalCount
  edges { node { name amount stage { label } forecastCategory } } } } }"""

WATERFALL = """query($s: SubjectInput!, $p: ID!, $period: Period!, $from: DateTime!, $to: DateTime!) {
  forecastChanges(subject: $s, pipelineId: $p, period: $period, from: $from, to: $to) { startTotal endTotal
  steps { kind amount dealCount deals(first: 20) { edges { node { name amount } } } } } }"""

TREND = """query($s: SubjectInput!, $p: ID!, $period: Period!) {
  forecastTrend(subject: $s, pipelineId: $p, period: $period, points: 13) { at total closedWon pipelineValue call } }"""

SUBMIT = """mutation($i: SubmitForecastInput!) { submitForecast(input: $i) { id } }"""

UPDATE_DEAL = """mutation($i: UpdateDealInput!) { updateDeal(input: $i) { id amount } }"""

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

# The floor of the forecast table: the root team's users' and sub-teams' figures from the rollups' quarter
# bucket (deal counts, amounts and weighted amounts per category, converted at today's rates) and the
# users' latest goals, as one hand-written statement.
_CODE = "((ascii(substr({0}, 1, 1)) - 64) * 729 + (ascii(substr({0}, 2, 1)) - 64) * 27 + ascii(substr({0}, 3, 1)) - 64)"
_MEASURES = ", ".join(
    f"sum(r.{kind}_{category}{'' if kind == 'deals' else ' * rates.rate'}) AS {kind}_{category}"
    for category in ("not_forecasted", "pipeline", "best_case", "commit", "closed_won")
    for kind in ("deals", "amount", "weighted")
)
FORECAST_FLOOR = f"""
WITH RECURSIVE closure(ancestor, team) AS (
  SELECT id, id FROM teams UNION ALL SELECT c.ancestor, t.id FROM closure c JOIN teams t ON t.parent_id = c.team
), rates(code, rate) AS (
  SELECT 0, 1::numeric
  UNION ALL SELECT {_CODE.format("cs.currency")}, 1 FROM company_settings cs
  UNION ALL SELECT {_CODE.format("r.currency")}, r.rate FROM company_settings cs, (
    SELECT DISTINCT ON (currency) currency, rate FROM exchange_rates WHERE valid_from <= current_date
    ORDER BY currency, valid_from DESC) r WHERE r.currency <> cs.currency
), per_user AS (
  SELECT r.owner_id, {_MEASURES}, sum(r.open_amount * rates.rate) AS open_amount
  FROM deal_rollups r LEFT JOIN rates ON rates.code = r.currency
  WHERE r.pipeline_id = $1 AND r.span = $2 AND r.month = $3 GROUP BY r.owner_id
), members AS (
  SELECT cl.ancestor, u.id FROM users u JOIN team_memberships m ON m.user_id = u.id AND m.is_primary
  JOIN closure cl ON cl.team = m.team_id
  WHERE u.sales_seat AND cl.ancestor IN (SELECT id FROM teams WHERE parent_id = $4 OR id = $4)
)
SELECT json_build_object(
  'users', (SELECT json_agg(p) FROM per_user p JOIN members mm ON mm.id = p.owner_id AND mm.ancestor = $4),
  'teams', (SELECT json_agg(t) FROM (SELECT mm.ancestor, sum(p.amount_closed_won) AS closed_won,
            sum(p.amount_commit) AS commit, sum(p.deals_pipeline) AS deals
            FROM per_user p JOIN members mm ON mm.id = p.owner_id GROUP BY mm.ancestor) t),
  'goals', (SELECT json_agg(g) FROM (SELECT DISTINCT ON (user_id) user_id, amount FROM goals
            WHERE pipeline_id = $1 AND period = $5 AND user_id IS NOT NULL ORDER BY user_id, set_at DESC) g))
"""
