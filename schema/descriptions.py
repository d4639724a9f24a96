"""Descriptions for what is not described where it is declared: the arguments and fields every list
shares (pages, cursors, edges), and plain fields whose meaning is short. Applied once to the built schema
(`describe`): a description given at the declaration wins; an entry here naming nothing is an error, so
the catalog cannot outlive a rename. tests/test_schema.py holds that every type, field, argument and enum
value of the served schema has a description."""

from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
)

FIRST = "How many items the page holds: 0–200, 50 when omitted."
AFTER = "A cursor (an edge's `cursor` or `pageInfo.endCursor`): the page starts after that item."
INPUT = "What to write; see the input type's fields."

# By argument name, wherever it appears.
ARGUMENTS = {
    "first": FIRST,
    "after": AFTER,
    "input": INPUT,
    "filter": "Only the deals matching every condition given (and always only those the viewer may see).",
    "orderBy": "The order of the list; CLOSE_DATE_ASC when omitted. Every order ends with the ID.",
    "pipelineId": "The pipeline (a Pipeline ID).",
    "period": 'A period of the pipeline\'s kind: "2026-11" (month) or "2026-Q4" (fiscal quarter).',
    "from": "The first day of the range (inclusive).",
    "to": "The last day of the range (inclusive).",
    "subject": "Whose: exactly one of userId and teamId.",
    "userId": "The user (a User ID).",
    "teamId": "The team (a Team ID).",
    "role": "The role's name.",
    "name": "The name.",
    "id": "The object's global ID.",
}

# By field name, on every type whose name ends as given.
SHARED_FIELDS = {
    ("Connection", "edges"): "The page's items, each with its cursor.",
    ("Connection", "pageInfo"): "Where the page is in the list: whether there is more, and its cursors.",
    ("Edge", "cursor"): "This item's place in the list, for `after`.",
    ("Edge", "node"): "The item.",
}

DESCRIPTIONS = {
    # Types
    "Query": "Everything a signed-in user can read; what they may not see is absent, as if missing.",
    "Mutation": "Every change; a refused change writes nothing, and each is in one transaction.",
    "ForecastSubject": "Whom a forecast row, goal or submission is about: a user or a team.",
    # Users, teams, memberships
    "User.name": "The person's name.",
    "User.email": "Their email address (unique, case-insensitively).",
    "Team.name": "The team's name.",
    "TeamMembership.team": "The team.",
    "TeamMembership.user": "The member.",
    "Role.name": "The role's name (admin, sales_manager, sales_rep, or one an admin made).",
    "Role.members(first)": FIRST,
    "Permission.resource": "What the permission is about: deal, forecast, goal, directory or permissions.",
    "Permission.action": "What it allows: view, edit, settings or manage.",
    "Permission.scope": "How far it reaches.",
    "User.goals(from)": "The first period to list (of the pipeline's kind); from the earliest when omitted.",
    "User.goals(to)": "The last period to list (of the pipeline's kind); to the latest when omitted.",
    "Team.goals(from)": "The first period to list (of the pipeline's kind); from the earliest when omitted.",
    "Team.goals(to)": "The last period to list (of the pipeline's kind); to the latest when omitted.",
    "User.submissions(period)": "Only the submissions for this period; all of them when omitted.",
    "Team.members(includeDescendants)": "Also the members of the teams below (each listed once).",
    "Query.users(search)": "Only users whose name or email contains this text (case-insensitive).",
    "Query.users(teamId)": "Only the direct members (primary or extra) of this team.",
    "Query.users(withoutTeam)": "Only users who belong to no team.",
    "Query.teams(rootsOnly)": "Only the teams without a parent.",
    "Query.forecastSubmissions(period)": "Only the submissions for this period; all of them when omitted.",
    "Query.node(id)": "Any object's global ID; null when it does not exist or the viewer may not see it.",
    "Mutation.removeTeamMembership(teamId)": "The team.",
    "Mutation.removeTeamMembership(userId)": "The member to remove from it.",
    "Mutation.setDealColumns(columns)": "The deal columns to show, in order (see the README for the names).",
    "Mutation.createRole(name)": "The new role's name: lowercase letters, digits and underscores.",
    "Mutation.assignRole(role)": "The role's name.",
    "Mutation.unassignRole(role)": "The role's name.",
    # Pages
    "PageInfo.hasNextPage": "Whether items follow this page.",
    "PageInfo.hasPreviousPage": "Whether the page started after a cursor (items precede it).",
    "PageInfo.startCursor": "The first item's cursor; null for an empty page.",
    "PageInfo.endCursor": "The last item's cursor (`after` for the next page); null for an empty page.",
    # Pipelines and settings
    "Pipeline.name": "The pipeline's name.",
    "Pipeline.periodKind": "Whether it forecasts by month or by fiscal quarter.",
    "Pipeline.forecastAmount": "Whether the forecast's category amounts and total are weighted or raw.",
    "Stage.label": "The stage's name.",
    "Stage.displayOrder": "Its place in the pipeline, from 1.",
    "Stage.state": "Open, won or lost.",
    "PeriodInfo.kind": "Month or fiscal quarter.",
    "ExchangeRate.currency": "The ISO 4217 code of the currency.",
    "ExchangeRate.rate": "Company-currency units for one unit of the currency.",
    "ExchangeRate.validFrom": "The first day the rate is in force (until a later row's validFrom).",
    # Deals
    "Deal.name": "The deal's name.",
    "Deal.currency": "The ISO 4217 code of `amount`.",
    "Deal.forecastCategory": "Its category: its stage's mapping, or one set by hand.",
    "Deal.closeDate": "When it is expected to close (or closed).",
    "Deal.createdAt": "When it was created.",
    "Deal.updatedAt": "When it last changed.",
    "Deal.nextStep": "What happens next, as the owner or a manager wrote it.",
    "Deal.owner": "Who owns it; null when unassigned.",
    "Deal.pipeline": "The pipeline it is in.",
    "Deal.stage": "Its stage.",
    "DealChange.at": "When the change was made.",
    "DealFilter.pipelineId": "Only deals in this pipeline.",
    "DealFilter.closeDateFrom": "Only deals closing on or after this day.",
    "DealFilter.closeDateTo": "Only deals closing on or before this day.",
    "DealFilter.stageIds": "Only deals in one of these stages.",
    "DealFilter.forecastCategories": "Only deals in one of these categories.",
    "DealFilter.ownerIds": "Only deals owned by one of these users.",
    "DealFilter.state": "Only deals whose stage is in this state.",
    # Enum values
    "PeriodKind.MONTH": "A calendar month, written 2026-11.",
    "PeriodKind.QUARTER": "A fiscal quarter (following the company's fiscal year), written 2026-Q4.",
    "WaterfallStepKind.NEW": "Deals created since the start moment.",
    "WaterfallStepKind.PULLED_IN": "Deals whose close date moved into the period.",
    "WaterfallStepKind.PUSHED_OUT": "Deals whose close date moved out of the period.",
    "WaterfallStepKind.WON": "Deals that moved into a WON stage.",
    "WaterfallStepKind.LOST": "Deals that moved into a LOST stage.",
    "WaterfallStepKind.CATEGORY_IN": "Deals that moved into a category counted in the total.",
    "WaterfallStepKind.CATEGORY_OUT": "Deals that moved out of the categories counted in the total.",
    "WaterfallStepKind.REASSIGNED": "Deals whose new owner moved them into or out of the subject.",
    "WaterfallStepKind.INCREASED": "Forecast amount up in the deal's own currency (amount or probability).",
    "WaterfallStepKind.DECREASED": "Forecast amount down in the deal's own currency (amount or probability).",
    "WaterfallStepKind.RATE": "Deals that only an exchange-rate change moved.",
    "ForecastCategory.NOT_FORECASTED": "Not expected to close in the period; lost deals are here too.",
    "ForecastCategory.PIPELINE": "Early: might close in the period.",
    "ForecastCategory.BEST_CASE": "Likely to close if things go well.",
    "ForecastCategory.COMMIT": "Committed: the rep expects it to close.",
    "ForecastCategory.CLOSED_WON": "Won: in a WON stage (set by the stage).",
    "StageState.OPEN": "The deal is still being worked.",
    "StageState.WON": "Closed won: its deals are CLOSED_WON.",
    "StageState.LOST": "Closed lost: its deals are NOT_FORECASTED.",
    "ForecastAmountBasis.WEIGHTED": "Amount in company currency × probability (closed won stays raw).",
    "ForecastAmountBasis.RAW": "Amount in company currency, as is.",
    "MembershipRole.MEMBER": "Belongs to the team.",
    "StageMovement.FORWARD": "Its stage at the end is later in the pipeline.",
    "StageMovement.BACKWARD": "Its stage at the end is earlier in the pipeline.",
    "StageMovement.NONE": "Same stage, or the deal was created inside the range (no start to compare).",
    "AmountChange.INCREASED": "Higher at the end than at the start.",
    "AmountChange.DECREASED": "Lower at the end than at the start.",
    "AmountChange.NONE": "Unchanged, or the deal was created inside the range (no start to compare).",
    "Scope.ALL": "Everyone's records.",
    "Scope.OWN": "The holder's own records.",
    "Scope.NONE": "Nothing: the permission is not held.",
    "DealOrder.CLOSE_DATE_ASC": "Earliest close date first.",
    "DealOrder.CLOSE_DATE_DESC": "Latest close date first.",
    "DealOrder.AMOUNT_ASC": "Smallest amount in company currency first.",
    "DealOrder.AMOUNT_DESC": "Largest amount in company currency first.",
    "DealOrder.NAME_ASC": "By name.",
    "DealOrder.UPDATED_DESC": "Most recently changed first.",
    # Forecast
    "Goal.amount": "The target, in company currency.",
    "Goal.subject": "Whose goal it is.",
    "Goal.pipeline": "The pipeline it is for.",
    "Goal.period": "The period it is for.",
    "ForecastSubmission.amount": "The forecast, in company currency.",
    "ForecastSubmission.note": "What the submitter wrote with it.",
    "ForecastSubmission.submittedAt": "When it was submitted.",
    "ForecastSubmission.subject": "Whose forecast it is.",
    "ForecastSubmission.pipeline": "The pipeline it is for.",
    "ForecastSubmission.period": "The period it is for.",
    "ForecastSubmission.submittedBy": "Who submitted it.",
    "ForecastAdjustment.subject": "Whose forecast it re-judges.",
    "ForecastAdjustment.pipeline": "The pipeline it is for.",
    "ForecastAdjustment.period": "The period it is for.",
    "ForecastAdjustment.adjustedBy": "Who adjusted it.",
    "ForecastAdjustment.adjustedAt": "When it was adjusted.",
    "AdjustForecastInput.subject": "Whose forecast: a user or team below the viewer (never themselves).",
    "AdjustForecastInput.pipelineId": "The pipeline.",
    "AdjustForecastInput.period": "The period (of the pipeline's period kind).",
    "Forecast.pipeline": "The pipeline the table is for.",
    "Forecast.period": "The period the table is for.",
    "AuditEntry.at": "When the change was made.",
    # Inputs
    "SubjectInput.userId": "A user (give this or teamId).",
    "SubjectInput.teamId": "A team (give this or userId).",
    "CreateUserInput.name": "The person's name (1–200 characters).",
    "CreateUserInput.email": "Their email address; unique, case-insensitively.",
    "CreateUserInput.salesSeat": "Whether they hold a sales seat (only sales-seat users have forecast rows).",
    "CreateUserInput.roles": "The roles to give them.",
    "UpdateUserInput.id": "The user.",
    "UpdateUserInput.name": "A new name.",
    "UpdateUserInput.email": "A new email address.",
    "UpdateUserInput.active": "False: they can no longer sign in (their records stay).",
    "UpdateUserInput.salesSeat": "Whether they hold a sales seat.",
    "TeamMembershipInput.teamId": "The team.",
    "TeamMembershipInput.userId": "The user.",
    "TeamMembershipInput.role": "Member or manager.",
    "TeamMembershipInput.primary": "Make it the user's primary team (their previous primary becomes extra).",
    "CreateTeamInput.name": "The team's name.",
    "CreateTeamInput.parentId": "The team it belongs under; a root team when omitted.",
    "UpdateTeamInput.id": "The team.",
    "UpdateTeamInput.name": "A new name.",
    "UpdateTeamInput.parentId": "A new parent (a move that would make a cycle is refused).",
    "CreatePipelineInput.name": "The pipeline's name.",
    "CreatePipelineInput.stages": "Its stages, in order (labels must differ).",
    "StageInput.label": "The stage's name.",
    "StageInput.probability": "The win probability, 0–1 (at most 4 decimals).",
    "StageInput.state": "Open, won or lost.",
    "PipelineSettingsInput.pipelineId": "The pipeline.",
    "PipelineSettingsInput.periodKind": "Month or fiscal quarter (goals and submissions stay).",
    "PipelineSettingsInput.forecastAmount": "Weighted or raw category amounts.",
    "StageMappingInput.stageId": "The stage.",
    "StageMappingInput.forecastCategory": "The category its deals take (open stages only).",
    "StageMappingInput.probability": "Its win probability, 0–1.",
    "CompanySettingsInput.currency": "The company currency (ISO 4217).",
    "CompanySettingsInput.fiscalYearStartMonth": "The month the fiscal year starts in, 1–12.",
    "ExchangeRateInput.currency": "The ISO 4217 code (not the company currency).",
    "ExchangeRateInput.rate": "Company-currency units for one unit of it (positive, up to 10 decimals).",
    "ExchangeRateInput.validFrom": "The first day it is in force; the same day again replaces the rate.",
    "CreateDealInput.name": "The deal's name.",
    "CreateDealInput.pipelineId": "Its pipeline.",
    "CreateDealInput.stageId": "Its stage (of that pipeline).",
    "CreateDealInput.amount": "The amount in `currency`: 0 or more, at most 2 decimals.",
    "CreateDealInput.currency": "The ISO 4217 code; the company currency when omitted.",
    "CreateDealInput.closeDate": "When it is expected to close.",
    "CreateDealInput.ownerId": "Who owns it; unassigned when omitted.",
    "CreateDealInput.probability": "Its own win probability (0–1), overriding the stage's.",
    "CreateDealInput.nextStep": "What happens next.",
    "UpdateDealInput.id": "The deal.",
    "UpdateDealInput.name": "A new name.",
    "UpdateDealInput.stageId": "A new stage (of its pipeline).",
    "UpdateDealInput.amount": "A new amount: 0 or more, at most 2 decimals.",
    "UpdateDealInput.currency": "A new currency (ISO 4217).",
    "UpdateDealInput.closeDate": "A new close date.",
    "UpdateDealInput.ownerId": "A new owner; null unassigns it.",
    "UpdateDealInput.forecastCategory": "A category set by hand, kept across stage changes.",
    "UpdateDealInput.probability": "Its own win probability (0–1); null goes back to the stage's.",
    "UpdateDealInput.nextStep": "What happens next; null clears it.",
    "SubmitForecastInput.pipelineId": "The pipeline.",
    "SubmitForecastInput.period": "The period, of the pipeline's kind.",
    "SubmitForecastInput.amount": "The forecast in company currency: 0 or more, at most 2 decimals.",
    "SubmitForecastInput.note": "A note with it (up to 2,000 characters).",
    "SetGoalInput.subject": "Whose goal: exactly one of userId and teamId.",
    "SetGoalInput.pipelineId": "The pipeline.",
    "SetGoalInput.period": "The period, of the pipeline's kind.",
    "SetGoalInput.amount": "The target in company currency: 0 or more, at most 2 decimals.",
    "SetPermissionInput.resource": "deal, forecast, goal, directory or permissions.",
    "SetPermissionInput.action": "view, edit, settings or manage (as the resource takes them).",
    "SetPermissionInput.scope": "How far it reaches; NONE removes the permission.",
    "SetPermissionInput.unassigned": "For deal permissions: also deals without an owner.",
}


def describe(schema: GraphQLSchema) -> None:
    """Give every undescribed type, field, argument and enum value its description from above."""
    unused = set(DESCRIPTIONS)

    def fill(element: Any, key: str, fallback: str | None = None) -> None:
        unused.discard(key)
        if not element.description:
            element.description = DESCRIPTIONS.get(key) or fallback

    for name, type_ in schema.type_map.items():
        if name.startswith("__"):
            continue
        fill(type_, name)
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for field_name, field in type_.fields.items():
                shared = next(
                    (
                        d
                        for (suffix, f), d in SHARED_FIELDS.items()
                        if f == field_name and name.endswith(suffix)
                    ),
                    None,
                )
                fill(field, f"{name}.{field_name}", shared)
                for argument_name, argument in getattr(field, "args", {}).items():
                    fill(argument, f"{name}.{field_name}({argument_name})", ARGUMENTS.get(argument_name))
        if isinstance(type_, GraphQLEnumType):
            for value_name, value in type_.values.items():
                fill(value, f"{name}.{value_name}")
    if unused:
        raise LookupError(f"schema/descriptions.py describes what the schema does not have: {sorted(unused)}")
