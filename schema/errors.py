"""Error discipline at the edge: public errors pass, GraphQL's own get BAD_USER_INPUT, the rest is masked."""

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from resolvers.errors import BadUserInput, PublicError

log = logging.getLogger("pipecast.errors")

INTERNAL = "Internal server error"


class PipecastErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda error: not isinstance(error.original_error, PublicError))

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if original is None or error.path is None:
            # Errors before execution (syntax, validation, variable coercion) are about the request.
            return GraphQLError(
                error.message,
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                extensions={"code": BadUserInput.code, **(error.extensions or {})},
            )
        log.error("internal error at %s", error.path, exc_info=original)
        return GraphQLError(
            INTERNAL,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR"},
        )
