"""Layout checks of pages in Chromium: how many lines a piece of text takes as laid out now.

``line_count(locator, text)`` finds ``text`` in the element's text (across ``<wbr>`` and
inline tags) and counts the distinct lines its glyphs sit on: 1 means it never wraps, so a
word or a value path that must read whole can be held to it at a narrow width.
"""

from __future__ import annotations

__all__ = ["line_count"]

from playwright.sync_api import Locator

_LINES_OF = """(element, text) => {
    const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    const nodes = [];
    let whole = "";
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        nodes.push([node, whole.length]);
        whole += node.data;
    }
    const start = whole.indexOf(text);
    if (start < 0) return -1;
    const end = start + text.length;
    const range = document.createRange();
    for (const [node, offset] of nodes) {
        const length = node.data.length;
        if (offset <= start && start <= offset + length) range.setStart(node, start - offset);
        if (offset <= end && end <= offset + length) {
            range.setEnd(node, end - offset);
            break;
        }
    }
    const tops = new Set();
    for (const box of range.getClientRects()) if (box.width > 0) tops.add(Math.round(box.top));
    return tops.size;
}"""


def line_count(locator: Locator, text: str) -> int:
    """The number of lines ``text`` is laid out on inside ``locator``'s element.

    Raises ``AssertionError`` when the element's text does not hold ``text``.
    """
    lines: int = locator.evaluate(_LINES_OF, text)
    assert lines > 0, f"{text!r} is not in the text of {locator}"
    return lines
