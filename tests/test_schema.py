"""The served schema: the committed copy is exact, and the API contract holds."""

from pathlib import Path

from graphql import build_schema, find_breaking_changes

from schema import schema

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "schema.graphql"
CONTRACT = ROOT.parent / "shared" / "api" / "contract.graphql"


def test_the_committed_schema_is_the_served_one() -> None:
    served = schema.as_str() + "\n"
    assert COMMITTED.read_text() == served, "run `pipecast schema > schema.graphql` and commit the result"


def test_the_contract_holds() -> None:
    breaking = find_breaking_changes(build_schema(CONTRACT.read_text()), build_schema(schema.as_str()))
    assert [change.description for change in breaking] == []
