"""What one import may take: limits checked before the expensive step, and a guard on the import's memory.

Each limit is far above what a clinic's export needs (the contract has under 40 columns, a code 64 characters and
a label 80) and low enough that a small hostile file cannot tie up the server: a zip bomb, a million columns, a
line or a cell of a gigabyte. The README's "Reliability, privacy and access" lists them."""

from __future__ import annotations

import os
import sys
import threading

MAX_COLUMNS = 5_000  # columns on a file's header row (CSV, Excel, Parquet)
MAX_LINE_BYTES = 4 * 1024 * 1024  # one line of a CSV file; a longer line is a rejected row
MAX_CELL_CHARS = 32_767  # one cell (Excel's own limit); a row with a longer cell is rejected
MAX_XLSX_UNPACKED_BYTES = 512 * 1024 * 1024  # an .xlsx file's parts, unpacked (read from the zip directory first)
MAX_XLSX_ROWS = 1_048_576  # Excel's own limit
MAX_PARQUET_BYTES = 2 * 1024 * 1024 * 1024  # a Parquet file's column data, uncompressed (from its footer)
MAX_PARQUET_ROWS = 50_000_000
MEMORY_EXIT = 3  # the exit status of an import the memory guard stopped


def mib(n: int) -> str:
    return f"{n / 1024 / 1024:,.0f} MiB"


def rss_bytes() -> int | None:
    """This process's resident memory (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class MemoryGuard:
    """Stops this process when its resident memory passes `limit_mb`: a thread looks every 50 ms and, past the
    limit, writes one line to stderr and exits with MEMORY_EXIT at once (os._exit: the interpreter may be inside
    a parser that would not return). An import writes into a copy of the store that replaces it only at the end
    (dashboard/writer.py), so the store is left as it was; the copy is removed by the next writer."""

    def __init__(self, limit_mb: int, what=lambda: "the import"):
        self.limit = limit_mb * 1024 * 1024
        self.limit_mb = limit_mb
        self.what = what  # what is running, for the message (the file being imported)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = None

    def start(self) -> MemoryGuard:
        if self.limit > 0 and rss_bytes() is not None:
            self._thread = threading.Thread(target=self._watch, name="memory-guard", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            rss = rss_bytes() or 0
            self.peak = max(self.peak, rss)
            if rss > self.limit:
                try:
                    sys.stderr.write(
                        f"error: {self.what()} needed more than {self.limit_mb:,} MB of memory (the setting "
                        "import_memory_mb) and was stopped; nothing was imported from this run. Split the file, "
                        "or raise import_memory_mb if the machine has the memory.\n"
                    )
                    sys.stderr.flush()
                finally:
                    os._exit(MEMORY_EXIT)

    def __enter__(self) -> MemoryGuard:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def duckdb_memory_limit(limit_mb: int) -> str:
    """DuckDB's own memory limit for an import's connection: half the guard's, so DuckDB spills to disk well
    before the guard would stop the process."""
    return f"{max(limit_mb // 2, 64)}MB"


def die_with_parent() -> None:
    """Linux: ask the kernel to kill this process when its parent dies (an import the app started dies with the
    app, even when the app is killed outright). Elsewhere nothing."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request was made
        os._exit(1)
