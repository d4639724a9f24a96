"""The User type and the user queries."""

import strawberry
from strawberry import relay

from db.users import UserRecord
from resolvers.context import Context


@strawberry.type(description="A person who can sign in; sales-seat holders appear in forecast rows.")
class User(relay.Node):
    id: relay.NodeID[int]
    name: str
    email: str
    active: bool
    sales_seat: bool = strawberry.field(
        description="Only users holding a sales seat appear in forecast rows."
    )

    @classmethod
    def from_record(cls, record: UserRecord) -> "User":
        return cls(
            id=record.id,
            name=record.name,
            email=record.email,
            active=record.active,
            sales_seat=record.sales_seat,
        )


@strawberry.type
class UserQuery:
    @strawberry.field(description="The authenticated user.")
    def viewer(self, info: strawberry.Info[Context]) -> User:
        return User.from_record(info.context.viewer)
