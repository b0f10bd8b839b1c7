"""Every link and asset of a catalog resolves: a walk over a static catalog folder or a served catalog
(STAC API or static catalog over HTTP) that follows every link and asset of every catalog, collection
and item, and reports each one that does not answer.

Over HTTP every target is requested with a real client and must answer 200; JSON documents of STAC
(catalogs, collections, items, item pages) are read and walked in turn. Web-map link templates
(``{z}/{x}/{y}``) are requested for the tile under the document's centre. Only targets on the start's
own server (or inside the folder) are followed; links elsewhere (licences, Planetary Computer) are
counted as external and not requested: the checker runs offline.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urljoin, urlsplit

#: Zoom at which a templated web-map link is tried (a granule spans a few tiles).
TEMPLATE_ZOOM = 10
#: Link relations not followed: they name operations (search), not documents to read.
SKIPPED_RELS = {"search"}


@dataclass
class LinkReport:
    """What a walk found: documents read, targets checked, external links left alone, problems."""

    documents: int = 0
    checked: int = 0
    external: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the end of the run."""
        return (f"{self.documents} documents walked, {self.checked} links and assets checked, "
                f"{self.external} external left alone, {len(self.problems)} broken")


def _tile_of(doc: dict[str, Any], z: int = TEMPLATE_ZOOM) -> tuple[int, int, int]:
    """WebMercatorQuad tile under the centre of a document's bbox (or extent)."""
    bbox = doc.get("bbox") or (doc.get("extent", {}).get("spatial", {}).get("bbox") or [[0, 0, 0, 0]])[0]
    lon, lat = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def _targets(doc: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(href, what, is a document to walk) of every link and asset of a STAC document."""
    for link in doc.get("links", []):
        if link.get("rel") in SKIPPED_RELS or link.get("method", "GET") != "GET" or "href" not in link:
            continue
        href = link["href"]
        if "{z}" in href:
            z, x, y = _tile_of(doc)
            href = href.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))
        walk = link.get("type", "application/json") in ("application/json", "application/geo+json") \
            and link.get("rel") not in ("tilejson", "service-desc", "service-doc")
        yield href, f"link {link.get('rel')}", walk
    for key, asset in doc.get("assets", {}).items():
        if "href" in asset:
            yield asset["href"], f"asset {key}", False
    # the API's item pages and collection list hold documents inline: walk each from its own URL
    for inner in (*doc.get("features", []), *doc.get("collections", [])):
        for link in inner.get("links", []):
            if link.get("rel") == "self":
                yield link["href"], "document", True


def check_links(start: str | Path) -> LinkReport:
    """Walk the catalog at ``start`` (a folder holding catalog.json, or an http(s) URL of a STAC API or
    of a served catalog.json) and check every link and asset."""
    text = str(start)
    if text.startswith(("http://", "https://")):
        return _check_http(text)
    return _check_folder(Path(start))


def _check_folder(folder: Path) -> LinkReport:
    report = LinkReport()
    root = (folder / "catalog.json").resolve() if folder.is_dir() else folder.resolve()
    base = root.parent
    seen: set[Path] = set()
    queue: deque[Path] = deque([root])
    while queue:
        path = queue.popleft()
        if path in seen:
            continue
        seen.add(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            report.problems.append(f"{path}: cannot read: {exc.__class__.__name__}")
            continue
        report.documents += 1
        for href, what, walk in _targets(doc):
            if "://" in href:
                report.external += 1
                continue
            target = (path.parent / href).resolve()
            report.checked += 1
            if not target.is_relative_to(base):
                report.problems.append(f"{path.relative_to(base)}: {what} {href} points outside the catalog")
            elif not target.is_file():
                report.problems.append(f"{path.relative_to(base)}: {what} {href} does not exist")
            elif walk and target.suffix == ".json":
                queue.append(target)
    return report


def _check_http(start: str) -> LinkReport:
    import httpx

    report = LinkReport()
    origin = urlsplit(start)[:2]
    seen: set[str] = set()
    checked: dict[str, int] = {}
    queue: deque[str] = deque([start])
    with httpx.Client(timeout=60, follow_redirects=True) as client:
        while queue:
            url = queue.popleft()
            if url in seen:
                continue
            seen.add(url)
            response = client.get(url)
            if response.status_code != 200:
                report.problems.append(f"{url}: answered {response.status_code}")
                continue
            try:
                doc = response.json()
            except ValueError:
                report.problems.append(f"{url}: not JSON")
                continue
            report.documents += 1
            for href, what, walk in _targets(doc):
                target = urljoin(url, href)
                if urlsplit(target)[:2] != origin:
                    report.external += 1
                    continue
                if walk:
                    queue.append(target.split("#")[0])
                    continue
                if target not in checked:
                    with client.stream("GET", target) as answer:  # assets can be large: headers only
                        checked[target] = answer.status_code
                    report.checked += 1
                if checked[target] != 200:
                    report.problems.append(f"{url}: {what} {target} answered {checked[target]}")
    report.checked += len(seen)
    return report
