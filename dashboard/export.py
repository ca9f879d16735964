"""Files the dashboard writes for people: CSV downloads that spreadsheets open safely."""

from __future__ import annotations

import io

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """Text a spreadsheet would run as a formula (=HYPERLINK(...), +cmd, @SUM) is prefixed with a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        try:
            float(value)  # a negative number such as -12.5 is data, not a formula
            return value
        except ValueError:
            return "'" + value
    return value


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """A frame as UTF-8 CSV with every text cell neutralised."""
    safe = frame.copy()
    safe.columns = [neutralise(str(c)) for c in safe.columns]
    for col in safe.columns:
        if safe[col].dtype == object or pd.api.types.is_string_dtype(safe[col]):
            safe[col] = safe[col].map(neutralise)
    buf = io.StringIO()
    safe.to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8")


def rejects_frame(reports) -> pd.DataFrame:
    """All rejected rows of some imports, one row each, with the file they came from."""
    frames = [r.rejects.assign(file=r.file) for r in reports if len(r.rejects)]
    if not frames:
        return pd.DataFrame(columns=["file", "line", "column", "reason", "value"])
    out = pd.concat(frames, ignore_index=True)
    return out[["file", "line", "column", "reason", "value"]]


def write_rejects_csv(reports, path) -> int:
    frame = rejects_frame(reports)
    with open(path, "wb") as f:
        f.write(to_csv_bytes(frame))
    return len(frame)
