"""The demo database: synthetic clients written as ordinary files and imported through the normal import path."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from dashboard import derive, store
from dashboard.demo_data import generate
from dashboard.ingest import import_files


def build_demo(path: str | os.PathLike = store.DEMO_DB, n_clients: int = 600, seed: int = 7) -> dict:
    """(Re)build the demo database at `path`. Built beside the target and moved into place, so a reader
    never sees a half-built demo. Returns the file reports and timings."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    frames = generate(n_clients=n_clients, seed=seed)
    generated = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="demo-", dir=path.parent) as tmp:
        files = []
        for kind in ("clients", "sessions", "scores"):
            file = Path(tmp) / f"demo_{kind}.parquet"
            frames[kind].to_parquet(file, index=False)
            files.append(file)
        building = Path(tmp) / "building.duckdb"
        con = store.connect(building)
        try:
            # the derived tables are built once, after the three files (nobody reads this file until it is moved)
            reports = import_files(con, files)
            con.execute("begin")
            derive.rebuild(con)
            store.mark_demo(con)
            con.execute("commit")
            con.execute("checkpoint")
        finally:
            con.close()
        os.replace(building, path)
    done = time.perf_counter()
    return {
        "path": path,
        "reports": reports,
        "clients": len(frames["clients"]),
        "sessions": len(frames["sessions"]),
        "scores": len(frames["scores"]),
        "seconds_generate": generated - started,
        "seconds_total": done - started,
    }
