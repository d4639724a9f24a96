"""Error discipline at the edge: public errors pass, GraphQL's own get BAD_USER_INPUT, database faults
get SERVICE_UNAVAILABLE or TIMEOUT, the rest is masked."""

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from db.faults import MESSAGES, database_fault
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
            return _replaced(error, error.message, {"code": BadUserInput.code, **(error.extensions or {})})
        fault = database_fault(original)
        if fault is not None:
            log.warning("database fault at %s: %s (%s)", error.path, fault, type(original).__name__)
            return _replaced(error, MESSAGES[fault], {"code": fault})
        log.error("internal error at %s", error.path, exc_info=original)
        return _replaced(error, INTERNAL, {"code": "INTERNAL_SERVER_ERROR"})


def _replaced(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    """The same error (location, path) with a public message and extensions, without the original."""
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )
