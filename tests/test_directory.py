"""Users, teams and memberships over GraphQL: reads, pagination, node(), admin writes and bad input."""

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from db.tables import team_memberships, teams, users
from db.users import create_user
from tests.support import data, error_code, token_for, token_of

CREATE_TEAM = "mutation($input: CreateTeamInput!) { createTeam(input: $input) { id name parent { id } } }"
CREATE_USER = (
    "mutation($input: CreateUserInput!) { createUser(input: $input) { id name email salesSeat roles } }"
)
SET_MEMBERSHIP = """mutation($input: TeamMembershipInput!) {
  setTeamMembership(input: $input) { role primary team { name } user { name } } }"""


async def _team(client: httpx.AsyncClient, token: str, name: str, parent: str | None = None) -> str:
    result = await data(client, CREATE_TEAM, {"input": {"name": name, "parentId": parent}}, token=token)
    return str(result["createTeam"]["id"])


async def _user(client: httpx.AsyncClient, token: str, name: str, email: str, **extra: Any) -> str:
    result = await data(client, CREATE_USER, {"input": {"name": name, "email": email, **extra}}, token=token)
    return str(result["createUser"]["id"])


async def _member(
    client: httpx.AsyncClient, token: str, team: str, user: str, role: str, primary: bool
) -> None:
    variables = {"input": {"teamId": team, "userId": user, "role": role, "primary": primary}}
    await data(client, SET_MEMBERSHIP, variables, token=token)


@pytest.fixture(scope="module")
async def org(client: httpx.AsyncClient, admin: int) -> dict[str, str]:
    """Sales ⊃ {EMEA ⊃ Nordics, Americas}; Mia manages EMEA, Rob and Rae are reps, Ned has no team."""
    token = token_for(admin)
    ids = {"token": token}
    ids["sales"] = await _team(client, token, "Sales")
    ids["emea"] = await _team(client, token, "EMEA", ids["sales"])
    ids["nordics"] = await _team(client, token, "Nordics", ids["emea"])
    ids["americas"] = await _team(client, token, "Americas", ids["sales"])
    ids["mia"] = await _user(
        client, token, "Mia Manager", "mia@example.com", salesSeat=True, roles=["sales_manager"]
    )
    ids["rob"] = await _user(client, token, "Rob Rep", "rob@example.com", salesSeat=True, roles=["sales_rep"])
    ids["rae"] = await _user(client, token, "Rae Rep", "rae@example.com", salesSeat=True, roles=["sales_rep"])
    ids["ned"] = await _user(client, token, "Ned Nobody", "ned@example.org")
    await _member(client, token, ids["emea"], ids["mia"], "MANAGER", True)
    await _member(client, token, ids["nordics"], ids["rob"], "MEMBER", True)
    await _member(client, token, ids["americas"], ids["rae"], "MEMBER", True)
    await _member(client, token, ids["nordics"], ids["rae"], "MEMBER", False)
    return ids


def names(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["name"] for edge in connection["edges"]]


async def test_users_search_team_and_without_team(client: httpx.AsyncClient, org: dict[str, str]) -> None:
    query = """query($search: String, $teamId: ID, $withoutTeam: Boolean) {
      users(search: $search, teamId: $teamId, withoutTeam: $withoutTeam) { totalCount edges { node { name } } } }"""
    token = org["token"]
    by_email = await data(client, query, {"search": "EXAMPLE.ORG"}, token=token)
    assert names(by_email["users"]) == ["Ned Nobody"]
    by_name = await data(client, query, {"search": "rep"}, token=token)
    assert names(by_name["users"]) == ["Rae Rep", "Rob Rep"]
    assert by_name["users"]["totalCount"] == 2
    wildcard = await data(client, query, {"search": "%"}, token=token)
    assert wildcard["users"]["totalCount"] == 0
    nordics = await data(client, query, {"teamId": org["nordics"]}, token=token)
    assert names(nordics["users"]) == ["Rae Rep", "Rob Rep"]
    alone = await data(client, query, {"withoutTeam": True}, token=token)
    assert names(alone["users"]) == ["Astrid Admin", "Ned Nobody"]


async def test_keyset_pages_walk_the_whole_list(client: httpx.AsyncClient, org: dict[str, str]) -> None:
    query = """query($after: String) { users(first: 2, after: $after) {
      totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { name } } } }"""
    seen: list[str] = []
    after = None
    while True:
        page = (await data(client, query, {"after": after}, token=org["token"]))["users"]
        assert page["totalCount"] == 5
        assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
        seen += names(page)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert page["edges"][-1]["cursor"] == after
    assert seen == ["Astrid Admin", "Mia Manager", "Ned Nobody", "Rae Rep", "Rob Rep"]


async def test_a_page_is_stable_when_rows_are_inserted_before_it(
    client: httpx.AsyncClient, org: dict[str, str], engine: AsyncEngine
) -> None:
    query = """query($after: String) { users(first: 2, after: $after) { pageInfo { endCursor } edges { node { name } } } }"""
    first = (await data(client, query, {}, token=org["token"]))["users"]
    async with engine.begin() as conn:  # someone adds a user who sorts first, between the two requests
        await create_user(conn, name="Aaron Early", email="aaron@example.com", sales_seat=False)
    second = (await data(client, query, {"after": first["pageInfo"]["endCursor"]}, token=org["token"]))[
        "users"
    ]
    assert names(first) == ["Astrid Admin", "Mia Manager"]
    assert names(second) == ["Ned Nobody", "Rae Rep"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("first: -1", "first is -1: it must be between 0 and 200"),
        ("first: 201", "first is 201: it must be between 0 and 200"),
        ('after: "bm90LWEtY3Vyc29y"', "is not a cursor this list issued"),
        ('after: "!!"', "is not a cursor this list issued"),
    ],
)
async def test_page_arguments_out_of_range_are_refused(
    client: httpx.AsyncClient, org: dict[str, str], arguments: str, message: str
) -> None:
    code, text = await error_code(client, f"{{ users({arguments}) {{ totalCount }} }}", token=org["token"])
    assert code == "BAD_USER_INPUT"
    assert message in text


async def test_a_cursor_of_another_list_is_refused(client: httpx.AsyncClient, org: dict[str, str]) -> None:
    teams_page = await data(client, "{ teams(first: 1) { pageInfo { endCursor } } }", token=org["token"])
    cursor = teams_page["teams"]["pageInfo"]["endCursor"]
    forged = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    for after in (cursor, forged):
        deals = f'{{ deals(after: "{after}", orderBy: NAME_ASC) {{ totalCount }} }}'
        assert (await error_code(client, deals, token=org["token"]))[0] == "BAD_USER_INPUT"


async def test_the_team_tree(client: httpx.AsyncClient, org: dict[str, str]) -> None:
    query = """{ teams(rootsOnly: true) { totalCount edges { node { name parent { name } children { name
      children { name parent { name } } } members(includeDescendants: true) { totalCount edges { node { name } } }
      managers { name } } } } }"""
    [root] = (await data(client, query, token=org["token"]))["teams"]["edges"]
    sales = root["node"]
    assert sales["name"] == "Sales"
    assert sales["parent"] is None
    assert [c["name"] for c in sales["children"]] == ["Americas", "EMEA"]
    assert sales["children"][1]["children"] == [{"name": "Nordics", "parent": {"name": "EMEA"}}]
    assert names(sales["members"]) == ["Mia Manager", "Rae Rep", "Rob Rep"]
    assert sales["members"]["totalCount"] == 3
    assert sales["managers"] == []

    emea = """query($id: ID!) { node(id: $id) { ... on Team { name managers { name }
      direct: members { edges { node { name } } } all: members(includeDescendants: true) { edges { node { name } } } } } }"""
    node = (await data(client, emea, {"id": org["emea"]}, token=org["token"]))["node"]
    assert node["managers"] == [{"name": "Mia Manager"}]
    assert names(node["direct"]) == ["Mia Manager"]
    assert names(node["all"]) == ["Mia Manager", "Rae Rep", "Rob Rep"]


async def test_memberships_and_primary_team(client: httpx.AsyncClient, org: dict[str, str]) -> None:
    query = """query($id: ID!) { node(id: $id) { ... on User { name primaryTeam { name }
      memberships { team { name } user { name } role primary } } } }"""
    rae = (await data(client, query, {"id": org["rae"]}, token=org["token"]))["node"]
    assert rae["primaryTeam"] == {"name": "Americas"}
    assert rae["memberships"] == [
        {"team": {"name": "Americas"}, "user": {"name": "Rae Rep"}, "role": "MEMBER", "primary": True},
        {"team": {"name": "Nordics"}, "user": {"name": "Rae Rep"}, "role": "MEMBER", "primary": False},
    ]
    ned = (await data(client, query, {"id": org["ned"]}, token=org["token"]))["node"]
    assert ned == {"name": "Ned Nobody", "primaryTeam": None, "memberships": []}


async def test_node_resolves_each_type_and_null_for_unknown(
    client: httpx.AsyncClient, org: dict[str, str]
) -> None:
    query = "query($id: ID!) { node(id: $id) { id __typename } }"
    for key, typename in (("rob", "User"), ("nordics", "Team")):
        assert (await data(client, query, {"id": org[key]}, token=org["token"]))["node"] == {
            "id": org[key],
            "__typename": typename,
        }
    for missing in ("VXNlcjo5OTk5OTk=", "V2lkZ2V0OjE="):  # User:999999, Widget:1
        assert (await data(client, query, {"id": missing}, token=org["token"]))["node"] is None
    code, message = await error_code(client, query, {"id": "not an id"}, token=org["token"])
    assert (code, message) == ("BAD_USER_INPUT", "id: 'not an id' is not an ID issued by this API")


async def test_roles_are_the_users_own_or_the_admins_business(
    client: httpx.AsyncClient, org: dict[str, str]
) -> None:
    query = "query($id: ID!) { node(id: $id) { ... on User { roles } } }"
    assert (await data(client, query, {"id": org["rob"]}, token=org["token"]))["node"] == {
        "roles": ["sales_rep"]
    }
    rob = token_of(org["rob"])
    assert (await data(client, "{ viewer { roles } }", token=rob))["viewer"] == {"roles": ["sales_rep"]}
    code, _ = await error_code(client, query, {"id": org["mia"]}, token=rob)
    assert code == "FORBIDDEN"


async def test_update_user_and_team(client: httpx.AsyncClient, org: dict[str, str]) -> None:
    update_user = (
        """mutation($input: UpdateUserInput!) { updateUser(input: $input) { name email active salesSeat } }"""
    )
    result = await data(
        client,
        update_user,
        {"input": {"id": org["ned"], "name": " Ned Newname ", "salesSeat": True}},
        token=org["token"],
    )
    assert result["updateUser"] == {
        "name": "Ned Newname",
        "email": "ned@example.org",
        "active": True,
        "salesSeat": True,
    }

    update_team = (
        """mutation($input: UpdateTeamInput!) { updateTeam(input: $input) { name parent { name } } }"""
    )
    moved = await data(
        client,
        update_team,
        {"input": {"id": org["nordics"], "parentId": org["americas"]}},
        token=org["token"],
    )
    assert moved["updateTeam"] == {"name": "Nordics", "parent": {"name": "Americas"}}
    back = await data(
        client, update_team, {"input": {"id": org["nordics"], "parentId": org["emea"]}}, token=org["token"]
    )
    assert back["updateTeam"]["parent"] == {"name": "EMEA"}
    root = await data(
        client,
        update_team,
        {"input": {"id": org["americas"], "detach": True, "name": "AMER"}},
        token=org["token"],
    )
    assert root["updateTeam"] == {"name": "AMER", "parent": None}
    await data(
        client,
        update_team,
        {"input": {"id": org["americas"], "parentId": org["sales"], "name": "Americas"}},
        token=org["token"],
    )


async def _counts(engine: AsyncEngine) -> tuple[int, ...]:
    async with engine.connect() as conn:
        return tuple(
            [
                int(await conn.scalar(select(func.count()).select_from(t)) or 0)
                for t in (users, teams, team_memberships)
            ]
        )


@pytest.mark.parametrize(
    ("operation", "variables", "code", "message"),
    [
        (CREATE_USER, {"input": {"name": "X", "email": "mia@EXAMPLE.com"}}, "CONFLICT", "already exists"),
        (CREATE_USER, {"input": {"name": "X", "email": "no-at-sign"}}, "BAD_USER_INPUT", "is not an email address"),
        (CREATE_USER, {"input": {"name": "   ", "email": "x@example.com"}}, "BAD_USER_INPUT", "name must not be empty"),
        (CREATE_USER, {"input": {"name": "N" * 201, "email": "x@example.com"}}, "BAD_USER_INPUT", "at most 200"),
        (CREATE_USER, {"input": {"name": "X", "email": "x@example.com", "roles": ["wizard"]}}, "BAD_USER_INPUT",
         "unknown role 'wizard'"),
        (CREATE_TEAM, {"input": {"name": "", "parentId": None}}, "BAD_USER_INPUT", "name must not be empty"),
        (CREATE_TEAM, {"input": {"name": "T", "parentId": "VGVhbTo5OTk5OTk="}}, "NOT_FOUND",
         "no Team with id 'VGVhbTo5OTk5OTk='"),
        (CREATE_TEAM, {"input": {"name": "T", "parentId": "@@@"}}, "BAD_USER_INPUT", "is not an ID issued by this API"),
    ],
)  # fmt: skip
async def test_bad_directory_input_writes_nothing(
    client: httpx.AsyncClient,
    org: dict[str, str],
    engine: AsyncEngine,
    operation: str,
    variables: dict[str, Any],
    code: str,
    message: str,
) -> None:
    before = await _counts(engine)
    got, text = await error_code(client, operation, variables, token=org["token"])
    assert got == code
    assert message in text
    assert await _counts(engine) == before


async def test_refusals_that_need_the_organisation(
    client: httpx.AsyncClient, org: dict[str, str], engine: AsyncEngine
) -> None:
    token = org["token"]
    update_team = "mutation($input: UpdateTeamInput!) { updateTeam(input: $input) { name } }"
    cases: list[tuple[str, dict[str, Any], str, str]] = [
        (update_team, {"input": {"id": org["sales"], "parentId": org["nordics"]}}, "BAD_USER_INPUT",
         "cannot move under itself or one of its descendants"),
        (update_team, {"input": {"id": org["emea"], "parentId": org["emea"]}}, "BAD_USER_INPUT", "cannot move under itself"),
        (update_team, {"input": {"id": org["rob"]}}, "BAD_USER_INPUT", "is the ID of a User, not of a Team"),
        (SET_MEMBERSHIP, {"input": {"teamId": org["emea"], "userId": org["rob"], "role": "MEMBER", "primary": True}},
         "CONFLICT", "already has a primary team"),
        ("mutation($t: ID!, $u: ID!) { removeTeamMembership(teamId: $t, userId: $u) }",
         {"t": org["americas"], "u": org["mia"]}, "NOT_FOUND", "not a member of that team"),
        ("mutation($input: UpdateUserInput!) { updateUser(input: $input) { name } }",
         {"input": {"id": org["rob"], "email": "MIA@example.com"}}, "CONFLICT", "already exists"),
    ]  # fmt: skip
    for operation, variables, code, message in cases:
        before = await _counts(engine)
        got, text = await error_code(client, operation, variables, token=token)
        assert (got, message in text) == (code, True), text
        assert await _counts(engine) == before


async def test_membership_changes(client: httpx.AsyncClient, org: dict[str, str]) -> None:
    token = org["token"]
    remove = "mutation($t: ID!, $u: ID!) { removeTeamMembership(teamId: $t, userId: $u) }"
    assert (await data(client, remove, {"t": org["nordics"], "u": org["rae"]}, token=token)) == {
        "removeTeamMembership": True
    }
    await _member(client, token, org["nordics"], org["rae"], "MANAGER", False)
    query = "query($id: ID!) { node(id: $id) { ... on Team { managers { name } } } }"
    assert (await data(client, query, {"id": org["nordics"]}, token=token))["node"]["managers"] == [
        {"name": "Rae Rep"}
    ]
    await data(client, remove, {"t": org["nordics"], "u": org["rae"]}, token=token)


async def test_directory_changes_need_the_admin_role(
    client: httpx.AsyncClient, org: dict[str, str], engine: AsyncEngine
) -> None:
    mia = token_of(org["mia"])
    before = await _counts(engine)
    for operation, variables in (
        (CREATE_USER, {"input": {"name": "Eve", "email": "eve@example.com"}}),
        (CREATE_TEAM, {"input": {"name": "Skunkworks"}}),
        (
            SET_MEMBERSHIP,
            {"input": {"teamId": org["emea"], "userId": org["ned"], "role": "MEMBER", "primary": True}},
        ),
    ):
        assert (await error_code(client, operation, variables, token=mia))[0] == "FORBIDDEN"
    assert await _counts(engine) == before


def _outcome(body: dict[str, Any]) -> str:
    return str(body["errors"][0]["extensions"]["code"]) if "errors" in body else "ok"


async def test_racing_writes_that_would_break_uniqueness_are_conflicts(
    client: httpx.AsyncClient, org: dict[str, str]
) -> None:
    headers = {"Authorization": f"Bearer {org['token']}"}

    async def send(query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        return dict(response.json())

    twins = await asyncio.gather(
        *(send(CREATE_USER, {"input": {"name": f"Twin {i}", "email": "twin@example.com"}}) for i in range(4))
    )
    assert sorted(_outcome(r) for r in twins) == ["CONFLICT", "CONFLICT", "CONFLICT", "ok"]
    twin = next(r for r in twins if "errors" not in r)["data"]["createUser"]["id"]
    primaries = await asyncio.gather(
        *(
            send(
                SET_MEMBERSHIP,
                {"input": {"teamId": org[team], "userId": twin, "role": "MEMBER", "primary": True}},
            )
            for team in ("emea", "nordics", "americas")
        )
    )
    assert sorted(_outcome(r) for r in primaries) == ["CONFLICT", "CONFLICT", "ok"]


async def test_first_defaults_to_50(
    client: httpx.AsyncClient, org: dict[str, str], engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        for n in range(60):
            await create_user(conn, name=f"Zz Bulk {n:02d}", email=f"bulk{n}@example.com", sales_seat=False)
    page = (
        await data(
            client,
            "{ users { totalCount pageInfo { hasNextPage } edges { node { name } } } }",
            token=org["token"],
        )
    )["users"]
    assert len(page["edges"]) == 50
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["totalCount"] > 60
