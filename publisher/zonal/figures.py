"""Figures of one zone and year: area-weighted mean score, covered share, chips, mean uncertainty.

Each chip weighs by its area inside the zone: exactextract's coverage fraction of the chip's cell on the
chip grid times the chip's area. Granules overlap (MGRS tiles share about 10 km), so a place can have a
score from two granules in one year; it counts once, from the first granule (by item id) that scored it:
each granule sees the zone minus what earlier granules already covered with scored chips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import shapely
import shapely.geometry
from exactextract import exact_extract
from exactextract.raster import NumPyRasterSource
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from publisher.zonal.layers import ChipLayer

WGS84 = CRS.from_epsg(4326)
#: Longest edge (metres) of a geometry moved between two projections: longer edges are split first.
DENSIFY_M = 500.0
#: A chip counts in a zone's ``chips`` when this share of its area lies inside (not a rounding sliver
#: along the edge of another granule's scored area).
MIN_CHIP_SHARE = 1e-6


@dataclass(frozen=True)
class ZoneFigures:
    """Figures of one zone in one year (NaN mean and uncertainty where no scored chip touches the zone)."""

    mean_score: float
    covered_share: float
    chips: int
    mean_uncertainty: float
    area_km2: float


def project(geometry: BaseGeometry, source: CRS, target: CRS, densify: float | None = None) -> BaseGeometry:
    """``geometry`` moved from ``source`` to ``target`` (edges split to ``densify`` units first, if given)."""
    if source == target:
        return geometry
    if densify:
        geometry = shapely.segmentize(geometry, densify)
    transformer = Transformer.from_crs(source, target, always_xy=True)
    return shapely.transform(geometry, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def polygonal(geometry: BaseGeometry) -> BaseGeometry:
    """The polygons of a geometry (a difference can leave lines and points behind)."""
    parts = shapely.get_parts(geometry)
    polygons = [p for p in parts if p.geom_type in ("Polygon", "MultiPolygon") and not p.is_empty]
    return shapely.union_all(polygons) if polygons else shapely.Polygon()


def cell_weights(layer: ChipLayer, zone: BaseGeometry) -> tuple[np.ndarray, np.ndarray]:
    """(flat cell indices, area in CRS units squared) of the chips ``zone`` (in ``layer.crs``) covers."""
    xmin, ymin, xmax, ymax = layer.bounds
    index = np.arange(layer.scores.size, dtype=np.float64).reshape(layer.scores.shape)
    source = NumPyRasterSource(index, xmin, ymin, xmax, ymax)
    feature = {"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(zone)}
    result = exact_extract(source, [feature], ["cell_id", "coverage"])[0]["properties"]
    return np.asarray(result["cell_id"], np.int64), np.asarray(result["coverage"], np.float64) * layer.cell_area


def utm_crs(geometry: BaseGeometry) -> CRS:
    """The UTM projection of the zone that holds ``geometry``'s centroid (WGS84): where its area is measured,
    as MGRS granules are gridded in the UTM zone they lie in."""
    centre = geometry.centroid
    zone = min(int((centre.x + 180.0) // 6.0) + 1, 60)
    return CRS.from_epsg((32600 if centre.y >= 0 else 32700) + zone)


def zone_figures(zone: BaseGeometry, layers: Sequence[ChipLayer]) -> ZoneFigures:
    """Figures of ``zone`` (WGS84) over the granule-years ``layers`` of one year; its area in its UTM zone."""
    area = project(zone, WGS84, utm_crs(zone)).area
    score_sum = covered = spread_sum = spread_area = 0.0
    chips = 0
    claimed: list[tuple[CRS, BaseGeometry]] = []
    for layer in sorted(layers, key=lambda lay: lay.item_id):
        piece = project(zone, WGS84, layer.crs)
        if not piece.intersects(shapely.box(*layer.bounds)):
            continue
        for crs, taken in claimed:
            piece = piece.difference(project(taken, crs, layer.crs, DENSIFY_M))
        piece = polygonal(piece)
        if piece.is_empty:
            continue
        cells, weights = cell_weights(layer, piece)
        scores = layer.scores.ravel()[cells]
        scored = ~np.isnan(scores) & (weights > MIN_CHIP_SHARE * layer.cell_area)
        if not scored.any():
            continue
        score_sum += float(np.sum(weights[scored] * scores[scored]))
        covered += float(np.sum(weights[scored]))
        chips += int(scored.sum())
        if layer.uncertainty is not None:
            spread = layer.uncertainty.ravel()[cells]
            known = scored & ~np.isnan(spread)
            spread_sum += float(np.sum(weights[known] * spread[known]))
            spread_area += float(np.sum(weights[known]))
        claimed.append((layer.crs, shapely.intersection(piece, shapely.union_all(layer.scored_cells[cells[scored]]))))
    return ZoneFigures(
        mean_score=score_sum / covered if covered else float("nan"),
        covered_share=min(covered / area, 1.0) if area else 0.0,
        chips=chips,
        mean_uncertainty=spread_sum / spread_area if spread_area else float("nan"),
        area_km2=area / 1e6,
    )
