"""Building a company through the public API, as an admin would."""

from dataclasses import dataclass
from typing import Any

import httpx

from tests.support import data, token_for

CLASSIC_STAGES = [
    {"label": "Appointment scheduled", "probability": 0.2, "state": "OPEN"},
    {"label": "Qualified to buy", "probability": 0.4, "state": "OPEN"},
    {"label": "Presentation scheduled", "probability": 0.6, "state": "OPEN", "forecastCategory": "BEST_CASE"},
    {
        "label": "Decision maker bought-in",
        "probability": 0.8,
        "state": "OPEN",
        "forecastCategory": "BEST_CASE",
    },
    {"label": "Contract sent", "probability": 0.9, "state": "OPEN", "forecastCategory": "COMMIT"},
    {"label": "Closed won", "probability": 1.0, "state": "WON"},
    {"label": "Closed lost", "probability": 0.0, "state": "LOST"},
]


@dataclass
class Api:
    client: httpx.AsyncClient
    token: str

    async def run(self, query: str, **variables: Any) -> Any:
        return await data(self.client, query, variables, token=self.token)

    async def team(self, name: str, parent: str | None = None) -> str:
        result = await self.run(
            "mutation($i: CreateTeamInput!) { createTeam(input: $i) { id } }",
            i={"name": name, "parentId": parent},
        )
        return str(result["createTeam"]["id"])

    async def user(self, name: str, email: str, *, seat: bool = True, roles: list[str] | None = None) -> str:
        result = await self.run(
            "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
            i={"name": name, "email": email, "salesSeat": seat, "roles": roles or []},
        )
        return str(result["createUser"]["id"])

    async def member(self, team: str, user: str, *, role: str = "MEMBER", primary: bool = True) -> None:
        await self.run(
            "mutation($i: TeamMembershipInput!) { setTeamMembership(input: $i) { primary } }",
            i={"teamId": team, "userId": user, "role": role, "primary": primary},
        )

    async def pipeline(
        self, name: str, stages: list[dict[str, Any]] | None = None, **settings: Any
    ) -> dict[str, Any]:
        """The new pipeline's id and its stages' ids by label."""
        result = await self.run(
            "mutation($i: CreatePipelineInput!) { createPipeline(input: $i) { id stages { id label } } }",
            i={"name": name, "stages": stages or CLASSIC_STAGES} | settings,
        )
        created = result["createPipeline"]
        return {"id": created["id"], "stages": {s["label"]: s["id"] for s in created["stages"]}}

    async def deal(self, pipeline: dict[str, Any], stage: str, amount: str, close: str, **fields: Any) -> str:
        result = await self.run(
            "mutation($i: CreateDealInput!) { createDeal(input: $i) { id } }",
            i={
                "name": fields.pop("name", f"{stage} {amount}"),
                "pipelineId": pipeline["id"],
                "stageId": pipeline["stages"][stage],
                "amount": amount,
                "closeDate": close,
            }
            | fields,
        )
        return str(result["createDeal"]["id"])

    async def rate(self, currency: str, rate: str, valid_from: str) -> None:
        await self.run(
            "mutation($i: ExchangeRateInput!) { setExchangeRate(input: $i) { rate } }",
            i={"currency": currency, "rate": rate, "validFrom": valid_from},
        )


RATE = "mutation($input: ExchangeRateInput!) { setExchangeRate(input: $input) { currency rate validFrom } }"


async def pipelines_world(client: httpx.AsyncClient, admin: int) -> dict[str, Any]:
    """Two pipelines (New business by quarter with the classic stages; Renewals by month, raw), a rep and
    an EUR rate, made through the API as an admin: the world of the deal and pipeline tests."""
    token = token_for(admin)
    created = await data(
        client,
        """mutation($input: CreatePipelineInput!) { createPipeline(input: $input) {
          id name periodKind forecastAmount stages { id label probability state forecastCategory } } }""",
        {"input": {"name": "New business", "stages": CLASSIC_STAGES}},
        token=token,
    )
    pipeline = created["createPipeline"]
    other = await data(
        client,
        "mutation($input: CreatePipelineInput!) { createPipeline(input: $input) { id stages { id } } }",
        {"input": {"name": "Renewals", "stages": [{"label": "Open", "probability": 0.5, "state": "OPEN"}],
                   "periodKind": "MONTH", "forecastAmount": "RAW"}},
        token=token,
    )  # fmt: skip
    rep = await data(
        client,
        'mutation { createUser(input: {name: "Rita Rep", email: "rita@example.com", salesSeat: true, roles: ["sales_rep"]}) { id } }',
        token=token,
    )
    await data(
        client, RATE, {"input": {"currency": "EUR", "rate": "1.10", "validFrom": "2020-01-01"}}, token=token
    )
    stage = {s["label"]: s["id"] for s in pipeline["stages"]}
    return {
        "token": token,
        "pipeline": pipeline,
        "pipeline_id": pipeline["id"],
        "other_pipeline": other["createPipeline"]["id"],
        "other_stage": other["createPipeline"]["stages"][0]["id"],
        "stage": stage,
        "rep": rep["createUser"]["id"],
    }
