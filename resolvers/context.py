"""The per-request Context: the viewer, the database and fresh DataLoaders."""

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from db.users import UserRecord
from resolvers.users import make_users_by_id_loader


@dataclass
class Loaders:
    """DataLoaders built once per request; each batch runs on its own short connection."""

    engine: AsyncEngine
    users_by_id: DataLoader[int, UserRecord | None] = field(init=False)

    def __post_init__(self) -> None:
        self.users_by_id = make_users_by_id_loader(self.engine)


@dataclass
class Context:
    viewer: UserRecord
    engine: AsyncEngine
    loaders: Loaders
