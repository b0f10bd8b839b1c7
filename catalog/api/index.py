"""An embedded STAC search index: SQLite with an R*Tree on item bboxes and indexed time ranges.

Items keep their published JSON; the R*Tree answers bbox/intersects candidates (items crossing the
antimeridian get one row per side), ``start``/``end`` columns answer datetime intervals the way
pgstac does (an item matches when its range overlaps the interval), and ``query`` filters run on
``json_extract`` of the properties. Everything is standard-library sqlite3: it works offline.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from publisher.errors import DevscoreError

SCHEMA = """
CREATE TABLE collections (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE items (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    collection TEXT NOT NULL,
    start REAL NOT NULL,
    end REAL NOT NULL,
    datetime REAL,
    href TEXT,
    doc TEXT NOT NULL,
    UNIQUE (collection, id)
);
CREATE INDEX items_time ON items (start, end);
CREATE INDEX items_order ON items (datetime DESC, id, collection);
CREATE VIRTUAL TABLE items_bbox USING rtree (rid, minx, maxx, miny, maxy, +item INTEGER);
"""
#: Operators of the STAC API query extension and their SQL.
QUERY_OPERATORS = {"eq": "=", "neq": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
MAX_LIMIT = 10_000
#: Largest paging offset a token may carry (SQLite integers are 64-bit; no catalog has this many items).
MAX_OFFSET = 2**31
#: Range of integers a ``query`` value may hold (SQLite's 64-bit integers).
SQL_INT = (-(2**63), 2**63 - 1)
#: Most values in ``ids``, ``collections`` or a query's ``in`` list (SQLite binds each as a variable).
MAX_LIST_VALUES = 1000
GEOMETRY_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
                  "GeometryCollection"}


class SearchError(DevscoreError, ValueError):
    """A search the index cannot run as asked (bad bbox, datetime, query or token)."""


@dataclass(frozen=True)
class SearchQuery:
    """One item search, already parsed: every field optional."""

    collections: Sequence[str] | None = None
    ids: Sequence[str] | None = None
    bbox: Sequence[float] | None = None
    intersects: dict[str, Any] | None = None
    interval: tuple[dt.datetime | None, dt.datetime | None] | None = None
    query: dict[str, dict[str, Any]] | None = None
    limit: int = 10
    token: str | None = None


@dataclass
class SearchPage:
    """One page of results: item documents with the catalog-relative path of their JSON file."""

    items: list[tuple[dict[str, Any], str | None]]
    matched: int
    next_token: str | None = None
    previous_token: str | None = None

    @classmethod
    def at(cls, items: list[tuple[dict[str, Any], str | None]], matched: int, offset: int, limit: int) -> SearchPage:
        """The page of ``limit`` results from ``offset`` of ``matched``, with the tokens of its neighbours."""
        following = offset + limit
        return cls(items=items, matched=matched,
                   next_token=encode_token(following) if following < matched else None,
                   previous_token=encode_token(max(0, offset - limit)) if offset > 0 else None)


def _epoch(value: str | dt.datetime | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.timestamp()


def _time_range(item: dict[str, Any]) -> tuple[float, float, float | None]:
    props = item.get("properties", {})
    moment = _epoch(props.get("datetime"))
    start = _epoch(props.get("start_datetime")) if props.get("start_datetime") else moment
    end = _epoch(props.get("end_datetime")) if props.get("end_datetime") else moment
    if start is None or end is None:
        raise SearchError(f"item {item.get('id')!r} has neither datetime nor start/end_datetime")
    return start, end, moment


def _bbox_rows(bbox: Sequence[float]) -> list[tuple[float, float, float, float]]:
    """R*Tree rows of a 2-D bbox; one crossing the antimeridian (west > east) becomes two."""
    west, south, east, north = bbox[0], bbox[1], bbox[-2], bbox[-1]
    if west > east:
        return [(west, 180.0, south, north), (-180.0, east, south, north)]
    return [(west, east, south, north)]


def check_bbox(bbox: Sequence[float]) -> Sequence[float]:
    """A bbox of 4 (or 6) numbers in WGS84 range with south <= north, else SearchError."""
    if len(bbox) not in (4, 6):
        raise SearchError(f"bbox must have 4 or 6 numbers, got {len(bbox)}")
    west, south, east, north = bbox[0], bbox[1], bbox[-2], bbox[-1]
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
        raise SearchError(f"bbox {list(bbox)} is not west,south,east,north in WGS84 with south <= north")
    return bbox


def query_terms(query: Any) -> list[tuple[str, str, Any]]:
    """The (property, operator, value) terms of a STAC API ``query`` object, checked (the operators
    both search backends run, values they compare alike; ``in`` takes a list), else SearchError."""
    if query is None:
        return []
    if not isinstance(query, dict):
        raise SearchError("query must be an object of property names to operators, e.g. {'eo:cloud_cover': {'lt': 5}}")
    terms = []
    for name, ops in query.items():
        if not isinstance(ops, dict):
            raise SearchError(f"query for {name[:40]!r} must be an object of operators, e.g. {{'eq': 5}}")
        for op, value in ops.items():
            if op == "in":
                if not isinstance(value, list) or not value or len(value) > MAX_LIST_VALUES:
                    raise SearchError(f"query operator 'in' on {name[:40]!r} needs a list of 1 to {MAX_LIST_VALUES} values")
                terms.append((name, op, [_query_value(name, v) for v in value]))
            elif op in QUERY_OPERATORS:
                terms.append((name, op, _query_value(name, value)))
            else:
                raise SearchError(f"unknown query operator {op[:20]!r} (use eq, neq, lt, lte, gt, gte, in)")
    return terms


def geometry(value: Any) -> BaseGeometry:
    """The shapely geometry of a GeoJSON geometry object, else SearchError naming the problem."""
    if not isinstance(value, dict) or value.get("type") not in GEOMETRY_TYPES:
        raise SearchError("intersects must be a GeoJSON geometry object (Point, Polygon, ...)")
    try:
        geom = shape(value)
        bounds = geom.bounds
    except Exception:  # shapely's errors for missing or malformed coordinates differ by type
        raise SearchError(f"intersects is not a valid GeoJSON {value['type']}: check its coordinates") from None
    if geom.is_empty or not all(math.isfinite(v) for v in bounds):
        raise SearchError("intersects has no finite coordinates")
    return geom


def _query_value(name: str, value: Any) -> Any:
    """A ``query`` operand SQLite can compare: a string, boolean, finite number or 64-bit integer."""
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, int) and SQL_INT[0] <= value <= SQL_INT[1]:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise SearchError(f"query value for {name[:40]!r} must be a string, boolean, finite number or 64-bit integer")


def encode_token(offset: int) -> str:
    """The paging token of the result at ``offset`` (both backends page by offset)."""
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_token(token: str) -> int:
    """The offset a paging token names; SearchError when it is not one of ours."""
    try:
        kind, value = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        if kind != "offset" or not value.isdigit() or len(value) > 12 or int(value) > MAX_OFFSET:
            raise ValueError
        return int(value)
    except (ValueError, UnicodeError):
        raise SearchError(f"invalid paging token {token[:40]!r}") from None


@dataclass
class SQLiteIndex:
    """The index: thread-safe, in memory by default (``path`` names a file to keep it)."""

    path: str = ":memory:"
    _conn: sqlite3.Connection = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._conn = sqlite3.connect(self.path, check_same_thread=False)
        if not self._conn.execute("SELECT name FROM sqlite_master WHERE name='items'").fetchone():
            self._conn.executescript(SCHEMA)

    def clear(self) -> None:
        """Remove every collection and item."""
        with self._lock, self._conn:
            self._conn.executescript("DELETE FROM items; DELETE FROM items_bbox; DELETE FROM collections;")

    def add_collection(self, collection: dict[str, Any]) -> None:
        """Insert or replace a collection document."""
        with self._lock, self._conn:
            self._conn.execute("INSERT OR REPLACE INTO collections VALUES (?, ?)",
                               (collection["id"], json.dumps(collection)))

    def add_items(self, items: Iterable[tuple[dict[str, Any], str | None]]) -> int:
        """Insert or replace items, each with the catalog-relative path of its JSON file; returns the count."""
        count = 0
        with self._lock, self._conn:
            for item, href in items:
                start, end, moment = _time_range(item)
                old = self._conn.execute("SELECT pk FROM items WHERE collection=? AND id=?",
                                         (item.get("collection"), item["id"])).fetchone()
                if old:
                    self._conn.execute("DELETE FROM items_bbox WHERE item=?", old)
                    self._conn.execute("DELETE FROM items WHERE pk=?", old)
                pk = self._conn.execute(
                    "INSERT INTO items (id, collection, start, end, datetime, href, doc) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (item["id"], item.get("collection"), start, end, moment, href, json.dumps(item)),
                ).lastrowid
                bbox = item.get("bbox") or list(shape(item["geometry"]).bounds)
                self._conn.executemany("INSERT INTO items_bbox (minx, maxx, miny, maxy, item) VALUES (?, ?, ?, ?, ?)",
                                       [(*row, pk) for row in _bbox_rows(bbox)])
                count += 1
        return count

    def collections(self) -> list[dict[str, Any]]:
        """All collection documents, sorted by id."""
        with self._lock:
            rows = self._conn.execute("SELECT doc FROM collections ORDER BY id").fetchall()
        return [json.loads(doc) for (doc,) in rows]

    def collection(self, collection_id: str) -> dict[str, Any] | None:
        """One collection document, or None."""
        with self._lock:
            row = self._conn.execute("SELECT doc FROM collections WHERE id=?", (collection_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def item(self, collection_id: str, item_id: str) -> tuple[dict[str, Any], str | None] | None:
        """One item document and its file path, or None."""
        with self._lock:
            row = self._conn.execute("SELECT doc, href FROM items WHERE collection=? AND id=?",
                                     (collection_id, item_id)).fetchone()
        return (json.loads(row[0]), row[1]) if row else None

    def _where(self, q: SearchQuery) -> tuple[str, list[Any]]:
        clauses, params = [], []
        for name, values in (("ids", q.ids), ("collections", q.collections)):
            if values and len(values) > MAX_LIST_VALUES:
                raise SearchError(f"{name} lists {len(values)} values, more than the limit of {MAX_LIST_VALUES}")
        if q.collections:
            clauses.append(f"collection IN ({','.join('?' * len(q.collections))})")
            params += list(q.collections)
        if q.ids:
            clauses.append(f"id IN ({','.join('?' * len(q.ids))})")
            params += list(q.ids)
        spatial = q.bbox if q.bbox is not None else (geometry(q.intersects).bounds if q.intersects else None)
        if spatial is not None:
            rows = _bbox_rows(check_bbox(spatial) if q.bbox is not None else spatial)
            boxes = " OR ".join("(maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?)" for _ in rows)
            clauses.append(f"pk IN (SELECT item FROM items_bbox WHERE {boxes})")
            for minx, maxx, miny, maxy in rows:
                params += [minx, maxx, miny, maxy]
        if q.interval is not None:
            start, end = q.interval
            if start is not None:
                clauses.append("end >= ?")
                params.append(_epoch(start))
            if end is not None:
                clauses.append("start <= ?")
                params.append(_epoch(end))
        for name, op, value in query_terms(q.query):
            path = "$.properties." + json.dumps(name)
            if op == "in":
                clauses.append(f"json_extract(doc, ?) IN ({','.join('?' * len(value))})")
                params += [path, *value]
            else:
                clauses.append(f"json_extract(doc, ?) {QUERY_OPERATORS[op]} ?")
                params += [path, value]
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def search(self, q: SearchQuery) -> SearchPage:
        """Run ``q``: stable order (newest datetime first, then id), offset tokens for paging."""
        if not 1 <= q.limit <= MAX_LIMIT:
            raise SearchError(f"limit must be between 1 and {MAX_LIMIT}, got {q.limit}")
        offset = decode_token(q.token) if q.token else 0
        where, params = self._where(q)
        exact = geometry(q.intersects) if q.intersects else None
        with self._lock:
            if exact is None:
                matched = self._conn.execute(f"SELECT COUNT(*) FROM items{where}", params).fetchone()[0]
                rows = self._conn.execute(
                    f"SELECT doc, href FROM items{where} ORDER BY datetime DESC, id, collection LIMIT ? OFFSET ?",
                    [*params, q.limit, offset],
                ).fetchall()
                items = [(json.loads(doc), href) for doc, href in rows]
            else:  # R*Tree candidates, then the exact geometry test
                rows = self._conn.execute(f"SELECT doc, href FROM items{where} ORDER BY datetime DESC, id, collection",
                                          params).fetchall()
                hits = [(doc, href) for doc, href in ((json.loads(d), h) for d, h in rows)
                        if shape(doc["geometry"]).intersects(exact)]
                matched, items = len(hits), hits[offset : offset + q.limit]
        return SearchPage.at(items, matched, offset, q.limit)
