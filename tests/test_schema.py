"""The served schema: the committed copy is exact, and the API contract holds.

The contract clients build against is kept in the repository (docs/contract.graphql), so a clone checks
it with nothing beside it; where the team's shared copy sits beside the checkout (as in CI), the two must
be the same text."""

from pathlib import Path

from graphql import build_schema, find_breaking_changes

from schema.root import build_schema as build_served_schema

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "schema.graphql"
schema = build_served_schema()
CONTRACT = ROOT / "docs" / "contract.graphql"
SHARED_CONTRACT = ROOT.parent / "shared" / "api" / "contract.graphql"


def test_the_committed_schema_is_the_served_one() -> None:
    served = schema.as_str() + "\n"
    assert COMMITTED.read_text() == served, "run `pipecast schema > schema.graphql` and commit the result"


def test_the_contract_holds() -> None:
    breaking = find_breaking_changes(build_schema(CONTRACT.read_text()), build_schema(schema.as_str()))
    assert [change.description for change in breaking] == []


def test_the_capabilities_built_keep_their_shapes() -> None:
    """docs/next/ holds the shapes of the capabilities built beyond the contract (extensions of it): the
    served schema keeps each of them too."""
    for extension in sorted((ROOT / "docs" / "next").glob("*.graphql")):
        shaped = build_schema(CONTRACT.read_text() + "\n" + extension.read_text())
        breaking = find_breaking_changes(shaped, build_schema(schema.as_str()))
        assert [change.description for change in breaking] == [], extension.name


def test_the_kept_contract_is_the_shared_one() -> None:
    """Without the shared copy there is nothing to compare: the kept contract is the reference."""
    if SHARED_CONTRACT.exists():
        assert CONTRACT.read_text() == SHARED_CONTRACT.read_text(), "copy the shared contract into docs/"
    assert "type Query" in CONTRACT.read_text()


def test_everything_clients_see_is_described() -> None:
    """Every type, field, argument and enum value carries a description a client developer can act on."""
    from graphql import (  # noqa: PLC0415
        GraphQLEnumType,
        GraphQLInputObjectType,
        GraphQLInterfaceType,
        GraphQLObjectType,
    )

    missing = []
    for name, type_ in schema._schema.type_map.items():
        if name.startswith("__") or name in ("String", "Int", "Float", "Boolean", "ID"):
            continue
        if not type_.description:
            missing.append(name)
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for field_name, field in type_.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                missing += [f"{name}.{field_name}({a})" for a, arg in getattr(field, "args", {}).items()
                            if not arg.description]  # fmt: skip
        if isinstance(type_, GraphQLEnumType):
            missing += [f"{name}.{v}" for v, value in type_.values.items() if not value.description]
    assert missing == []


def test_admin_fields_declare_the_permission_they_need() -> None:
    """The requirement is declared with the field (schema/permissions.py), so the schema states it."""
    needs = {
        "directory:manage": ["createUser", "updateUser", "setTeamMembership", "removeTeamMembership",
                             "createTeam", "updateTeam"],
        "forecast:settings": ["createPipeline", "updatePipelineSettings", "updateStageMapping",
                              "updateCompanySettings", "setExchangeRate"],
        "permissions:manage": ["createRole", "assignRole", "unassignRole", "setPermission"],
    }  # fmt: skip
    mutations = schema._schema.mutation_type
    assert mutations is not None
    for permission, names in needs.items():
        for name in names:
            assert (mutations.fields[name].description or "").endswith(f"Needs {permission}."), name
    queries = schema._schema.query_type
    assert queries is not None
    for name in ("roles", "auditLog"):
        assert (queries.fields[name].description or "").endswith("Needs permissions:manage."), name
