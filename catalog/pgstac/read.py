"""Read a pgstac database the way the server reads a static catalog, and search it for the STAC API.

``PgstacCatalog`` answers what ``catalog.reader.StaticCatalog`` answers (collections, items, asset
files, years, the items of a year), so the tiler's factories and the night-light routes run unchanged
over it. ``PgstacBackend`` is the STAC API's ``SearchBackend`` over pgstac.

A search is a condition in SQL (pgstac's ``stac_search_to_where``, or for ids, collections, a bbox and
a datetime the same clauses with parameters: ``catalog.pgstac.where``) and one ``SELECT`` of the matching rows, in the
embedded index's order (newest first, then id, then collection) with its offset tokens, each row
read as columns, assembled as pgstac's ``content_nonhydrated`` would (``_nonhydrated``) and hydrated
in Python (pypgstac's hydration). pgstac's ``search()`` gives the same documents but costs 6 to 7 ms
a search in the database against about 0.6 ms this way at 22,110 items (it records every search in its
registry, pages by keyset in dynamic SQL and builds every row's JSON in PL/pgSQL), and a search is
most of what a STAC API request costs. Answers are memoised per database version (``devscore.state``,
bumped by every publish in its own transaction): every server process sees a publish at its next
request.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
import threading
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Iterator

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pypgstac.hydration import hydrate

from catalog.api.index import (MAX_LIMIT, MAX_LIST_VALUES, SearchError, SearchPage, SearchQuery, check_bbox,
                                decode_token, geometry, query_terms)
from catalog.pgstac.db import CONNECT_TIMEOUT_S, SESSION_OPTIONS, connect
from catalog.pgstac.where import Where, parameterised
from catalog.reader import CatalogUnavailable, CollectionRecord, ItemRecord, NotFoundError

#: Connections each server process keeps (FastAPI runs sync routes on a thread pool).
POOL_SIZE = 4
#: Most memoised answers per version (item look-ups of a national catalog's tiles).
MEMO_SIZE = 50_000
#: Order of search results (the embedded index's: newest first, then id, then collection).
ORDER = "datetime DESC, id ASC, collection ASC"
#: A search row's columns, from which ``_nonhydrated`` assembles what pgstac's ``content_nonhydrated``
#: returns (that PL/pgSQL function costs the database 1.7 ms a page of 10 at national size, these 0.45).
ROW_COLUMNS = "id, collection, ST_AsGeoJSON(geometry, 20), content"
#: A base-item tag that pgstac reads as a base item's id (``content_nonhydrated``'s ``^\s*\d{1,9}\s*$``).
BASE_ITEM_ID = re.compile(r"\s*\d{1,9}\s*", re.ASCII)
#: Errors of pgstac's search translation that are the request's fault.
REFUSED = (psycopg.errors.DataError, psycopg.errors.RaiseException, psycopg.errors.InvalidParameterValue)


log = logging.getLogger(__name__)


def _interval(value: dt.datetime | None) -> str:
    if value is None:
        return ".."
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.isoformat()


class PgstacCatalog:
    """A read-only view of the catalog in the pgstac database at ``dsn`` (checked on opening)."""

    root = None  #: no folder of catalog files: assets are named by absolute path or URL

    def __init__(self, dsn: str, pool_size: int = POOL_SIZE) -> None:
        connect(dsn).close()  # one-line errors before the server starts
        self.dsn = dsn
        self.pool = ConnectionPool(dsn, min_size=1, max_size=pool_size, open=True, timeout=CONNECT_TIMEOUT_S * 2,
                                   kwargs={"autocommit": True, "options": SESSION_OPTIONS})
        self._memo: dict[tuple, Any] = {}
        self._memo_version: int | None = None
        self._computing: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()
        self._request: ContextVar[dict[str, int] | None] = ContextVar(f"pgstac-request-{id(self)}", default=None)

    def close(self) -> None:
        """Close the connection pool."""
        self.pool.close()

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows of one statement on a pooled connection."""
        with self.pool.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def version(self) -> int:
        """The database's publish counter (0 before devscore's first publish); inside ``one_version``,
        the one read first in the block."""
        held = self._request.get()
        if held is not None and "version" in held:
            return held["version"]
        try:
            rows = self.query("SELECT version FROM devscore.state WHERE id = 1")
        except psycopg.errors.UndefinedTable:
            rows = []
        except psycopg.OperationalError as exc:  # the pool's timeouts and closing among them
            raise CatalogUnavailable(f"the pgstac database does not answer: {str(exc).splitlines()[0][:200]}") from None
        version = rows[0][0] if rows else 0
        if held is not None:
            held["version"] = version
        return version

    @contextlib.contextmanager
    def one_version(self) -> Iterator[None]:
        """Within the block (a request, its threads included) the version is read once, when first asked
        for: one request sees one publish, and its look-ups (a year-mosaic tile asks for each granule)
        do not each ask the database."""
        token = self._request.set({})
        try:
            yield
        finally:
            self._request.reset(token)

    def _memoised(self, key: tuple, compute) -> Any:
        """``compute(version)`` once per key and database version: concurrent requests for a key being
        computed wait for it (a year's items are thousands of items: eight clients asking for the
        first tile of a year at once would read them eight times over)."""
        version = self.version()
        with self._lock:
            if version != self._memo_version or len(self._memo) > MEMO_SIZE:
                self._memo, self._memo_version, self._computing = {}, version, {}
            if key in self._memo:
                return self._memo[key]
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:
            with self._lock:
                if self._memo_version == version and key in self._memo:
                    return self._memo[key]
            value = compute(version)
            with self._lock:
                if self._memo_version == version:
                    self._memo[key] = value
        return value

    def select(self, search: dict[str, Any] | Where, order: str = ORDER, offset: int = 0,
               limit: int | None = None) -> tuple[list[dict[str, Any]], int]:
        """The hydrated items a search matches, in ``order``, from ``offset`` (``limit`` of them, or all),
        and how many match in all. ``search`` is a condition made already (``where.parameterised``) or a
        search request for pgstac to translate (``stac_search_to_where``)."""
        with self.pool.connection() as conn:
            where = search if isinstance(search, Where) else Where.literal(
                conn.execute("SELECT stac_search_to_where(%s)", (Jsonb(search),)).fetchone()[0])
            rows = conn.execute(f"SELECT {ROW_COLUMNS}, count(*) OVER () FROM items WHERE {where.sql} "
                                f"ORDER BY {order} OFFSET %s LIMIT %s", (*where.params, offset, limit)).fetchall()
            if rows:
                return [_hydrated(doc) for doc in _nonhydrated(conn, [row[:4] for row in rows])], rows[0][4]
            if not offset:
                return [], 0
            return [], conn.execute(f"SELECT count(*) FROM items WHERE {where.sql}", where.params).fetchone()[0]

    def _record(self, doc: dict[str, Any]) -> ItemRecord:
        assets = {key: Path(asset["href"]) for key, asset in doc.get("assets", {}).items()
                  if "://" not in asset["href"] and Path(asset["href"]).is_absolute()}
        return ItemRecord(collection_id=doc["collection"], item=doc, assets=assets, href="")

    def _records(self, docs: list[dict[str, Any]], version: int) -> list[ItemRecord]:
        """Records of ``docs``, remembered as the answers of ``item()`` at ``version`` too (a year mosaic
        reads its year's items, then asks for each granule's asset)."""
        records = [self._record(doc) for doc in docs]
        with self._lock:
            if self._memo_version == version:
                self._memo.update({("item", r.collection_id, r.id): r for r in records})
        return records

    def collection_ids(self) -> list[str]:
        """Ids of all collections."""
        return self._memoised(("ids",), lambda v: [r[0] for r in self.query("SELECT id FROM collections ORDER BY id")])

    def collection(self, collection_id: str) -> CollectionRecord:
        """The collection or NotFoundError; its ``mtime`` is the database version."""
        def compute(version: int) -> CollectionRecord:
            rows = self.query("SELECT content FROM collections WHERE id = %s", (collection_id,))
            if not rows:
                raise NotFoundError(f"unknown collection {collection_id!r}")
            return CollectionRecord(collection=rows[0][0], path=Path(), mtime=float(version))
        return self._memoised(("collection", collection_id), compute)

    def item(self, collection_id: str, item_id: str) -> ItemRecord:
        """The item or NotFoundError."""
        def compute(version: int) -> ItemRecord:
            self.collection(collection_id)
            doc = self.query("SELECT get_item(%s, %s)", (item_id, collection_id))[0][0]
            if doc is None:
                raise NotFoundError(f"unknown item {item_id!r} in collection {collection_id!r}")
            return self._record(doc)
        return self._memoised(("item", collection_id, item_id), compute)

    def asset_path(self, collection_id: str, item_id: str, asset: str) -> Path:
        """Local path of an item's asset, or NotFoundError (no such asset, or not a local file)."""
        try:
            return self.item(collection_id, item_id).assets[asset]
        except KeyError:
            raise NotFoundError(f"item {item_id!r} has no local asset {asset!r}") from None

    def items(self, collection_id: str) -> list[ItemRecord]:
        """All items of a collection, sorted by id."""
        def compute(version: int) -> list[ItemRecord]:
            self.collection(collection_id)
            docs, _ = self.select({"collections": [collection_id]}, order="id ASC")
            return self._records(docs, version)
        return self._memoised(("items", collection_id), compute)

    def years(self, collection_id: str) -> list[int]:
        """Years for which the collection has items."""
        sql = """SELECT DISTINCT generate_series(extract(year FROM datetime)::int, extract(year FROM end_datetime)::int)
                 FROM items WHERE collection = %s ORDER BY 1"""
        return self._memoised(("years", collection_id), lambda v: [r[0] for r in self.query(sql, (collection_id,))])

    def items_for_year(self, collection_id: str, year: int) -> list[ItemRecord]:
        """Items of a collection that cover ``year`` (a pgstac search), or NotFoundError when none do."""
        def compute(version: int) -> list[ItemRecord]:
            body = {"collections": [collection_id], "datetime": f"{year}-01-01T00:00:00Z/{year}-12-31T23:59:59.999Z"}
            return self._records(self.select(body, order="id ASC")[0], version)
        found = self._memoised(("year", collection_id, year), compute)
        if not found:
            raise NotFoundError(f"collection {collection_id!r} has no items for year {year}")
        return found


def _nonhydrated(conn: psycopg.Connection, rows: list[tuple]) -> list[dict[str, Any]]:
    """What pgstac's ``content_nonhydrated(item, NULL)`` returns for each row of ``ROW_COLUMNS``: the
    columns under the item's content, and the base item its ``pgstac:base_item`` tag names (a tag that
    reads as an id: that base item, else the collection's current one; no tag: the collection's first),
    looked up once per page for each distinct tag. ``tests/test_pgstac.py`` compares both on every kind
    of tag."""
    docs, keys = [], {}
    for item_id, collection, geojson, content in rows:
        doc = {"id": item_id, "geometry": None if geojson is None else json.loads(geojson),
               "collection": collection, "type": "Feature", **content}
        tag = doc.get("pgstac:base_item")
        text = tag if tag is None or isinstance(tag, str) else json.dumps(tag)  # what ->> gives
        by_id = text is None or BASE_ITEM_ID.fullmatch(text) is not None
        key = (collection, int(text) if by_id and text is not None else None, by_id, text)
        keys[key] = None
        docs.append((doc, key))
    looked_up = conn.execute(
        "SELECT CASE WHEN k.by_id THEN collection_base_item(k.c, k.t) END, (SELECT base_item FROM collections "
        "WHERE id = k.c) FROM unnest(%s::text[], %s::int[], %s::bool[]) WITH ORDINALITY AS k(c, t, by_id, n) "
        "ORDER BY k.n", ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])).fetchall()
    for key, (base, current) in zip(keys, looked_up):
        if base is None and key[3] is not None:
            log.warning("items of collection %s are tagged with base item %s, which does not exist; using the "
                        "current base item", key[0], key[3])
            base = current
        keys[key] = base
    return [{**doc, "pgstac:base_item": keys[key]} for doc, key in docs]


def _hydrated(doc: dict[str, Any]) -> dict[str, Any]:
    """An item of a ``nohydrate`` search, merged with its collection's base item in Python (pypgstac's
    hydration; stac-fastapi-pgstac's way): pgstac's own hydration in SQL costs about 2 ms an item."""
    base = doc.pop("pgstac:base_item", None)
    return hydrate(base, doc) if base else doc


class PgstacBackend:
    """The STAC API's SearchBackend over pgstac's search functions."""

    def __init__(self, catalog: PgstacCatalog) -> None:
        self.catalog = catalog

    def collections(self) -> list[dict[str, Any]]:
        return [self.catalog.collection(cid).collection for cid in self.catalog.collection_ids()]

    def collection(self, collection_id: str) -> dict[str, Any] | None:
        try:
            return self.catalog.collection(collection_id).collection
        except NotFoundError:
            return None

    def item(self, collection_id: str, item_id: str) -> tuple[dict[str, Any], str | None] | None:
        try:
            return self.catalog.item(collection_id, item_id).item, None
        except NotFoundError:
            return None

    def search(self, q: SearchQuery) -> SearchPage:
        if not 1 <= q.limit <= MAX_LIMIT:
            raise SearchError(f"limit must be between 1 and {MAX_LIMIT}, got {q.limit}")
        offset = decode_token(q.token) if q.token else 0
        body: dict[str, Any] = {}
        for name, values in (("ids", q.ids), ("collections", q.collections)):
            if values:
                if len(values) > MAX_LIST_VALUES:
                    raise SearchError(f"{name} lists {len(values)} values, more than the limit of {MAX_LIST_VALUES}")
                body[name] = list(values)
        if q.bbox is not None:
            body["bbox"] = list(check_bbox(q.bbox))
        if q.intersects is not None:
            geometry(q.intersects)
            body["intersects"] = q.intersects
        if q.interval is not None:
            body["datetime"] = f"{_interval(q.interval[0])}/{_interval(q.interval[1])}"
        if query_terms(q.query):
            body["query"] = q.query
        try:
            items, matched = self.catalog.select(parameterised(q) or body, offset=offset, limit=q.limit)
        except REFUSED as exc:
            message = (exc.diag.message_primary or str(exc)).splitlines()[0][:200]
            raise SearchError(f"pgstac refused the search: {message}") from None
        return SearchPage.at([(doc, None) for doc in items], matched, offset, q.limit)
