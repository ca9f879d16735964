"""Colours: the Okabe–Ito palette, fixed modality colours, and `colour_for`, the one place a group gets its colour."""

from __future__ import annotations

from collections.abc import Iterable

# Okabe & Ito (2008), distinguishable with the common colour-vision deficiencies.
OKABE_ITO: tuple[str, ...] = (
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#000000",
)

# Fixed so that a modality looks the same on every chart, whatever else is on it. Yellow is left out:
# it is the weakest of the eight against a white background.
MODALITY_COLOURS: dict[str, str] = {
    "IV infusion": "#0072B2",
    "IM injection": "#D55E00",
    "Sublingual / troche": "#009E73",
    "Intranasal esketamine": "#CC79A7",
    "Subcutaneous": "#E69F00",
}

ALL_COLOUR = "#555555"  # the whole cohort ("all"): dark grey, so it reads as the backdrop to the groups

_MODALITY_KEYS = {name.casefold(): colour for name, colour in MODALITY_COLOURS.items()}


def colour_for(group: str, groups: Iterable[str]) -> str:
    """The colour of `group` on a chart that shows `groups`.

    Canonical modalities always get their MODALITY_COLOURS entry and "all" is dark grey; any other group
    (site, condition, clinician, "with integration therapy" …) takes the Okabe–Ito colour at its position
    in the sorted list of the chart's groups (positions counted over all of them, cycling after eight).
    Pass every group the chart could show (suppressed ones too) so colours do not shift when one drops out.
    """
    name = str(group)
    key = name.strip().casefold()
    if key in _MODALITY_KEYS:
        return _MODALITY_KEYS[key]
    if key == "all":
        return ALL_COLOUR
    ordered = sorted({str(g) for g in groups} | {name})
    return OKABE_ITO[ordered.index(name) % len(OKABE_ITO)]


def rgba(hex_colour: str, alpha: float) -> str:
    """'#RRGGBB' as 'rgba(r,g,b,alpha)', for translucent bands and links."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"
