"""Deal lists: every DealFilter field, every DealOrder, keyset pages, nested user and team deals."""

from typing import Any

import httpx
import pytest

from tests.builders import Api
from tests.support import error_code, token_for


@pytest.fixture(scope="module")
async def book(client: httpx.AsyncClient, admin: int) -> dict[str, Any]:
    """Two pipelines, a team tree (Sales ⊃ North ⊃ Fjord), three owners and eight deals with known fields."""
    api = Api(client, token_for(admin))
    await api.rate("EUR", "2.00", "2020-01-01")
    main = await api.pipeline("Main")
    side = await api.pipeline("Side", [{"label": "Open", "probability": 0.5, "state": "OPEN"}])
    sales = await api.team("Sales")
    north = await api.team("North", sales)
    fjord = await api.team("Fjord", north)
    south = await api.team("South", sales)
    ola = await api.user("Ola", "ola@example.com")
    kari = await api.user("Kari", "kari@example.com")
    per = await api.user("Per", "per@example.com")
    await api.member(fjord, ola)
    await api.member(north, kari)
    await api.member(south, per)
    await api.member(fjord, per, primary=False)
    deal = api.deal
    await deal(main, "Appointment scheduled", "500.00", "2026-10-05", name="Alpha", ownerId=ola)
    await deal(main, "Contract sent", "300.00", "2026-11-10", name="Bravo", ownerId=ola, currency="EUR")
    await deal(main, "Closed won", "700.00", "2026-12-31", name="Charlie", ownerId=kari)
    await deal(main, "Closed lost", "100.00", "2027-01-01", name="Delta", ownerId=kari)
    await deal(
        main, "Qualified to buy", "900.00", "2026-09-30", name="Echo", ownerId=per, forecastCategory="COMMIT"
    )
    await deal(main, "Presentation scheduled", "650.00", "2026-11-15", name="Foxtrot")
    await deal(side, "Open", "50.00", "2026-11-20", name="Golf alpha", ownerId=per)
    await deal(main, "Decision maker bought-in", "400.00", "2026-11-01", name="Hotel", ownerId=ola)
    return {"api": api, "main": main, "side": side, "sales": sales, "north": north, "fjord": fjord,
            "south": south, "ola": ola, "kari": kari, "per": per}  # fmt: skip


DEALS = "query($f: DealFilter, $o: DealOrder, $n: Int, $a: String) { deals(filter: $f, orderBy: $o, first: $n, after: $a) { totalCount pageInfo { hasNextPage endCursor } edges { node { name } } } }"


async def _names(api: Api, filter: dict[str, Any] | None = None, order: str | None = None) -> list[str]:
    result = (await api.run(DEALS, f=filter, o=order))["deals"]
    found = [edge["node"]["name"] for edge in result["edges"]]
    assert result["totalCount"] == len(found)
    return found


async def test_every_filter(book: dict[str, Any]) -> None:
    api: Api = book["api"]
    main, side = book["main"], book["side"]
    everything = ["Echo", "Alpha", "Hotel", "Bravo", "Foxtrot", "Golf alpha", "Charlie", "Delta"]
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({}, everything),
        ({"pipelineId": side["id"]}, ["Golf alpha"]),
        ({"closeDateFrom": "2026-11-01", "closeDateTo": "2026-11-15"}, ["Hotel", "Bravo", "Foxtrot"]),
        ({"period": "2026-11"}, ["Hotel", "Bravo", "Foxtrot", "Golf alpha"]),
        ({"period": "2026-Q4"}, ["Alpha", "Hotel", "Bravo", "Foxtrot", "Golf alpha", "Charlie"]),
        ({"period": "2026-Q4", "closeDateFrom": "2026-11-12"}, ["Foxtrot", "Golf alpha", "Charlie"]),
        ({"stageIds": [main["stages"]["Closed won"], main["stages"]["Closed lost"]]}, ["Charlie", "Delta"]),
        ({"forecastCategories": ["COMMIT"]}, ["Echo", "Bravo"]),
        ({"forecastCategories": ["BEST_CASE", "NOT_FORECASTED"]}, ["Hotel", "Foxtrot", "Delta"]),
        ({"ownerIds": [book["kari"]]}, ["Charlie", "Delta"]),
        ({"teamId": book["north"]}, ["Echo", "Alpha", "Hotel", "Bravo", "Golf alpha", "Charlie", "Delta"]),
        ({"teamId": book["fjord"]}, ["Echo", "Alpha", "Hotel", "Bravo", "Golf alpha"]),
        ({"teamId": book["south"]}, ["Echo", "Golf alpha"]),
        ({"state": "WON"}, ["Charlie"]),
        ({"state": "OPEN", "pipelineId": main["id"], "ownerIds": [book["ola"]]}, ["Alpha", "Hotel", "Bravo"]),
        ({"search": "ALPHA"}, ["Alpha", "Golf alpha"]),
        ({"search": "_"}, []),
    ]
    for filter_, expected in cases:
        assert await _names(api, filter_) == expected, filter_


async def test_every_order_and_its_pages(book: dict[str, Any]) -> None:
    api: Api = book["api"]
    expected = {
        "CLOSE_DATE_ASC": ["Echo", "Alpha", "Hotel", "Bravo", "Foxtrot", "Golf alpha", "Charlie", "Delta"],
        "CLOSE_DATE_DESC": ["Delta", "Charlie", "Golf alpha", "Foxtrot", "Bravo", "Hotel", "Alpha", "Echo"],
        # In company currency: Bravo is 300 EUR = 600 USD.
        "AMOUNT_ASC": ["Golf alpha", "Delta", "Hotel", "Alpha", "Bravo", "Foxtrot", "Charlie", "Echo"],
        "AMOUNT_DESC": ["Echo", "Charlie", "Foxtrot", "Bravo", "Alpha", "Hotel", "Delta", "Golf alpha"],
        "NAME_ASC": ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf alpha", "Hotel"],
        "UPDATED_DESC": ["Hotel", "Golf alpha", "Foxtrot", "Echo", "Delta", "Charlie", "Bravo", "Alpha"],
    }
    for order, names in expected.items():
        assert await _names(api, order=order) == names, order
        walked: list[str] = []
        after = None
        while True:
            page = (await api.run(DEALS, o=order, n=3, a=after))["deals"]
            walked += [edge["node"]["name"] for edge in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert walked == names, order


async def test_a_cursor_belongs_to_its_order(book: dict[str, Any]) -> None:
    api: Api = book["api"]
    cursor = (await api.run(DEALS, o="NAME_ASC", n=1))["deals"]["pageInfo"]["endCursor"]
    code, message = await error_code(api.client, DEALS, {"o": "AMOUNT_DESC", "a": cursor}, token=api.token)
    assert (code, "is not a cursor this list issued" in message) == ("BAD_USER_INPUT", True)


@pytest.mark.parametrize(
    ("filter_", "message"),
    [
        ({"period": "2026-13"}, "month must be 01–12"),
        ({"period": "2026-Q5"}, "quarter must be Q1–Q4"),
        ({"period": "2026-1"}, "is not a month as YYYY-MM"),
        ({"period": "26-01"}, "is not a month as YYYY-MM"),
        ({"period": ""}, "is not a month as YYYY-MM"),
        ({"period": 202611}, "is not a month as YYYY-MM"),
        ({"stageIds": ["bad"]}, "filter.stageIds: 'bad' is not an ID issued by this API"),
        ({"teamId": "VXNlcjox"}, "filter.teamId: 'VXNlcjox' is the ID of a User, not of a Team"),
        ({"forecastCategories": ["MAYBE"]}, "MAYBE"),
    ],
)
async def test_bad_filters_are_refused(book: dict[str, Any], filter_: dict[str, Any], message: str) -> None:
    api: Api = book["api"]
    code, text = await error_code(api.client, DEALS, {"f": filter_}, token=api.token)
    assert (code, message in text) == ("BAD_USER_INPUT", True), text


async def test_nested_deals_of_users_and_teams(book: dict[str, Any]) -> None:
    api: Api = book["api"]
    query = """query($n: ID!, $f: ID!) {
      north: node(id: $n) { ... on Team { deals(orderBy: NAME_ASC, first: 3) { totalCount edges { node { name } } }
        members(includeDescendants: true) { edges { node { name deals(filter: {period: "2026-Q4"}) { totalCount edges { node { name owner { name } } } } } } } } }
      fjord: node(id: $f) { ... on Team { deals(filter: {state: OPEN}) { totalCount edges { node { name } } } } } }"""
    result = await api.run(query, n=book["north"], f=book["fjord"])
    north = result["north"]
    assert north["deals"]["totalCount"] == 7
    assert [e["node"]["name"] for e in north["deals"]["edges"]] == ["Alpha", "Bravo", "Charlie"]
    members = {e["node"]["name"]: e["node"]["deals"] for e in north["members"]["edges"]}
    assert set(members) == {"Kari", "Ola", "Per"}
    assert [e["node"]["name"] for e in members["Ola"]["edges"]] == ["Alpha", "Hotel", "Bravo"]
    assert {e["node"]["owner"]["name"] for e in members["Ola"]["edges"]} == {"Ola"}
    assert [e["node"]["name"] for e in members["Kari"]["edges"]] == ["Charlie"]
    assert [e["node"]["name"] for e in members["Per"]["edges"]] == ["Golf alpha"]
    assert members["Per"]["totalCount"] == 1
    assert [e["node"]["name"] for e in result["fjord"]["deals"]["edges"]] == [
        "Echo",
        "Alpha",
        "Hotel",
        "Bravo",
        "Golf alpha",
    ]
