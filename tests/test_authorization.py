"""docs/domain.md on every path that reaches a deal, for a matrix of viewers, and on every write.

The company: Sales ⊃ {EMEA ⊃ Nordics, Americas}, and Skunkworks apart with canary deals whose names
must never reach anyone outside it.
"""

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from strawberry.relay import to_base64

from db.tables import audit_log, casbin_rule, deals, teams, users
from tests.builders import Api
from tests.support import data, error_code, graphql, token_for, token_of

CANARY = "CANARY-"
VIEWERS = ["admin", "mgr", "rep_n", "rep_a", "rep_x", "norole", "peruser", "revoked"]


@pytest.fixture(scope="module")
async def company(
    client: httpx.AsyncClient, admin: int, engine: AsyncEngine, app: Starlette
) -> dict[str, Any]:
    api = Api(client, token_for(admin))
    ids: dict[str, Any] = {"api": api, "admin": admin}
    await api.rate("EUR", "1.10", "2020-01-01")
    pipeline = await api.pipeline("Main")
    ids["pipeline"] = pipeline
    sales = await api.team("Sales")
    emea = await api.team("EMEA", sales)
    nordics = await api.team("Nordics", emea)
    americas = await api.team("Americas", sales)
    skunk = await api.team("Skunkworks")
    ids |= {"sales": sales, "emea": emea, "nordics": nordics, "americas": americas, "skunk": skunk}
    people = {
        "mgr": ("Maja Manager", ["sales_manager"], [(emea, "MANAGER", True)]),
        "rep_n": ("Nils Nordics", ["sales_rep"], [(nordics, "MEMBER", True)]),
        "rep_n2": ("Nora Nordics", ["sales_rep"], [(nordics, "MEMBER", True)]),
        "rep_a": ("Ana Americas", ["sales_rep"], [(americas, "MEMBER", True)]),
        "rep_x": ("Xavi Extra", ["sales_rep"], [(americas, "MEMBER", True), (nordics, "MEMBER", False)]),
        "norole": ("Noah Norole", [], [(nordics, "MEMBER", True)]),
        "peruser": ("Per User", [], []),
        "revoked": ("Rev Oked", ["sales_rep"], [(nordics, "MEMBER", True)]),
        "canary": ("Cara Canary", ["sales_rep"], [(skunk, "MEMBER", True)]),
    }
    for key, (name, roles, memberships) in people.items():
        ids[key] = await api.user(name, f"{key}@example.com", roles=roles)
        for team, role, primary in memberships:
            await api.member(team, ids[key], role=role, primary=primary)
    await api.run(
        'mutation($s: String!) { setPermission(input: {subject: $s, resource: "deal", action: "view", scope: OWN, unassigned: true}) { scope } }',
        s=f"user:{ids['peruser']}",
    )
    owners = {"D_mgr": "mgr", "D_n": "rep_n", "D_n2": "rep_n2", "D_a": "rep_a", "D_x": "rep_x", "D_none": "norole",
              "D_per": "peruser", "D_rev": "revoked", f"{CANARY}1": "canary", f"{CANARY}2": "canary", "D_un": None}  # fmt: skip
    ids["deals"] = {}
    for name, owner in owners.items():
        extra = {"ownerId": ids[owner]} if owner else {}
        ids["deals"][name] = await api.deal(
            pipeline, "Qualified to buy", "100.00", "2026-12-01", name=name, **extra
        )
    # A change, so every deal has history.
    for deal in ids["deals"].values():
        await api.run(
            "mutation($i: UpdateDealInput!) { updateDeal(input: $i) { version } }",
            i={"id": deal, "amount": "150.00"},
        )
    await api.run(
        'mutation($u: ID!) { unassignRole(userId: $u, role: "sales_rep") { id } }', u=ids["revoked"]
    )
    return ids


EVERY = {"D_mgr", "D_n", "D_n2", "D_a", "D_x", "D_none", "D_per", "D_rev", "CANARY-1", "CANARY-2", "D_un"}
NORDICS = {"D_n", "D_n2", "D_x", "D_none", "D_rev"}
EXPECTED = {
    "admin": EVERY,
    "mgr": NORDICS | {"D_mgr"},
    "rep_n": NORDICS,
    "rep_a": {"D_a", "D_x"},
    "rep_x": NORDICS | {"D_a"},
    "norole": set(),
    "peruser": {"D_per", "D_un"},
    "revoked": set(),
}


def _token(company: dict[str, Any], viewer: str) -> str:
    return token_for(company["admin"]) if viewer == "admin" else token_of(company[viewer])


def _names(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["name"] for edge in connection["edges"]]


async def _read(
    client: httpx.AsyncClient, query: str, token: str, variables: dict[str, Any] | None = None
) -> Any:
    response = await graphql(client, query, variables, token=token)
    body = response.json()
    assert "errors" not in body, body
    return body["data"], response.text


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_every_read_path_shows_exactly_the_visible_deals(
    client: httpx.AsyncClient, company: dict[str, Any], viewer: str
) -> None:
    token, expected = _token(company, viewer), EXPECTED[viewer]
    seen_text: list[str] = []

    top, text = await _read(
        client,
        "{ deals(first: 200) { totalCount edges { node { name history { edges { node { field } } } } } } }",
        token,
    )
    seen_text.append(text)
    assert set(_names(top["deals"])) == expected
    assert top["deals"]["totalCount"] == len(expected)
    assert all(edge["node"]["history"]["edges"] for edge in top["deals"]["edges"])

    nested, text = await _read(
        client,
        "{ users(first: 200) { edges { node { deals(first: 200) { totalCount edges { node { name } } } } } } }",
        token,
    )
    seen_text.append(text)
    by_users = [name for edge in nested["users"]["edges"] for name in _names(edge["node"]["deals"])]
    assert sorted(by_users) == sorted(expected - {"D_un"})
    assert sum(edge["node"]["deals"]["totalCount"] for edge in nested["users"]["edges"]) == len(
        expected - {"D_un"}
    )

    tree, text = await _read(
        client,
        "{ teams(rootsOnly: true) { edges { node { name deals(first: 200) { totalCount edges { node { name } } } members(first: 20, includeDescendants: true) { edges { node { deals(first: 20) { edges { node { name } } } } } } } } } }",
        token,
    )
    seen_text.append(text)
    by_team = {name for edge in tree["teams"]["edges"] for name in _names(edge["node"]["deals"])}
    by_members = {
        name
        for edge in tree["teams"]["edges"]
        for m in edge["node"]["members"]["edges"]
        for name in _names(m["node"]["deals"])
    }
    teamless = {"D_un", "D_per"}
    assert by_team == expected - teamless
    assert by_members == expected - teamless

    for name, deal_id in company["deals"].items():
        node, text = await _read(
            client,
            "query($id: ID!) { node(id: $id) { ... on Deal { name history { totalCount } } } }",
            token,
            {"id": deal_id},
        )
        seen_text.append(text)
        assert (node["node"] is not None) == (name in expected), name

    everyone = [
        company[k]
        for k in ("mgr", "rep_n", "rep_n2", "rep_a", "rep_x", "norole", "peruser", "revoked", "canary")
    ]
    filtered, text = await _read(
        client,
        "query($o: [ID!], $t: ID) { byOwner: deals(filter: {ownerIds: $o}) { totalCount edges { node { name } } } byTeam: deals(filter: {teamId: $t}) { totalCount edges { node { name } } } }",
        token,
        {"o": everyone, "t": company["skunk"]},
    )
    seen_text.append(text)
    assert set(_names(filtered["byOwner"])) == expected - {"D_un"}
    assert set(_names(filtered["byTeam"])) == expected & {"CANARY-1", "CANARY-2"}
    assert filtered["byTeam"]["totalCount"] == len(expected & {"CANARY-1", "CANARY-2"})

    if viewer != "admin":
        assert not any(CANARY in text for text in seen_text)


async def _snapshot(engine: AsyncEngine) -> tuple[Any, ...]:
    async with engine.connect() as conn:
        counts = [
            int(await conn.scalar(select(func.count()).select_from(t)) or 0)
            for t in (casbin_rule, audit_log, teams, users)
        ]
        amounts = tuple(
            (
                await conn.execute(select(deals.c.id, deals.c.amount, deals.c.owner_id).order_by(deals.c.id))
            ).all()
        )
    return (*counts, amounts)


UPDATE = "mutation($i: UpdateDealInput!) { updateDeal(input: $i) { name amount owner { name } } }"
CREATE = "mutation($i: CreateDealInput!) { createDeal(input: $i) { name owner { name } } }"


@pytest.mark.parametrize(
    ("viewer", "deal", "change", "outcome"),
    [
        ("admin", "D_n", {"amount": "201.00"}, "ok"),
        ("mgr", "D_n", {"amount": "202.00"}, "ok"),
        ("rep_n", "D_n", {"amount": "203.00"}, "ok"),
        ("rep_n", "D_n2", {"amount": "204.00"}, "FORBIDDEN"),
        ("rep_a", "D_n", {"amount": "205.00"}, "NOT_FOUND"),
        ("norole", "D_none", {"amount": "206.00"}, "NOT_FOUND"),
        ("revoked", "D_rev", {"amount": "207.00"}, "NOT_FOUND"),
        ("peruser", "D_per", {"amount": "208.00"}, "FORBIDDEN"),
        ("mgr", "D_n", {"owner": "rep_a"}, "FORBIDDEN"),
        ("mgr", "D_n", {"owner": "rep_n2"}, "ok"),
        ("rep_n2", "D_n", {"owner": "rep_n2"}, "ok"),
        ("rep_n2", "D_n", {"owner": "rep_n"}, "FORBIDDEN"),
        ("mgr", "D_n", {"owner": None}, "FORBIDDEN"),
        ("rep_a", "CANARY-1", {"amount": "1.00"}, "NOT_FOUND"),
    ],
)
async def test_deal_updates_per_viewer(
    client: httpx.AsyncClient,
    company: dict[str, Any],
    engine: AsyncEngine,
    viewer: str,
    deal: str,
    change: dict[str, Any],
    outcome: str,
) -> None:
    payload: dict[str, Any] = {"id": company["deals"][deal]}
    if "amount" in change:
        payload["amount"] = change["amount"]
    if "owner" in change:
        payload["ownerId"] = company[change["owner"]] if change["owner"] else None
    before = await _snapshot(engine)
    response = (await graphql(client, UPDATE, {"i": payload}, token=_token(company, viewer))).json()
    if outcome == "ok":
        assert "errors" not in response, response
    else:
        assert response["errors"][0]["extensions"]["code"] == outcome
        assert await _snapshot(engine) == before
        if outcome == "NOT_FOUND":
            assert CANARY not in str(response)


@pytest.mark.parametrize(
    ("viewer", "owner", "outcome"),
    [("rep_n", "rep_n", "ok"), ("rep_n", "rep_n2", "FORBIDDEN"), ("rep_n", None, "FORBIDDEN"),
     ("mgr", "rep_x", "ok"), ("mgr", "rep_a", "FORBIDDEN"), ("admin", None, "ok"), ("norole", "norole", "FORBIDDEN")],
)  # fmt: skip
async def test_deal_creation_per_viewer(
    client: httpx.AsyncClient,
    company: dict[str, Any],
    engine: AsyncEngine,
    viewer: str,
    owner: str | None,
    outcome: str,
) -> None:
    pipeline = company["pipeline"]
    deal = {"name": f"New {viewer}", "pipelineId": pipeline["id"], "stageId": pipeline["stages"]["Qualified to buy"],
            "amount": "10.00", "closeDate": "2026-12-15", "ownerId": company[owner] if owner else None}  # fmt: skip
    before = await _snapshot(engine)
    response = (await graphql(client, CREATE, {"i": deal}, token=_token(company, viewer))).json()
    if outcome == "ok":
        assert "errors" not in response, response
    else:
        assert response["errors"][0]["extensions"]["code"] == outcome
        assert await _snapshot(engine) == before


def _admin_writes(company: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every directory, settings and permission mutation, with input an admin could send as it is."""
    stage = company["pipeline"]["stages"]["Qualified to buy"]
    membership = {
        "teamId": company["americas"],
        "userId": company["rep_n2"],
        "role": "MEMBER",
        "primary": False,
    }
    return {
        "createUser": ("mutation($i: CreateUserInput!) { createUser(input: $i) { id } }", {"i": {"name": "Eve", "email": "eve@example.com"}}),
        "updateUser": ("mutation($i: UpdateUserInput!) { updateUser(input: $i) { id } }", {"i": {"id": company["rep_n2"], "name": "Renamed"}}),
        "createTeam": ("mutation($i: CreateTeamInput!) { createTeam(input: $i) { id } }", {"i": {"name": "New team"}}),
        "updateTeam": ("mutation($i: UpdateTeamInput!) { updateTeam(input: $i) { id } }", {"i": {"id": company["americas"], "name": "AMER"}}),
        "setTeamMembership": ("mutation($i: TeamMembershipInput!) { setTeamMembership(input: $i) { primary } }", {"i": membership}),
        "removeTeamMembership": ("mutation($t: ID!, $u: ID!) { removeTeamMembership(teamId: $t, userId: $u) }", {"t": company["nordics"], "u": company["rep_x"]}),
        "createPipeline": ("mutation($i: CreatePipelineInput!) { createPipeline(input: $i) { id } }", {"i": {"name": "P", "stages": [{"label": "A", "probability": 0.5, "state": "OPEN"}]}}),
        "updatePipelineSettings": ("mutation($i: PipelineSettingsInput!) { updatePipelineSettings(input: $i) { id } }", {"i": {"pipelineId": company["pipeline"]["id"], "forecastAmount": "RAW"}}),
        "updateStageMapping": ("mutation($i: StageMappingInput!) { updateStageMapping(input: $i) { id } }", {"i": {"stageId": stage, "probability": 0.45}}),
        "updateCompanySettings": ("mutation($i: CompanySettingsInput!) { updateCompanySettings(input: $i) { currency } }", {"i": {"fiscalYearStartMonth": 2}}),
        "setExchangeRate": ("mutation($i: ExchangeRateInput!) { setExchangeRate(input: $i) { rate } }", {"i": {"currency": "NOK", "rate": "0.09", "validFrom": "2026-01-01"}}),
        "createRole": ('mutation { createRole(name: "reviewer") { name } }', {}),
        "assignRole": ('mutation($u: ID!) { assignRole(userId: $u, role: "sales_rep") { id } }', {"u": company["norole"]}),
        "unassignRole": ('mutation($u: ID!) { unassignRole(userId: $u, role: "sales_rep") { id } }', {"u": company["rep_n"]}),
        "setPermission": ('mutation($i: SetPermissionInput!) { setPermission(input: $i) { scope } }', {"i": {"subject": "sales_rep", "resource": "deal", "action": "view", "scope": "ALL"}}),
    }  # fmt: skip


ADMIN_WRITES = [
    "createUser", "updateUser", "createTeam", "updateTeam", "setTeamMembership", "removeTeamMembership",
    "createPipeline", "updatePipelineSettings", "updateStageMapping", "updateCompanySettings", "setExchangeRate",
    "createRole", "assignRole", "unassignRole", "setPermission",
]  # fmt: skip


@pytest.mark.parametrize("viewer", ["mgr", "rep_n", "rep_x", "norole", "peruser", "revoked"])
@pytest.mark.parametrize("mutation", ADMIN_WRITES)
async def test_admin_writes_are_forbidden_to_everyone_else(
    client: httpx.AsyncClient, company: dict[str, Any], engine: AsyncEngine, viewer: str, mutation: str
) -> None:
    operation, variables = _admin_writes(company)[mutation]
    before = await _snapshot(engine)
    code, message = await error_code(client, operation, variables, token=_token(company, viewer))
    assert code == "FORBIDDEN", message
    assert await _snapshot(engine) == before


async def test_the_same_writes_are_allowed_to_the_admin(
    client: httpx.AsyncClient, company: dict[str, Any]
) -> None:
    writes = _admin_writes(company)
    for mutation in ADMIN_WRITES:
        operation, variables = writes[mutation]
        await data(client, operation, variables, token=_token(company, "admin"))
    # Put back what later tests rely on.
    undo = "mutation($i: SetPermissionInput!) { setPermission(input: $i) { scope } }"
    await data(
        client,
        undo,
        {"i": {"subject": "sales_rep", "resource": "deal", "action": "view", "scope": "TEAM"}},
        token=_token(company, "admin"),
    )
    await data(
        client,
        'mutation($u: ID!) { assignRole(userId: $u, role: "sales_rep") { id } }',
        {"u": company["rep_n"]},
        token=_token(company, "admin"),
    )
    await data(
        client,
        'mutation($u: ID!) { unassignRole(userId: $u, role: "sales_rep") { id } }',
        {"u": company["norole"]},
        token=_token(company, "admin"),
    )
    await data(
        client,
        "mutation($i: TeamMembershipInput!) { setTeamMembership(input: $i) { primary } }",
        {"i": {"teamId": company["nordics"], "userId": company["rep_x"], "role": "MEMBER", "primary": False}},
        token=_token(company, "admin"),
    )
    await data(
        client,
        "mutation($t: ID!, $u: ID!) { removeTeamMembership(teamId: $t, userId: $u) }",
        {"t": company["americas"], "u": company["rep_n2"]},
        token=_token(company, "admin"),
    )


async def test_admin_only_reads(client: httpx.AsyncClient, company: dict[str, Any]) -> None:
    for query in ("{ roles { name } }", "{ auditLog { edges { node { action } } } }"):
        assert (await error_code(client, query, token=_token(company, "mgr")))[0] == "FORBIDDEN"
    roles = await data(
        client,
        "{ roles { name permissions { subject resource action scope unassigned } members { totalCount edges { node { name } } } } }",
        token=_token(company, "admin"),
    )
    by_name = {role["name"]: role for role in roles["roles"]}
    assert set(by_name) >= {"admin", "sales_manager", "sales_rep"}
    assert {(p["resource"], p["action"], p["scope"]) for p in by_name["sales_rep"]["permissions"]} == {
        ("deal", "view", "TEAM"), ("deal", "edit", "OWN"), ("forecast", "view", "TEAM"), ("forecast", "edit", "OWN"),
    }  # fmt: skip
    assert "Nils Nordics" in _names(by_name["sales_rep"]["members"])
    assert "Rev Oked" not in _names(by_name["sales_rep"]["members"])


async def test_permissions_of_a_user_and_where_they_come_from(
    client: httpx.AsyncClient, company: dict[str, Any]
) -> None:
    own = await data(
        client,
        "{ viewer { roles permissions { subject resource action scope unassigned } } }",
        token=_token(company, "peruser"),
    )
    assert own["viewer"]["roles"] == []
    assert own["viewer"]["permissions"] == [
        {
            "subject": f"user:{company['peruser']}",
            "resource": "deal",
            "action": "view",
            "scope": "OWN",
            "unassigned": True,
        }
    ]
    query = "query($id: ID!) { node(id: $id) { ... on User { permissions { subject scope } } } }"
    assert (await error_code(client, query, {"id": company["mgr"]}, token=_token(company, "rep_n")))[
        0
    ] == "FORBIDDEN"
    seen = await data(client, query, {"id": company["mgr"]}, token=_token(company, "admin"))
    assert {p["subject"] for p in seen["node"]["permissions"]} == {"sales_manager"}


async def test_permission_management_and_its_guard_rails(
    client: httpx.AsyncClient, company: dict[str, Any], engine: AsyncEngine
) -> None:
    admin = _token(company, "admin")
    set_permission = "mutation($i: SetPermissionInput!) { setPermission(input: $i) { subject resource action scope unassigned } }"
    assign = "mutation($u: ID!, $r: String!) { assignRole(userId: $u, role: $r) { roles } }"
    unassign = "mutation($u: ID!, $r: String!) { unassignRole(userId: $u, role: $r) { roles } }"

    before = await _snapshot(engine)
    refusals: list[tuple[str, str, dict[str, Any], str, str]] = [
        (admin, unassign, {"u": token_subject(company, "admin"), "r": "admin"}, "CONFLICT", "last active admin"),
        (admin, set_permission, {"i": {"subject": "admin", "resource": "permissions", "action": "manage", "scope": "NONE"}}, "CONFLICT", "no active user with permissions:manage"),
        (admin, set_permission, {"i": {"subject": "sales_rep", "resource": "deal", "action": "fly", "scope": "ALL"}}, "BAD_USER_INPUT", "deal:fly is not a permission"),
        (admin, set_permission, {"i": {"subject": "sales_rep", "resource": "goal", "action": "edit", "scope": "OWN"}}, "BAD_USER_INPUT", "takes the scopes ALL, TEAM, NONE"),
        (admin, set_permission, {"i": {"subject": "sales_rep", "resource": "forecast", "action": "adjust", "scope": "OWN"}}, "BAD_USER_INPUT", "takes the scopes ALL, TEAM, NONE"),
        (admin, set_permission, {"i": {"subject": "sales_rep", "resource": "goal", "action": "edit", "scope": "ALL", "unassigned": True}}, "BAD_USER_INPUT", "unassigned applies to deal permissions only"),
        (admin, set_permission, {"i": {"subject": "wizards", "resource": "deal", "action": "view", "scope": "ALL"}}, "NOT_FOUND", "no role named 'wizards'"),
        (admin, set_permission, {"i": {"subject": "user:nope", "resource": "deal", "action": "view", "scope": "ALL"}}, "BAD_USER_INPUT", "is not an ID issued by this API"),
        (admin, assign, {"u": company["rep_n"], "r": "wizards"}, "NOT_FOUND", "no role named 'wizards'"),
        (admin, "mutation { createRole(name: \"Bad Name\") { name } }", {}, "BAD_USER_INPUT", "lowercase letters"),
        (admin, "mutation { createRole(name: \"admin\") { name } }", {}, "CONFLICT", "already exists"),
        (_token(company, "mgr"), assign, {"u": company["rep_n"], "r": "admin"}, "FORBIDDEN", "permissions:manage"),
    ]  # fmt: skip
    for token, operation, variables, code, message in refusals:
        got, text = await error_code(client, operation, variables, token=token)
        assert (got, message in text) == (code, True), text
    assert await _snapshot(engine) == before

    # A delegate who manages permissions but holds nothing else cannot hand out more than that.
    await data(
        client,
        set_permission,
        {
            "i": {
                "subject": f"user:{company['rep_a']}",
                "resource": "permissions",
                "action": "manage",
                "scope": "ALL",
            }
        },
        token=admin,
    )
    delegate = _token(company, "rep_a")
    for operation, variables in (
        (assign, {"u": company["rep_a"], "r": "admin"}),
        (assign, {"u": company["rep_n"], "r": "sales_manager"}),
        (
            set_permission,
            {
                "i": {
                    "subject": f"user:{company['rep_a']}",
                    "resource": "deal",
                    "action": "view",
                    "scope": "ALL",
                }
            },
        ),
        (
            set_permission,
            {
                "i": {
                    "subject": "sales_rep",
                    "resource": "deal",
                    "action": "view",
                    "scope": "TEAM",
                    "unassigned": True,
                }
            },
        ),
    ):
        before = await _snapshot(engine)
        assert (await error_code(client, operation, variables, token=delegate))[0] == "FORBIDDEN"
        assert await _snapshot(engine) == before
    granted = await data(
        client,
        set_permission,
        {"i": {"subject": f"user:{company['rep_n2']}", "resource": "deal", "action": "view", "scope": "OWN"}},
        token=delegate,
    )
    assert granted["setPermission"] == {
        "subject": f"user:{company['rep_n2']}",
        "resource": "deal",
        "action": "view",
        "scope": "OWN",
        "unassigned": False,
    }
    # Now the admin may lose the admin role: someone else still manages permissions... but not the last admin.
    await data(
        client,
        set_permission,
        {
            "i": {
                "subject": f"user:{company['rep_a']}",
                "resource": "permissions",
                "action": "manage",
                "scope": "NONE",
            }
        },
        token=admin,
    )

    # A new role, assigned and revoked: effective at once, and audited with before and after.
    await data(client, 'mutation { createRole(name: "auditor") { name } }', token=admin)
    await data(
        client,
        set_permission,
        {
            "i": {
                "subject": "auditor",
                "resource": "deal",
                "action": "view",
                "scope": "ALL",
                "unassigned": True,
            }
        },
        token=admin,
    )
    assert (await data(client, assign, {"u": company["norole"], "r": "auditor"}, token=admin))["assignRole"][
        "roles"
    ] == ["auditor"]
    visible = await data(client, "{ deals(first: 200) { totalCount } }", token=_token(company, "norole"))
    assert visible["deals"]["totalCount"] >= len(EVERY)
    assert (await data(client, unassign, {"u": company["norole"], "r": "auditor"}, token=admin))[
        "unassignRole"
    ]["roles"] == []
    assert (await data(client, "{ deals { totalCount } }", token=_token(company, "norole")))["deals"][
        "totalCount"
    ] == 0

    log = await data(
        client,
        "{ auditLog(first: 20) { edges { node { id at action target details actor { name } } } } }",
        token=admin,
    )
    entries = [edge["node"] for edge in log["auditLog"]["edges"]]
    assert [e["action"] for e in entries[:4]] == [
        "role.unassign",
        "role.assign",
        "permission.set",
        "role.create",
    ]
    assert all(e["actor"] == {"name": "Astrid Admin"} for e in entries[:4])
    assert entries[0]["target"] == f"user:{company['norole']}"
    assert '"before": true' in entries[0]["details"]
    assert '"after": false' in entries[0]["details"]
    node = await data(
        client,
        "query($id: ID!) { node(id: $id) { ... on AuditEntry { action } } }",
        {"id": entries[0]["id"]},
        token=admin,
    )
    assert node["node"] == {"action": "role.unassign"}
    hidden = await data(
        client,
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": entries[0]["id"]},
        token=_token(company, "mgr"),
    )
    assert hidden["node"] is None


def token_subject(company: dict[str, Any], viewer: str) -> str:
    return to_base64("User", company["admin"]) if viewer == "admin" else str(company[viewer])


async def test_deactivating_the_last_admin_is_refused(
    client: httpx.AsyncClient, company: dict[str, Any], engine: AsyncEngine
) -> None:
    set_permission = "mutation($i: SetPermissionInput!) { setPermission(input: $i) { scope } }"
    grant = {
        "subject": f"user:{company['rep_n2']}",
        "resource": "directory",
        "action": "manage",
        "scope": "ALL",
    }
    await data(client, set_permission, {"i": grant}, token=_token(company, "admin"))
    before = await _snapshot(engine)
    operation = "mutation($i: UpdateUserInput!) { updateUser(input: $i) { active } }"
    variables = {"i": {"id": token_subject(company, "admin"), "active": False}}
    code, message = await error_code(client, operation, variables, token=_token(company, "rep_n2"))
    assert (code, message) == ("CONFLICT", "the last active admin cannot lose the admin role")
    assert await _snapshot(engine) == before
    await data(client, set_permission, {"i": grant | {"scope": "NONE"}}, token=_token(company, "admin"))
