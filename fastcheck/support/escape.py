"""Text from a results file made safe for where the report puts it: Markdown, a code fence, a CSV cell, a plot.

A sweep's files can be edited or planted (a problem named ``<script>…``, a
``sweep.json`` whose command holds a code fence), so every value a report
copies from them goes through one of these:

* :func:`md_text`: Markdown prose, a heading or a table cell shows the value as
  text: HTML and Markdown syntax escaped, line breaks and other control
  characters made spaces (a value cannot end its line, its cell or its heading);
* :func:`md_code_block`: a fenced block whose fence is longer than any run of
  backticks in the text, so the text cannot close it early;
* :func:`csv_cell` / :func:`csv_uncell`: a text cell that a spreadsheet would
  read as a formula (leading ``=``, ``+``, ``-``, ``@``, a tab or a carriage
  return) gets a leading ``'``; so does a cell that starts with ``'`` itself,
  so that :func:`csv_uncell` gives back exactly the text written;
* :func:`mathtext_plain`: matplotlib text shows a ``$`` as a dollar sign,
  never as the start of a formula it would fail to parse (one line, too).
"""
from __future__ import annotations

import html
import re

__all__ = ["csv_cell", "csv_uncell", "mathtext_plain", "md_code_block", "md_text"]

#: Control characters (line breaks included) and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: Markdown punctuation that can start emphasis, code, links, images, headings, tables or strikethrough.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|~])")
#: What makes a spreadsheet read a cell as a formula (OWASP's list), and the quote that marks an escaped cell.
_FORMULA = ("=", "+", "-", "@", "\t", "\r", "'")


def md_text(value) -> str:
    """``value`` as Markdown that renders as exactly its text, on one line."""
    text = _CONTROL.sub(" ", str(value))
    return _MARKDOWN.sub(r"\\\1", html.escape(text, quote=False))


def md_code_block(text, info: str = "") -> list:
    """The lines of a fenced code block showing ``text`` verbatim (it cannot close the fence)."""
    text = str(text).replace("\r\n", "\n").replace("\r", "\n")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, *text.split("\n"), fence]


def csv_cell(value):
    """A text cell no spreadsheet evaluates (anything but a string is returned as it is)."""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def csv_uncell(value):
    """The text :func:`csv_cell` was given."""
    if isinstance(value, str) and value.startswith("'"):
        return value[1:]
    return value


def mathtext_plain(value) -> str:
    """``value`` for a matplotlib title, label or legend: dollar signs shown, not parsed as mathtext, and
    control characters (which no font draws) made spaces."""
    return _CONTROL.sub(" ", str(value)).replace("$", r"\$")
