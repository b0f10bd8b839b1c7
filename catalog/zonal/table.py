"""The zonal table: one row per zone and year with the figures of ``publisher.zonal.figures``."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from publisher.zonal.figures import zone_figures
from publisher.zonal.layers import ChipLayer
from publisher.zonal.zones import Zones

#: The output columns after the zone id, with their descriptions (the STAC table extension's columns).
COLUMNS = {
    "year": ("int16", "calendar year of the scores"),
    "mean_score": ("float64", "area-weighted mean development score of the zone's scored chips (0 to 1)"),
    "change": ("float64", "mean_score minus the zone's mean_score of the previous year in the table"),
    "covered_share": ("float64", "share of the zone's area covered by scored chips"),
    "chips": ("int32", "number of scored chips that overlap the zone"),
    "mean_uncertainty": ("float64", "area-weighted mean spread of the chip scores (empty without an ensemble)"),
    "area_km2": ("float64", "zone area in square kilometres (its UTM projection)"),
}


def zonal_table(zones: Zones, layers: dict[int, list[ChipLayer]]) -> gpd.GeoDataFrame:
    """Figures of every zone in every year of ``layers``, sorted by zone id then year, WGS84 polygons."""
    frame = zones.frame
    rows = []
    for zone_id, geometry in zip(frame[zones.id_field], frame.geometry):
        previous = np.nan
        for year in sorted(layers):
            figures = zone_figures(geometry, layers[year])
            rows.append({zones.id_field: zone_id, "year": year, "mean_score": figures.mean_score,
                         "change": figures.mean_score - previous, "covered_share": figures.covered_share,
                         "chips": figures.chips, "mean_uncertainty": figures.mean_uncertainty,
                         "area_km2": figures.area_km2, "geometry": geometry})
            previous = figures.mean_score
    table = gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs="EPSG:4326")
    return table.astype({name: dtype for name, (dtype, _) in COLUMNS.items()})


def text_table(table: pd.DataFrame, id_field: str) -> str:
    """The table as aligned text for a terminal (no geometry)."""
    shown = table[[id_field, *COLUMNS]].copy()
    if shown["mean_uncertainty"].isna().all():
        shown = shown.drop(columns="mean_uncertainty")
    return shown.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="-")


def wide_table(table: pd.DataFrame, id_field: str) -> str:
    """One line per zone: its mean score per year, the change from the first to the last year, and the
    covered share, chips and (where known) mean uncertainty of the last year (what the demo prints)."""
    years = sorted(table["year"].unique())
    scores = table.pivot(index=id_field, columns="year", values="mean_score")
    shown = pd.DataFrame({f"score {y}": scores[y] for y in years})
    if len(years) > 1:
        shown[f"change {years[0]}-{years[-1]}"] = scores[years[-1]] - scores[years[0]]
    last = table[table["year"] == years[-1]].set_index(id_field)
    shown["covered"] = last["covered_share"]
    shown["chips"] = last["chips"]
    if last["mean_uncertainty"].notna().any():  # scores from an ensemble: the last year's mean spread
        shown["uncertainty"] = last["mean_uncertainty"]
    return shown.reset_index().to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="-")
