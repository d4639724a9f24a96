"""The errors clients may act on. Each carries `extensions.code`; anything else is masked."""

from typing import Any

from graphql import GraphQLError


class PublicError(GraphQLError):
    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": self.code, **extensions})


class Unauthenticated(PublicError):
    code = "UNAUTHENTICATED"


class Forbidden(PublicError):
    code = "FORBIDDEN"


class NotFound(PublicError):
    code = "NOT_FOUND"


class BadUserInput(PublicError):
    code = "BAD_USER_INPUT"


class Conflict(PublicError):
    code = "CONFLICT"


class LimitExceeded(PublicError):
    code = "LIMIT_EXCEEDED"
