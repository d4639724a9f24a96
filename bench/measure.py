"""What the benchmark reads off a server process."""

import psutil


def rss(pid: int) -> float | None:
    """The largest resident set of the server's worker processes (or of the server itself), in MB."""
    try:
        parent = psutil.Process(pid)
        processes = parent.children(recursive=True) or [parent]
        largest: int = max(p.memory_info().rss for p in processes)
        return largest / 2**20
    except psutil.Error:
        return None
