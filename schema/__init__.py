"""The GraphQL surface, assembled from the per-domain query and mutation classes."""

import strawberry
from strawberry.extensions import MaskErrors
from strawberry.schema.config import StrawberryConfig

from resolvers.errors import is_public
from schema.users import User, UserQuery


@strawberry.type
class Query(UserQuery):
    pass


def build_schema() -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        types=[User],
        config=StrawberryConfig(disable_field_suggestions=True),
        extensions=[lambda: MaskErrors(should_mask_error=lambda error: not is_public(error))],
    )


schema = build_schema()
