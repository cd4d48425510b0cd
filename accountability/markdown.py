"""Authored Markdown rendered to HTML that is safe to show: Markdown, then nh3's allow-list
sanitiser (no scripts, no styles, no event handlers; links keep only safe schemes)."""

from __future__ import annotations

import markdown as markdown_lib
import nh3

ALLOWED_TAGS = {
    "p", "br", "hr", "h3", "h4", "h5", "h6", "strong", "em", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


def render(text: str) -> str:
    """Sanitised HTML for ``text`` (headings start at h3: the page owns h1 and h2)."""
    html = markdown_lib.markdown(text or "", extensions=["tables", "fenced_code"])
    html = html.replace("<h1>", "<h3>").replace("</h1>", "</h3>")
    html = html.replace("<h2>", "<h4>").replace("</h2>", "</h4>")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
