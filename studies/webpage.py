"""What every HTML output (the report, the interactive maps) goes through before it is written: one escaping
path for strings that come from input, and a Content-Security-Policy that lets only the page's own scripts run.

Strings from a study file or a feeder (feeder, bus and line names, tariff texts, paths) reach a page through
Jinja2's autoescape (the report's template, the map's heading) or `escape` (values the map's pop-ups insert
as HTML); both are MarkupSafe's escaping. The policy (W3C Content Security Policy Level 3) admits each inline
script of the page by its SHA-256 hash and nothing else: no event-handler attribute (`onerror=...`), no
script from elsewhere, no plug-in, no <base> or form target. A page is self-contained: images only as data:
URIs (and web tiles when a map is asked for a basemap); fonts as data: URIs or beside the page (the map
library's icon-font stylesheet names font files there, which an offline map does not ship nor need).
"""
import base64
import hashlib
from html.parser import HTMLParser
from pathlib import Path

import jinja2
from markupsafe import escape

__all__ = ["escape", "render", "with_policy"]

TEMPLATES = Path(__file__).parent / "templates"


def render(template: str, **context) -> str:
    """A template of studies/templates, every value escaped unless the template marks it safe."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    return env.get_template(template).render(**context)


class _Scripts(HTMLParser):
    """The text of each inline <script> element, exactly as the browser hashes it."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self.sourced = 0
        self._open: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.sourced += any(name == "src" for name, _ in attrs)
            self._open = []

    def handle_data(self, data):
        if self._open is not None:
            self._open.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._open is not None:
            self.scripts.append("".join(self._open))
            self._open = None


def with_policy(page: str, *, web_images: bool = False) -> str:
    """`page` with its Content-Security-Policy as the first element of <head> (before any script)."""
    parser = _Scripts()
    parser.feed(page)
    parser.close()
    if parser.sourced:
        raise ValueError("a page must carry its scripts inline (a <script src=...> found)")
    hashes = sorted({"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
                     for s in parser.scripts})
    policy = "; ".join([
        "default-src 'none'", "script-src " + (" ".join(hashes) or "'none'"), "style-src 'unsafe-inline'",
        "img-src data:" + (" https:" if web_images else ""), "font-src 'self' data:", "object-src 'none'",
        "base-uri 'none'", "form-action 'none'"])
    head = page.find("<head>")
    if head < 0:
        raise ValueError("a page needs a <head> element for its policy")
    at = head + len("<head>")
    return page[:at] + f'\n<meta http-equiv="Content-Security-Policy" content="{policy}">' + page[at:]
