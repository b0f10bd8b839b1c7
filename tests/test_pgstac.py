"""The catalog on a real PostgreSQL/pgstac (started by scripts/pgstac-db.sh): publishing in one
transaction, publishers at once, a killed publisher, servers sharing the database and the tile cache,
search that agrees with the embedded index, and one-line refusals of databases that cannot be used."""

from __future__ import annotations

import datetime as dt
import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import psycopg
import pytest

from catalog.api.index import SearchQuery, SQLiteIndex
from catalog.ingest import publish_table
from catalog.pgstac.db import SESSION_OPTIONS
from catalog.pgstac.read import ROW_COLUMNS, PgstacBackend, PgstacCatalog, _nonhydrated
from catalog.reader import StaticCatalog
from publisher.constants import COLLECTION_ID
from publisher.scores import GranuleYear, scores_to_table
from tests.conftest import free_port

DEVSCORE = str(Path(sys.executable).parent / "devscore")
#: A tile of the 2023 year mosaic over 48RVU (z8).
YEAR_TILE = "/collections/devscore-scores/years/2023/tiles/WebMercatorQuad/8/202/105.png"


def _table(path: Path, granules: list[tuple[str, int]], seed: int) -> Path:
    rng = np.random.default_rng(seed)
    rows = [GranuleYear(tile, year, dt.datetime(year, 4, 1, tzinfo=dt.timezone.utc), None,
                        rng.random((32, 32), dtype=np.float32)) for tile, year in granules]
    scores_to_table(rows).to_csv(path, index=False)
    return path


def _rows(dsn: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True, options="-c search_path=pgstac,public") as conn:
        return conn.execute(sql, params).fetchall()


def _items(dsn: str) -> dict[str, dict]:
    return {doc["id"]: doc for (doc,) in _rows(dsn, "SELECT get_item(id, collection) FROM items")}


def _sha256(path: str) -> str:
    return "1220" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_the_script_reuses_a_running_cluster(pgstac_server):
    """`start` on a folder whose cluster runs gives the same DSN again, and the database answers."""
    again = pgstac_server.script("start")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().splitlines()[-1] == pgstac_server.dsn
    assert _rows(pgstac_server.dsn, "SELECT get_version()")[0][0]


def test_publish_beside_the_static_catalog_loads_the_same_items(tmp_path, pgstac_dsn):
    """`devscore publish --pgstac` writes the static catalog and loads the same items, their asset hrefs
    naming the catalog's files; the STAC API backends over both answer the same searches."""
    table = _table(tmp_path / "a.csv", [("48RVU", 2023), ("48RVU", 2022)], seed=1)
    done = subprocess.run([DEVSCORE, "publish", "--scores", str(table), "--catalog", str(tmp_path / "cat"),
                           "--pgstac", pgstac_dsn, "--no-progress"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    static = StaticCatalog(tmp_path / "cat")
    loaded = _items(pgstac_dsn)
    assert sorted(loaded) == [r.id for r in static.items(COLLECTION_ID)]
    for record in static.items(COLLECTION_ID):
        doc = loaded[record.id]
        assert doc["properties"] == record.item["properties"]
        assert {k: Path(a["href"]) for k, a in doc["assets"].items()} == record.assets
    index = SQLiteIndex()
    index.add_items((r.item, r.href) for r in static.items(COLLECTION_ID))
    catalog = PgstacCatalog(pgstac_dsn)
    try:
        backend = PgstacBackend(catalog)
        for query in (SearchQuery(bbox=[103.0, 29.0, 104.5, 31.0], limit=10),
                      SearchQuery(interval=(dt.datetime(2023, 1, 1), dt.datetime(2023, 12, 31)), limit=10),
                      SearchQuery(bbox=[100.0, 20.0, 110.0, 35.0], interval=(dt.datetime(2022, 1, 1), None), limit=1)):
            ours, theirs = index.search(query), backend.search(query)
            assert [d["id"] for d, _ in theirs.items] == [d["id"] for d, _ in ours.items]
            assert theirs.matched == ours.matched
        pages, token = [], None  # paging by pgstac's tokens reaches every item once
        while True:
            page = backend.search(SearchQuery(collections=[COLLECTION_ID], limit=1, token=token))
            pages += [d["id"] for d, _ in page.items]
            token = page.next_token
            if token is None:
                break
        assert pages == [d["id"] for d, _ in index.search(SearchQuery(limit=10)).items]
        assert catalog.years(COLLECTION_ID) == [2022, 2023]
        assert [r.id for r in catalog.items_for_year(COLLECTION_ID, 2023)] == ["48RVU-2023"]
    finally:
        catalog.close()


def test_two_publishers_at_once_both_land_whole(tmp_path, pgstac_dsn):
    """Two `devscore publish --no-static` at once into one database and one asset folder, one item in
    both: every item lands, and each names files that exist with the checksums it states."""
    tables = [_table(tmp_path / "a.csv", [("48RVU", 2023)], seed=2),
              _table(tmp_path / "b.csv", [("48RVU", 2023), ("48RVU", 2022)], seed=3)]
    procs = [subprocess.Popen([DEVSCORE, "publish", "--scores", str(t), "--catalog", str(tmp_path / "assets"),
                               "--no-static", "--pgstac", pgstac_dsn, "--no-progress"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for t in tables]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    items = _items(pgstac_dsn)
    assert sorted(items) == ["48RVU-2022", "48RVU-2023"]
    for doc in items.values():
        for asset in doc["assets"].values():
            assert _sha256(asset["href"]) == asset["file:checksum"]
    assert not (tmp_path / "assets" / "catalog.json").exists()
    assert _rows(pgstac_dsn, "SELECT version FROM devscore.state")[0][0] == 2


def test_a_killed_publish_leaves_the_database_as_it_was(tmp_path, pgstac_dsn):
    """A publish SIGKILLed inside its transaction (held there by a lock the test takes on the items
    table, after it has written) leaves every collection and item as before."""
    publish_table(_table(tmp_path / "a.csv", [("48RVU", 2023)], seed=4), tmp_path / "cat", device="cpu",
                  progress=False, pgstac=pgstac_dsn)
    before = _rows(pgstac_dsn, "SELECT id, content FROM collections ORDER BY id"), _items(pgstac_dsn)
    table = _table(tmp_path / "b.csv", [("48RUU", 2023)], seed=5)
    with psycopg.connect(pgstac_dsn, options="-c search_path=pgstac,public") as blocker:
        blocker.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
        proc = subprocess.Popen([DEVSCORE, "publish", "--scores", str(table), "--catalog", str(tmp_path / "cat"),
                                 "--pgstac", pgstac_dsn, "--no-progress"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        waiting = []
        for _ in range(1200):
            waiting = _rows(pgstac_dsn, "SELECT pid, backend_xid IS NOT NULL FROM pg_stat_activity "
                                        "WHERE application_name = 'pgstac' AND wait_event_type = 'Lock'")
            if waiting or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert waiting, "the publisher never waited inside its transaction"
        assert waiting[0][1], "the publisher had written nothing in its transaction yet"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        blocker.rollback()
    for _ in range(100):  # the server notices the dead client once the lock is gone
        if not _rows(pgstac_dsn, "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (waiting[0][0],)):
            break
        time.sleep(0.1)
    assert (_rows(pgstac_dsn, "SELECT id, content FROM collections ORDER BY id"), _items(pgstac_dsn)) == before


def _serve(dsn: str, cache: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([DEVSCORE, "serve", "--pgstac", dsn, "--port", str(port), "--tile-cache-dir", str(cache)],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def _wait(proc: subprocess.Popen, base: str, log: Path) -> None:
    for _ in range(600):
        try:
            if httpx.get(f"{base}/layers", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    pytest.fail(f"server did not start: {log.read_text()[-2000:]}")


def test_servers_started_apart_share_the_database_and_the_tile_cache(tmp_path, pgstac_dsn):
    """Two `devscore serve --pgstac` processes: a tile one renders the other serves from the shared cache;
    a publish afterwards shows in both (search, layers) and retires cached tiles, without a restart."""
    publish_table(_table(tmp_path / "a.csv", [("48RVU", 2023)], seed=6), tmp_path / "assets", device="cpu",
                  progress=False, static=False, pgstac=pgstac_dsn)
    servers = [_serve(pgstac_dsn, tmp_path / "tiles", tmp_path / f"serve{i}.log") for i in range(2)]
    try:
        for i, (proc, base) in enumerate(servers):
            _wait(proc, base, tmp_path / f"serve{i}.log")
        (_, one), (_, two) = servers
        first = httpx.get(one + YEAR_TILE, timeout=30)
        assert first.status_code == 200 and first.headers["x-devscore-cache"] == "miss"
        second = httpx.get(two + YEAR_TILE, timeout=30)
        assert second.headers["x-devscore-cache"] == "hit" and second.content == first.content
        publish_table(_table(tmp_path / "b.csv", [("48RVU", 2022)], seed=7), tmp_path / "assets",
                      device="cpu", progress=False, static=False, pgstac=pgstac_dsn)
        for base in (one, two):
            layers = httpx.get(f"{base}/layers", timeout=30).json()["layers"]
            assert sorted(layer["year"] for layer in layers) == [2022, 2023]
            found = httpx.get(f"{base}/stac/search", params={"datetime": "2022-01-01T00:00:00Z/2022-12-31T23:59:59Z"},
                              timeout=30).json()
            assert [f["id"] for f in found["features"]] == ["48RVU-2022"]
        again = httpx.get(two + YEAR_TILE, timeout=30)  # the publish retired the cached tile: rendered anew
        assert again.headers["x-devscore-cache"] == "miss" and again.content == first.content
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=20)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([DEVSCORE, *args], capture_output=True, text=True, timeout=120)


def _one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("Error")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_search_rows_are_assembled_as_content_nonhydrated_assembles_them(tmp_path, pgstac_dsn):
    """Searches read rows as columns and assemble them in Python: every document equals pgstac's own
    ``content_nonhydrated`` of the row, for items untagged and tagged with a base item's id (as a number,
    a string, in spaces), a missing id, a float, a word, true and null, after an edit gave the
    collection a second base item."""
    from psycopg.types.json import Jsonb

    publish_table(_table(tmp_path / "a.csv", [("48RVU", 2023), ("48RUU", 2022)], seed=5), tmp_path / "assets",
                  device="cpu", progress=False, static=False, pgstac=pgstac_dsn)
    with psycopg.connect(pgstac_dsn, autocommit=True, options=SESSION_OPTIONS) as conn:
        conn.execute("""UPDATE collections SET content = content || '{"item_assets": {"extra": {"roles": ["data"]}}}'
                        WHERE id = %s""", (COLLECTION_ID,))
        first, last = conn.execute("SELECT min(id), max(id) FROM base_items WHERE collection = %s", (COLLECTION_ID,)).fetchone()
        assert first is not None and first != last
        conn.execute("CREATE TEMP TABLE tagged AS SELECT * FROM items")
        tags = [first, last, str(last), f" {first} ", 987654, 1.0, "abc", True, None]
        for i, tag in enumerate(tags):
            conn.execute("INSERT INTO tagged SELECT id || %s, geometry, collection, datetime, end_datetime, "
                         "content || %s, private FROM items WHERE collection = %s LIMIT 1",
                         (f"-{i}", Jsonb({"pgstac:base_item": tag}), COLLECTION_ID))
        conn.execute("INSERT INTO tagged SELECT id || '-untagged', geometry, collection, datetime, end_datetime, "
                     "content - 'pgstac:base_item', private FROM items WHERE collection = %s LIMIT 1", (COLLECTION_ID,))
        expected = [doc for (doc,) in conn.execute("SELECT content_nonhydrated(ROW(t.*)::items, NULL) FROM tagged t ORDER BY id")]
        got = _nonhydrated(conn, conn.execute(f"SELECT {ROW_COLUMNS} FROM tagged ORDER BY id").fetchall())
    assert len(expected) == len(tags) + 3
    assert len({str(doc["pgstac:base_item"]) for doc in expected}) >= 2  # the tags name different base items
    assert got == expected


def test_a_database_that_stops_answering_is_a_503_in_one_line(tmp_path, pgstac_dsn):
    """Requests to a server whose database went away (its connection pool closed here) answer 503 with
    one line, the tile routes (whose cache key holds the version) included."""
    from starlette.testclient import TestClient

    from tiler_app.main import create_app

    publish_table(_table(tmp_path / "a.csv", [("48RVU", 2023)], seed=9), tmp_path / "assets", device="cpu",
                  progress=False, static=False, pgstac=pgstac_dsn)
    app = create_app(pgstac=pgstac_dsn, tile_cache_dir=str(tmp_path / "tiles"))
    with TestClient(app) as client:
        assert client.get("/layers").status_code == 200
        app.state.catalog.pool.close()
        for path in ("/layers", YEAR_TILE, "/stac/collections"):
            r = client.get(path)
            assert r.status_code == 503, (path, r.status_code, r.text)
            message = r.json().get("detail") or r.json()["description"]  # the STAC API's error form
            assert "does not answer" in message and "\n" not in r.text.strip()


def test_databases_that_cannot_be_used_are_refused_in_one_line(tmp_path, pgstac_server, pgstac_dsn):
    """A DSN nothing answers, a database without pgstac, a pgstac version this devscore does not speak:
    serve and publish stop with one line saying which (and what to do), painting nothing."""
    table = _table(tmp_path / "a.csv", [("48RVU", 2023)], seed=8)
    base = pgstac_dsn.rsplit("/", 1)[0]
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/devscore"
    assert "cannot connect" in _one_line_error(_cli("publish", "--scores", str(table), "--catalog", str(tmp_path / "c"),
                                                    "--pgstac", closed))
    assert not (tmp_path / "c").exists()
    serving = _cli("serve", "--pgstac", f"{base}/postgres", "--port", str(free_port()))
    bare = _one_line_error(serving)
    assert "no pgstac" in bare and "pypgstac migrate" in bare
    assert serving.stderr.strip() == bare  # nothing else: no library's warning about its own defaults
    _rows(pgstac_dsn, "INSERT INTO migrations (version, datetime) VALUES ('0.3.1', now() + interval '1 day') RETURNING 1")
    odd = _one_line_error(_cli("publish", "--scores", str(table), "--catalog", str(tmp_path / "d"), "--no-static",
                               "--pgstac", pgstac_dsn))
    assert "pgstac 0.3.1" in odd
    assert "--pgstac" in _one_line_error(_cli("publish", "--scores", str(table), "--catalog", str(tmp_path / "e"),
                                              "--no-static"))


def test_viirs_ingest_loads_night_lights_and_their_score_items(tmp_path, pgstac_dsn, monkeypatch, capsys):
    """`devscore viirs ingest --pgstac` loads the night-light item and the score item it now links to,
    their links pointing at each other's files."""
    from publisher.grid import TileGrid
    from tests.nightlights_fixtures import publish_field_scores, write_vnl_like
    from tests.test_cli_inputs import devscore

    catalog = publish_field_scores(tmp_path, ("48RVU",), 2023)
    west, south, east, north = TileGrid.from_tile_id("48RVU").bbox
    raster = write_vnl_like(tmp_path / "VNL_v2_npp_2023_global_vcmslcfg.average_masked.tif",
                            (west - 1, south - 1, east + 1, north + 1), 2023)
    code, _, err = devscore(monkeypatch, capsys, "viirs", "ingest", "--raster", str(raster), "--year", "2023",
                            "--catalog", str(catalog), "--pgstac", pgstac_dsn)
    assert code == 0, err
    rows = {(c, i): doc for c, i, doc in _rows(pgstac_dsn, "SELECT collection, id, get_item(id, collection) FROM items")}
    assert set(rows) == {("devscore-scores", "48RVU-2023"), ("viirs-nightlights", "48RVU-2023")}
    lights = rows["viirs-nightlights", "48RVU-2023"]
    assert Path(next(iter(lights["assets"].values()))["href"]).is_file()
    related = [link["href"] for link in rows["devscore-scores", "48RVU-2023"]["links"] if link["rel"] == "related"]
    assert related and all(Path(href).is_file() for href in related)


def test_parameterised_searches_match_pgstacs_translation(tmp_path, pgstac_dsn, monkeypatch):
    """Searches of ids, collections, a bbox and a datetime interval (closed, open at either end, ending
    or starting on items' instants, naive) give the same pages from ``catalog.pgstac.where``'s condition
    with parameters as from pgstac's ``stac_search_to_where``; a ``%`` in a query is a value, and a
    query operator neither backend runs is refused as the embedded index refuses it."""
    import catalog.pgstac.read as read
    from bench.national import NIGHTLIGHTS, generate, pgstac_documents
    from catalog.api.index import SearchError
    from catalog.pgstac.load import load
    from catalog.pgstac.where import parameterised

    national = generate(tmp_path / "cat", (103.0, 29.0, 105.0, 31.0), region_count=1)
    load(pgstac_dsn, *pgstac_documents(national))
    instants = sorted({dt.datetime.fromisoformat(i["properties"]["datetime"]) for i in national.items})
    ids = [i["id"] for i in national.items]
    edge = national.items[0]["bbox"]
    rng = np.random.default_rng(3)
    queries = [SearchQuery(bbox=[edge[2], edge[1], edge[2] + 0.5, edge[3]], limit=50),  # touching one edge
               SearchQuery(interval=(None, instants[1]), limit=20),
               SearchQuery(interval=(instants[2], None), limit=20),
               SearchQuery(interval=(instants[2], instants[2]), limit=20),
               SearchQuery(interval=(instants[1].replace(tzinfo=None), instants[3].replace(tzinfo=None)), limit=20),
               SearchQuery(ids=[*ids[:3], "no-such-item"], collections=[NIGHTLIGHTS], limit=10),
               SearchQuery(interval=(None, instants[0] - dt.timedelta(microseconds=1)), limit=10),  # just before all
               SearchQuery(bbox=[10.0, 10.0, 11.0, 11.0], limit=10),
               SearchQuery(limit=5)]
    for _ in range(40):
        x, y = rng.uniform(102.5, 105.0), rng.uniform(28.5, 31.0)
        start, end = sorted(rng.choice(len(instants), 2))
        interval = [None, (instants[start], instants[end]), (None, instants[end]), (instants[start], None)][rng.integers(4)]
        collections = [None, [COLLECTION_ID], [NIGHTLIGHTS, COLLECTION_ID]][rng.integers(3)]
        queries.append(SearchQuery(bbox=[x, y, x + rng.uniform(0.01, 1.5), y + rng.uniform(0.01, 1.5)],
                                   interval=interval, collections=collections, limit=int(rng.integers(1, 30))))
    catalog = PgstacCatalog(pgstac_dsn)
    backend = PgstacBackend(catalog)

    def pages(q: SearchQuery) -> list[tuple]:
        first = backend.search(q)
        second = backend.search(SearchQuery(**{**q.__dict__, "token": first.next_token})) if first.next_token else None
        return [([d["id"] for d, _ in p.items], p.matched, p.next_token) for p in (first, second) if p]

    try:
        for q in queries:
            assert parameterised(q) is not None
            ours = pages(q)
            with monkeypatch.context() as patched:
                patched.setattr(read, "parameterised", lambda q: None)
                assert ours == pages(q), q
        matched = [backend.search(q).matched for q in queries]
        assert sum(m > 0 for m in matched) >= 20 and 0 in matched  # searches that find some and none
        granule = national.items[0]["properties"]["devscore:tile"]
        assert backend.search(SearchQuery(query={"devscore:tile": {"eq": f"{granule}%"}})).matched == 0
        assert backend.search(SearchQuery(query={"devscore:tile": {"eq": granule}})).matched == 10
        for index in (backend, SQLiteIndex()):
            with pytest.raises(SearchError, match="unknown query operator 'startsWith'"):
                index.search(SearchQuery(query={"devscore:tile": {"startsWith": "48"}}))
    finally:
        catalog.close()
