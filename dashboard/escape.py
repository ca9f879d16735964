"""Text from data (labels, instrument and file names, column headers, link parameters) shown to people: one function
per renderer, so a value is always shown as the characters it holds and never acts as markup.

- `md` for everything Streamlit renders as markdown: st.markdown, st.caption, st.title/header/subheader, the alert
  boxes (st.info, st.warning, st.error, st.success), st.toast, st.status and st.progress text, metric labels and
  help tooltips, widget labels, expander and tab labels, and the options of st.radio, st.segmented_control,
  st.pills and st.select_slider. (st.selectbox and st.multiselect options, st.text, st.code and st.dataframe
  cells are plain text: pass them the value itself, not `md` of it, or the backslashes show.)
- `plot` for plotly text: titles, axis titles and tick labels (categories), legend names, hover text, customdata
  shown through a hovertemplate, Sankey node labels and annotations. Plotly reads a subset of HTML in all of them
  (<a href>, <b>, <i>, <br>, <span style>, <sup>, entities) and TeX between $ signs when MathJax is loaded.
- `grid` for a frame handed to st.dataframe: the table's own "Download as CSV" writes cells and headers as they
  are, so text a spreadsheet would run as a formula is quoted as in the app's own CSV downloads (export.neutralise).
"""

from __future__ import annotations

import functools
import re
import unicodedata

import pandas as pd

from dashboard.export import neutralise

WORD_JOINER = "\u2060"  # invisible and zero-width: it breaks a pattern without changing what people read
# the ASCII punctuation that means something inside a line of Streamlit's markdown (CommonMark, GFM and Streamlit's
# own): escapes, code spans, emphasis and strikethrough, links and images, HTML tags and autolinks, entities, $math$,
# :directive[...] / :material/icon: / :emoji:, tables, headings. Each is escaped with a backslash, which CommonMark
# allows for every ASCII punctuation character. The rest (- , . / ' ( ) % ; ? + =) only matters at a line's start.
MD_INLINE = re.compile(r"([\\`*_~\[\]<>&$:@|#!])")
# at the start of a line: a list item (- + or 1. 1)), a block quote (>, escaped above), a setext or thematic rule
MD_LINE_START = re.compile(r"^(\s*)([-+=])|^(\s*\d+)([.)])")
# Bidirectional overrides and isolates make text display in another order than it is stored (a spoofing device)
BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def plain(value) -> str:
    """The value as one line of text: control characters (line breaks, tabs, NUL …) as spaces, bidirectional
    overrides removed, so a value cannot start a new markdown block or reorder what is displayed."""
    return _plain("" if value is None else str(value))


@functools.lru_cache(maxsize=4096)  # a chart escapes the same group names and titles once per point
def _plain(text: str) -> str:
    text = text.translate(BIDI_CONTROLS)
    return "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)


def md(value) -> str:
    """`value` as markdown that Streamlit shows literally, whatever it holds and wherever in a line it is put.

    The characters that are markdown inside a line are backslash-escaped, and those that are markdown only at the
    start of a line are escaped there. That is not enough on its own: after parsing, Streamlit's markdown
    (remark-gfm) turns text that looks like www.host, http://… or name@host into a link, and :shortcode: into an
    emoji or icon, on the text with its escapes already removed. A word joiner (U+2060, invisible) after every ':'
    and '@' and between 'www' and its '.' breaks those patterns."""
    text = MD_INLINE.sub(r"\\\1", plain(value))
    text = MD_LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[2] else f"{m[3]}\\{m[4]}", text)
    text = text.replace(":", ":" + WORD_JOINER).replace("@", "@" + WORD_JOINER)
    return re.sub(r"(?i)(www)(?=\.)", r"\1" + WORD_JOINER, text)


def md_list(values, sep: str = ", ") -> str:
    """Several values, each escaped, joined by `sep` (itself markdown: keep it plain)."""
    return sep.join(md(v) for v in values)


def shorten(value, limit: int = 80) -> str:
    """A value from outside (a link parameter) cut to `limit` characters, with … when it was longer: a notice
    names what it ignored without repeating a paragraph of someone else's text."""
    text = plain(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plot(value) -> str:
    """`value` as plotly text that is shown literally: & < > as HTML entities (plotly decodes entities after it has
    split the text into tags, so &lt;b&gt; shows as <b>) and $ as &#36; (no TeX)."""
    text = plain(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("$", "&#36;")


def grid(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` for st.dataframe whose text cells and column names cannot run as spreadsheet formulas in
    the table's own CSV download (=, +, -, @, tab or CR first, after any spaces: quoted with '). Numbers, dates and
    plain negative numbers as text are left as they are."""
    out = frame.copy()
    out.columns = [neutralise(c) if isinstance(c, str) else c for c in out.columns]
    for i in range(out.shape[1]):  # by position: column names may repeat
        series = out.iloc[:, i]
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        if series.dtype == object or pd.api.types.is_string_dtype(series):
            out.isetitem(i, series.map(neutralise))
    return out


def md_lines(text) -> str:
    """Text of several lines (an import's report) as markdown: each line escaped, the lines kept apart."""
    return "  \n".join(md(line.strip()) for line in str(text).splitlines() if line.strip())
