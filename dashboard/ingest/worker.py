"""The Data page's import, in a process of its own: `python -m dashboard.ingest.worker SPEC.json`.

The app starts one per Import press (dashboard/views/data.py) so that a file that takes memory or time cannot take
the server with it: the worker has the memory guard (import_memory_mb) and DuckDB's own memory limit, it dies with
the server (even a killed one), and the page kills it when its session ends (the tab is closed, the user leaves or
presses Cancel) or the server stops. Its store is written through dashboard/writer.py, so a killed worker leaves the
store as it was.

SPEC.json: {"target": store path, "files": [{"path", "name"}...], "replace": bool, "memory_mb": int, "mapping": a
column mapping's JSON or null, "save_mapping": a name to save it under or null,
"progress": file it appends one JSON line [file, stage] to as each stage starts, "result": file it writes
(pickled {"reports": [FileReport...]} or {"error": message}) when it is done}."""

from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path

from dashboard.ingest.limits import MemoryGuard, die_with_parent, duckdb_memory_limit


def run(spec: dict) -> dict:
    from dashboard import derive, store, writer
    from dashboard.ingest import ImportBusy, import_files
    from dashboard.ingest import mapping as mappings

    progress_file = open(spec["progress"], "a", encoding="utf-8")  # noqa: SIM115 (open for the whole run)
    current = [None]

    def progress(file: str | None, stage: str) -> None:
        current[0] = file or current[0]
        progress_file.write(json.dumps([file, stage]) + "\n")
        progress_file.flush()

    memory_mb = int(spec["memory_mb"])
    guard = MemoryGuard(memory_mb, lambda: f"the import of {current[0]}" if current[0] else "the import")
    try:
        with guard, writer.writing(Path(spec["target"])) as con:
            if memory_mb:
                con.execute("set memory_limit = $limit", {"limit": duckdb_memory_limit(memory_mb)})
            column_map = mappings.ColumnMap.from_json(spec["mapping"]) if spec.get("mapping") else None
            if column_map and spec.get("save_mapping"):
                mappings.save(con, spec["save_mapping"], column_map)
            reports = import_files(
                con,
                [Path(f["path"]) for f in spec["files"]],
                names=[f["name"] for f in spec["files"]],
                replace=bool(spec["replace"]),
                after_import=derive.refresh,
                progress=progress,
                derive_once=not store.is_lake(spec["target"]),  # a file store is seen only when the import is done
                column_map=column_map,
            )
            progress(None, "saving")
        return {"reports": reports}
    except (ImportBusy, writer.WriterBusy) as exc:
        text = str(exc)
        return {"error": text[:1].upper() + text[1:] + "."}
    except store.StoreError as exc:
        return {"error": f"Nothing was imported. {exc}"}
    except mappings.MappingError as exc:
        return {"error": f"Nothing was imported: {exc}."}
    finally:
        progress_file.close()


def main(argv: list[str]) -> int:
    die_with_parent()
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    result = run(spec)
    partial = Path(spec["result"] + ".partial")
    partial.write_bytes(pickle.dumps(result))
    os.replace(partial, spec["result"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
