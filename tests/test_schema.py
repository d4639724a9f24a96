"""The committed schema.graphql is exactly what the code serves (regenerate with `pipecast schema`)."""

from pathlib import Path

from schema import schema

COMMITTED = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_the_committed_schema_is_the_served_one() -> None:
    served = schema.as_str() + "\n"
    assert COMMITTED.read_text() == served, "run `pipecast schema > schema.graphql` and commit the result"
