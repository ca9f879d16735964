"""Files the dashboard writes for people: CSV downloads that spreadsheets open safely."""

from __future__ import annotations

import io
import re

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# a plain negative number (-12.5, -3e2) is data, not a formula; float() would also pass "-inf", "-nan", "-1_000"
# and " -1", which a spreadsheet reads as formulas or text
NEGATIVE_NUMBER = re.compile(r"-(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralise(value):
    """Text a spreadsheet would run as a formula (=HYPERLINK(...), +cmd, @SUM, and the same after leading
    spaces or line breaks, which some spreadsheets strip) is prefixed with a quote."""
    if isinstance(value, str) and (value.startswith(FORMULA_START) or value.lstrip().startswith(FORMULA_START)):
        if NEGATIVE_NUMBER.fullmatch(value):
            return value
        return "'" + value
    return value


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """A frame as UTF-8 CSV with every text cell neutralised."""
    safe = frame.copy()
    safe.columns = [neutralise(str(c)) for c in safe.columns]
    for col in range(safe.shape[1]):  # by position: neutralised column names may repeat
        series = safe.iloc[:, col]
        if isinstance(series.dtype, pd.CategoricalDtype):  # categories are text too, and map would keep them
            series = series.astype(object)
        if series.dtype == object or pd.api.types.is_string_dtype(series):
            safe.isetitem(col, series.map(neutralise))
    buf = io.StringIO()
    # CRLF (RFC 4180) so the writer quotes every cell holding a CR or LF: with "\n" a bare CR went out unquoted,
    # and a spreadsheet starts a new row there, whose first cell ("x\r=HYPERLINK(...)") nothing neutralised
    safe.to_csv(buf, index=False, lineterminator="\r\n")
    return buf.getvalue().encode("utf-8")


def rejects_frame(reports) -> pd.DataFrame:
    """All rejected rows of some imports, one row each, with the file they came from."""
    frames = [
        r.rejects.assign(file=r.file, line=[f"{getattr(r, 'line_label', 'line')} {x}" for x in r.rejects.line])
        if getattr(r, "line_label", "line") != "line"
        else r.rejects.assign(file=r.file)
        for r in reports
        if len(r.rejects)
    ]
    if not frames:
        return pd.DataFrame(columns=["file", "line", "column", "reason", "value"])
    out = pd.concat(frames, ignore_index=True)
    return out[["file", "line", "column", "reason", "value"]]


def write_rejects_csv(reports, path) -> int:
    frame = rejects_frame(reports)
    with open(path, "wb") as f:
        f.write(to_csv_bytes(frame))
    return len(frame)
