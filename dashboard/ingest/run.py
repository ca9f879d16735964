"""Run an import in a worker process (dashboard/ingest/worker.py) and wait for it, telling `show` its progress.

The caller's thread polls every POLL seconds and calls `show(file, stage)` each time until the worker starts saving
the store, so that a Streamlit script can be stopped there (a closed tab, a rerun, the server stopping): whatever
ends the wait, the worker is killed before this returns or raises, and a killed worker leaves the store as it was.
The worker asks the kernel to kill it when the thread that started it ends (PR_SET_PDEATHSIG), so a server killed
outright takes its worker with it."""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

from dashboard import settings
from dashboard.ingest.limits import MEMORY_EXIT

POLL = 0.25
log = logging.getLogger(__name__)


def run_import(
    folder: Path, target: Path, files: list[dict], replace: bool, show, mapping=None, save_as: str | None = None
) -> dict:
    """Import `files` ([{"path", "name"}], already in `folder`) into the store at `target`, through the column
    mapping `mapping` (a ColumnMap) when given, saving it as `save_as` when given. Returns {"reports":
    [FileReport...]} or {"error": message}."""
    spec = {
        "target": str(target),
        "files": files,
        "replace": replace,
        "mapping": mapping.to_json() if mapping else None,
        "save_mapping": save_as or None,
        "memory_mb": settings.load().import_memory_mb,
        "progress": str(folder / "progress.jsonl"),
        "result": str(folder / "result.pickle"),
    }
    (folder / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    Path(spec["progress"]).touch()
    errors = folder / "stderr.txt"
    with errors.open("wb") as stderr:
        worker = subprocess.Popen(
            [sys.executable, "-m", "dashboard.ingest.worker", str(folder / "spec.json")],
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            cwd=os.getcwd(),
            start_new_session=True,  # a Ctrl-C in the server's terminal reaches the server, which then stops it
        )
    try:
        last = (files[0]["name"] if files else None, "read")
        seen = 0
        while worker.poll() is None:
            with open(spec["progress"], encoding="utf-8") as f:
                lines = f.read().splitlines()
            complete = [line for line in lines if line.endswith("]")]
            if len(complete) > seen:
                seen = len(complete)
                file, stage = json.loads(complete[-1])
                last = (file or last[0], stage)
            if last[1] != "saving":
                # a Streamlit script stops here when its session ends or reruns; once the worker is saving the
                # store it is not interrupted, so that a stopped import is always one that saved nothing
                show(*last)
            time.sleep(POLL)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    result = Path(spec["result"])
    if worker.returncode == 0 and result.exists():
        return pickle.loads(result.read_bytes())
    text = errors.read_text(encoding="utf-8", errors="replace")
    if worker.returncode == MEMORY_EXIT:
        message = next((line for line in text.splitlines() if line.startswith("error: ")), "error: out of memory")
        message = message.removeprefix("error: ")
        return {"error": message[:1].upper() + message[1:]}
    log.error("import worker exited with status %s:\n%s", worker.returncode, text)
    return {
        "error": f"The import stopped unexpectedly (exit status {worker.returncode}); nothing was imported. "
        "The server's log has the details."
    }
