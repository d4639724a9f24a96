"""What the viewer may do, resolved once per request and handed to the SQL as predicates.

Until the Casbin scopes of DOMAIN.md §6 are enforced (the authorization issue), every signed-in user may
read everything, and directory, settings and pipeline changes need the admin role.
"""

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncEngine

from authz.roles import ADMIN, roles_of


@dataclass
class Access:
    viewer_id: int
    engine: AsyncEngine
    _roles: "asyncio.Future[set[str]] | None" = field(default=None, repr=False)

    async def roles(self) -> set[str]:
        """The viewer's roles, read once per request however many fields ask at the same time."""
        if self._roles is None:
            self._roles = asyncio.ensure_future(self._read_roles())
        return await self._roles

    async def _read_roles(self) -> set[str]:
        async with self.engine.connect() as conn:
            return await roles_of(conn, self.viewer_id)

    async def is_admin(self) -> bool:
        return ADMIN in await self.roles()

    def deals_visible(self) -> ColumnElement[Any] | None:
        """The SQL predicate of the deals the viewer may see; None while every deal is visible."""
        return None
