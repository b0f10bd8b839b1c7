"""Figures per place: `devscore zonal` and `POST /zonal` against an independent area-weighted computation
(shapely intersection areas of the published chip polygons), the published item, and bad zones files."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import mapping

from catalog.validate import validate_catalog
from publisher.zonal.figures import MIN_CHIP_SHARE
from tests.test_cli_inputs import devscore

UTM48N = "EPSG:32648"
#: Zones over the served catalog (48RVU 2022 and 2023, 48RUU 2023; chip rows 0 and 1 unscored): inside
#: 48RVU, across the 48RUU/48RVU overlap, over the unscored northern rows, a two-part zone, and one far off.
ZONES = {
    "inside": shapely.box(104.20, 30.20, 104.55, 30.50),
    "overlap": shapely.box(103.85, 30.40, 104.25, 30.75),
    "north_edge": shapely.box(104.40, 30.60, 104.80, 30.80),
    "two_parts": shapely.MultiPolygon([shapely.box(104.3, 30.3, 104.4, 30.4), shapely.box(104.6, 30.6, 104.65, 30.7)]),
    "far": shapely.box(10.0, 10.0, 10.2, 10.2),
}


def independent_figures(catalog: Path, zone_wgs84, year: int) -> tuple[float, float, int]:
    """(mean score, covered share, chips) from shapely intersection areas with the published chip polygons;
    where granules overlap, the first (by item id) that has a scored chip there counts."""
    return _independent(catalog, zone_wgs84.wkb, year)


@functools.lru_cache(maxsize=None)
def _independent(catalog: Path, zone_wkb: bytes, year: int) -> tuple[float, float, int]:
    zone = gpd.GeoSeries([shapely.from_wkb(zone_wkb)], crs="EPSG:4326").to_crs(UTM48N).iloc[0]
    taken, weighted, area, chips = shapely.Polygon(), 0.0, 0.0, 0
    for item_file in sorted((catalog / "devscore-scores").glob(f"*-{year}/*-{year}.json")):
        item = json.loads(item_file.read_text())
        table = gpd.read_parquet(item_file.parent / item["assets"]["chips"]["href"]).to_crs(UTM48N)
        table = table[table["score"].notna()]
        pieces = shapely.intersection(table.geometry.to_numpy(), zone.difference(taken))
        areas = shapely.area(pieces)
        weighted += float(np.sum(areas * table["score"].to_numpy()))
        area += float(areas.sum())
        chips += int((areas > MIN_CHIP_SHARE * shapely.area(table.geometry.to_numpy())).sum())
        taken = taken.union(shapely.intersection(shapely.union_all(table.geometry.to_numpy()), zone))
    return (weighted / area if area else float("nan")), area / zone.area, chips


@pytest.fixture
def catalog_copy(served_catalog, tmp_path) -> Path:
    """A copy of the served test catalog that `devscore zonal` may publish into."""
    return Path(shutil.copytree(served_catalog[1], tmp_path / "catalog"))


def write_zones(path: Path, zones: dict, crs="EPSG:4326", field="name", **kwargs) -> Path:
    frame = gpd.GeoDataFrame({field: list(zones)}, geometry=list(zones.values()), crs=crs)
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_file(path, engine="pyogrio", **kwargs)
    return path


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet"])
def test_zonal_equals_independent_area_weighting(served_catalog, catalog_copy, tmp_path, monkeypatch, capsys, schema_dir, suffix):
    zones = {k: gpd.GeoSeries([v], crs="EPSG:4326").to_crs(3857).iloc[0] for k, v in ZONES.items()}
    zones_file = write_zones(tmp_path / f"counties{suffix}", zones, crs="EPSG:3857")  # any CRS
    code, out, err = devscore(monkeypatch, capsys, "zonal", "--zones", str(zones_file), "--id-field", "name",
                              "--catalog", str(catalog_copy))
    assert code == 0, err
    assert "far" in out and "overlap no scored chip" in out
    item_file = catalog_copy / "devscore-zonal" / "zonal-counties" / "zonal-counties.json"
    item = json.loads(item_file.read_text())
    assert item["properties"]["table:row_count"] == len(ZONES) * 2
    assert {c["name"] for c in item["properties"]["table:columns"]} >= {"name", "year", "mean_score"}
    tables = [gpd.read_parquet(item_file.parent / item["assets"]["table"]["href"]),
              gpd.read_file(item_file.parent / item["assets"]["geopackage"]["href"]),
              pd.read_csv(item_file.parent / item["assets"]["csv"]["href"])]
    for table in tables:
        assert sorted(table["year"].unique()) == [2022, 2023]
        for name, zone in ZONES.items():
            for year in (2022, 2023):
                row = table[(table["name"] == name) & (table["year"] == year)].iloc[0]
                mean, share, chips = independent_figures(served_catalog[1], zone, year)
                assert row["chips"] == chips, (name, year)
                assert row["covered_share"] == pytest.approx(share, abs=1e-3), (name, year)
                if np.isnan(mean):
                    assert np.isnan(row["mean_score"])
                else:
                    assert row["mean_score"] == pytest.approx(mean, abs=1e-3), (name, year)
        moved = table[(table["name"] == "inside")].sort_values("year")["mean_score"].to_numpy()
        assert table[(table["name"] == "inside") & (table["year"] == 2023)]["change"].iloc[0] == \
            pytest.approx(moved[1] - moved[0], abs=1e-9)
    shares = tables[0].set_index(["name", "year"])["covered_share"]
    assert 0.2 < shares[("north_edge", 2023)] < 0.9 and shares[("inside", 2022)] == pytest.approx(1.0, abs=1e-6)
    assert validate_catalog(catalog_copy, schema_dir) == []
    root = json.loads((catalog_copy / "catalog.json").read_text())
    assert any("devscore-zonal" in link["href"] for link in root["links"] if link["rel"] == "child")


BOWTIE = shapely.Polygon([(104.2, 30.2), (104.5, 30.5), (104.5, 30.2), (104.2, 30.5), (104.2, 30.2)])


@pytest.mark.parametrize("case, args, message", [
    ("no_overlap", {"zones": {"a": ZONES["far"]}}, "overlaps a scored chip"),
    ("missing_field", {"zones": {"a": ZONES["inside"]}, "id": "county"}, "no field 'county'"),
    ("duplicates", {"zones": {"a": ZONES["inside"]}, "dup": True}, "duplicate 'name'"),
    ("no_transform", {"zones": {"a": shapely.box(0, 0, 1000, 1000)}, "crs": 'LOCAL_CS["site grid",UNIT["metre",1]]'},
     "no transform to WGS84"),
    ("year_without_scores", {"zones": {"a": ZONES["inside"]}, "years": "2019"}, "no scores published for 2019"),
    ("no_polygons", {"zones": {"a": shapely.LineString([(104.2, 30.2), (104.5, 30.5)])}}, "not polygons"),
])
def test_zonal_bad_input_one_line_nothing_written(catalog_copy, tmp_path, monkeypatch, capsys, case, args, message):
    zones = args["zones"]
    path = tmp_path / f"{case}.gpkg"
    frame = gpd.GeoDataFrame({"name": list(zones)}, geometry=list(zones.values()), crs=args.get("crs", "EPSG:4326"))
    if args.get("dup"):
        frame = pd.concat([frame, frame], ignore_index=True)
    frame.to_file(path, engine="pyogrio")
    before = {p: p.read_bytes() for p in catalog_copy.rglob("*") if p.is_file()}
    extra = ["--years", args["years"]] if "years" in args else []
    code, out, err = devscore(monkeypatch, capsys, "zonal", "--zones", str(path), "--id-field", args.get("id", "name"),
                              "--catalog", str(catalog_copy), *extra)
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip() and " INFO " not in line]
    assert len(lines) == 1 and message in lines[0], err
    after = {p: p.read_bytes() for p in catalog_copy.rglob("*") if p.is_file()}
    assert after == before


def test_zonal_repairs_self_intersecting_zone_and_says_so(served_catalog, catalog_copy, tmp_path, monkeypatch, capsys):
    path = write_zones(tmp_path / "bowtie.geojson", {"bow": BOWTIE}, driver="GeoJSON")
    code, out, err = devscore(monkeypatch, capsys, "zonal", "--zones", str(path), "--id-field", "name",
                              "--catalog", str(catalog_copy))
    assert code == 0, err
    assert "repaired 1 invalid zone polygon(s)" in out and "bow" in out
    table = gpd.read_parquet(next((catalog_copy / "devscore-zonal" / "zonal-bowtie").glob("zonal-*.parquet")))
    repaired = shapely.make_valid(BOWTIE)
    for year in (2022, 2023):
        mean, share, _ = independent_figures(served_catalog[1], repaired, year)
        row = table[table["year"] == year].iloc[0]
        assert row["mean_score"] == pytest.approx(mean, abs=1e-3) and row["covered_share"] == pytest.approx(share, abs=1e-3)


def test_post_zonal_same_figures_and_limits(served_catalog):
    base, catalog = served_catalog
    zone = ZONES["overlap"]
    answer = httpx.post(f"{base}/zonal", json={"type": "Feature", "properties": {}, "geometry": mapping(zone)}, timeout=60)
    assert answer.status_code == 200, answer.text
    years = {row["year"]: row for row in answer.json()["years"]}
    assert sorted(years) == [2022, 2023]
    for year, row in years.items():
        mean, share, chips = independent_figures(catalog, zone, year)
        assert row["mean_score"] == pytest.approx(mean, abs=1e-3) and row["covered_share"] == pytest.approx(share, abs=1e-3)
        assert row["chips"] == chips
    assert years[2023]["change"] == pytest.approx(years[2023]["mean_score"] - years[2022]["mean_score"], abs=1e-5)
    assert httpx.post(f"{base}/zonal", json=mapping(BOWTIE), timeout=60).json()["repaired"] is True
    bad = {
        "huge": mapping(shapely.box(100, 20, 110, 35)),
        "vertices": mapping(shapely.Point(104.3, 30.4).buffer(0.1, quad_segs=6000)),
        "point": {"type": "Point", "coordinates": [104.3, 30.4]},
        "list": [1, 2],
        "outside": mapping(shapely.box(200, 20, 201, 21)),
    }
    for name, body in bad.items():
        refused = httpx.post(f"{base}/zonal", json=body, timeout=60)
        assert refused.status_code == 400, (name, refused.text)
        assert "\n" not in refused.json()["detail"], name
    assert httpx.post(f"{base}/zonal", content=b"{" * 10, headers={"content-type": "application/json"}, timeout=60).status_code == 400


def test_zone_under_a_point_is_served_with_its_figures(catalog_copy, tmp_path, monkeypatch, capsys):
    from tests.conftest import serve_catalog

    zones_file = write_zones(tmp_path / "districts.gpkg", {k: ZONES[k] for k in ("inside", "overlap")})
    code, _, err = devscore(monkeypatch, capsys, "zonal", "--zones", str(zones_file), "--id-field", "name",
                            "--catalog", str(catalog_copy))
    assert code == 0, err
    table = gpd.read_parquet(next((catalog_copy / "devscore-zonal" / "zonal-districts").glob("zonal-*.parquet")))
    centre = ZONES["inside"].centroid
    with serve_catalog(catalog_copy, tmp_path / "serve.log") as base:
        found = httpx.get(f"{base}/zonal/at", params={"lon": centre.x, "lat": centre.y}, timeout=60).json()
        assert found["zone"] == "inside" and found["id_field"] == "name" and found["item"] == "zonal-districts"
        for row in found["years"]:
            expected = table[(table["name"] == "inside") & (table["year"] == row["year"])].iloc[0]
            assert row["mean_score"] == pytest.approx(expected["mean_score"], abs=1e-6)
            assert row["chips"] == expected["chips"]
        assert httpx.get(f"{base}/zonal/at", params={"lon": 10.1, "lat": 10.1}, timeout=60).json()["zone"] is None
        assert httpx.get(f"{base}/zonal/at", params={"lon": 500, "lat": 10}, timeout=60).status_code in (400, 422)
