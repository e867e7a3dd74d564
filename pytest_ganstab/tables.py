"""One table renderer for the terminal and for Markdown: the summary, the comparison, ``ganstab list``
and the evidence table all lay their cells out here.

A row is a list of cells; a plain string is a group heading that spans the table (the comparison puts
each run's name above its metrics). Text tables pad columns to their widest cell under a rule of
dashes; Markdown tables escape the pipes in cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

Row = Sequence[str] | str
Align = Literal["left", "right"]
Style = Literal["text", "markdown"]


def render(
    header: Sequence[str],
    rows: Sequence[Row],
    *,
    right: Sequence[str] = (),
    style: Style = "text",
    indent: str = "",
) -> list[str]:
    """The table's lines. Columns named in ``right`` are right-aligned (numbers); the rest left-aligned.
    ``indent`` starts every text line but group headings (a comparison's metrics under their run)."""
    if style == "markdown":
        return _markdown(header, rows)
    cells = [list(row) for row in rows if not isinstance(row, str)]
    widths = [max([len(header[i])] + [len(row[i]) for row in cells]) for i in range(len(header))]
    aligned = [name in right for name in header]

    def line(row: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if is_right else cell.ljust(width)
            for cell, width, is_right in zip(row, widths, aligned, strict=True)
        ]
        return (indent + "  ".join(padded)).rstrip()

    lines = [line(header), indent + "  ".join("-" * width for width in widths)]
    lines += [row if isinstance(row, str) else line(row) for row in rows]
    return lines


def _markdown(header: Sequence[str], rows: Sequence[Row]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    lines = [line(header), "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append(line([f"**{row}**", *[""] * (len(header) - 1)]) if isinstance(row, str) else line(row))
    return lines
