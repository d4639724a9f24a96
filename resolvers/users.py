"""Users: loaders and resolvers."""

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.dataloader import DataLoader

from db.users import UserRecord, users_by_ids


def make_users_by_id_loader(engine: AsyncEngine) -> DataLoader[int, UserRecord | None]:
    async def load(ids: Sequence[int]) -> list[UserRecord | None]:
        async with engine.connect() as conn:
            found = await users_by_ids(conn, ids)
        return [found.get(user_id) for user_id in ids]

    return DataLoader(load_fn=load)
