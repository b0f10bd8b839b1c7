// devscore map page: one raster layer per collection-year mosaic (scores, night lights) and per year pair
// of change and of uncertainty (a slider steps through them), legend, opacity, the value under the cursor, the
// score's uncertainty and the zone on click.
import * as maplibregl from "/vendor/maplibre-gl/maplibre-gl.mjs";

(async function () {
  const config = await (await fetch("/config.json")).json();
  const years = (await (await fetch("/layers")).json()).layers;
  const change = await (await fetch("/change/layers")).json();
  const spread = await (await fetch("/uncertainty/layers")).json();
  const WHAT = { "devscore-scores": "score", "viirs-nightlights": "radiance (nW/cm2/sr)", "devscore-change": "change",
                 "uncertainty": "uncertainty" };
  // the uncertainty point route of each year with an ensemble's spread (shown beside the score on click)
  const spreadPoint = Object.fromEntries(spread.years.map((y) => [y.year, y.point]));
  // one entry per collection-year, then one per year pair of change (diverging legend centred on 0)
  const layers = [
    ...years.map((l) => ({ ...l, key: `${l.collection}-${l.year}`,
                           label: `${l.collection} ${l.year} (${l.items.length} granules)` })),
    ...change.pairs.map((p) => ({ key: `change-${p.pair}`, collection: "devscore-change", xyz: p.tiles, items: p.items,
                                  title: `change ${p.pair}: red decline, blue growth`, label: `change ${p.pair} (${p.items.length} granules)`,
                                  legend: "/legend.png?collection=devscore-change",
                                  tilejson: `/change/pairs/${p.pair}/WebMercatorQuad/tilejson.json`,
                                  point: `/change/pairs/${p.pair}/point/{lon},{lat}` })),
    ...spread.years.map((y) => ({ key: `uncertainty-${y.year}`, collection: "uncertainty", year: y.year, xyz: y.tiles,
                                  items: y.items, title: `uncertainty ${y.year}: SD of the chip's percentile rank over the scorer ensemble`,
                                  label: `uncertainty ${y.year} (${y.items.length} granules)`, legend: spread.legend,
                                  tilejson: y.tilejson, point: y.point })),
  ];
  const slider = document.getElementById("year");
  const select = document.getElementById("layer");
  const info = document.getElementById("info");
  const opacity = document.getElementById("opacity");
  const legend = document.getElementById("legend-img");

  const style = { version: 8, sources: {}, layers: [{ id: "background", type: "background", paint: { "background-color": "#e8e8e4" } }] };
  if (config.basemap_url) {
    style.sources.basemap = { type: "raster", tiles: [config.basemap_url], tileSize: 256 };
    style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
  }
  const map = new maplibregl.Map({ container: "map", style, center: [104.07, 30.6], zoom: 7, attributionControl: false });
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  // Tile bookkeeping (tiles load in a worker, out of sight of page-level network hooks).
  window.devscoreTiles = { loaded: 0, errors: [] };
  map.on("data", (e) => { if (e.sourceId === "scores" && e.tile) window.devscoreTiles.loaded += 1; });
  map.on("error", (e) => window.devscoreTiles.errors.push(String((e.error && e.error.message) || e)));

  layers.forEach((layer, i) => {
    const option = document.createElement("option");
    option.value = i;
    option.textContent = layer.label;
    select.appendChild(option);
  });
  // ?layer=KEY opens that layer; otherwise the latest score year
  const wanted = layers.findIndex((l) => l.key === new URLSearchParams(location.search).get("layer"));
  const scores = layers.map((l, i) => [l, i]).filter(([l]) => l.collection === "devscore-scores");
  if (layers.length) select.value = wanted >= 0 ? wanted : scores.length ? scores[scores.length - 1][1] : 0;
  slider.max = Math.max(layers.length - 1, 0);
  slider.value = select.value;

  async function show(layer) {
    legend.src = layer.legend;
    legend.alt = `legend: ${layer.title}`;
    document.getElementById("legend-caption").textContent = layer.title;
    const tilejson = await (await fetch(layer.tilejson)).json();
    if (map.getLayer("scores")) map.removeLayer("scores");
    if (map.getSource("scores")) map.removeSource("scores");
    map.addSource("scores", { type: "raster", tiles: [layer.xyz], tileSize: 256, bounds: tilejson.bounds,
                              minzoom: tilejson.minzoom, maxzoom: tilejson.maxzoom });
    map.addLayer({ id: "scores", type: "raster", source: "scores", paint: { "raster-opacity": Number(opacity.value) } });
    map.fitBounds([[tilejson.bounds[0], tilejson.bounds[1]], [tilejson.bounds[2], tilejson.bounds[3]]], { padding: 20, animate: false });
  }

  let pending = null;
  // the first valid value of a point query (null where none)
  async function pointValue(template, lngLat) {
    const url = template.replace("{lon}", lngLat.lng.toFixed(5)).replace("{lat}", lngLat.lat.toFixed(5));
    const response = await fetch(url);
    if (!response.ok || response.status === 204) return null;
    return (await response.json()).assets.find((a) => a.values[0] !== null && a.values[0] !== undefined && a.values[0] > -999) || null;
  }

  // the value under the cursor; on a click on a score layer, also its uncertainty (the SD of its percentile rank)
  async function query(lngLat, clicked = false) {
    const layer = layers[select.value];
    if (!layer) return;
    const what = WHAT[layer.collection] || "value";
    const hit = await pointValue(layer.point, lngLat);
    const value = hit && (what === "change" && hit.values[0] > 0 ? "+" : "") + hit.values[0].toFixed(3);
    let text = hit ? `${what} ${value}` : `No ${what} here.`;
    if (hit && clicked && layer.collection === "devscore-scores" && spreadPoint[layer.year]) {
      const sd = await pointValue(spreadPoint[layer.year], lngLat);
      if (sd) text += ` · uncertainty ±${(100 * sd.values[0]).toFixed(1)} percentile points (rank SD over the scorer ensemble)`;
    }
    info.textContent = hit ? `${text} · ${hit.name.split("/").pop()}` : text;
  }

  map.on("load", () => {
    if (layers.length) show(layers[select.value]);
    else info.textContent = "The catalog has no layers yet.";
  });
  select.addEventListener("change", () => { slider.value = select.value; show(layers[select.value]); });
  slider.addEventListener("input", () => { select.value = slider.value; show(layers[select.value]); });
  opacity.addEventListener("input", () => map.getLayer("scores") && map.setPaintProperty("scores", "raster-opacity", Number(opacity.value)));
  // the published zone under a click (devscore zonal), its mean score per year
  async function zone(lngLat) {
    const response = await fetch(`/zonal/at?lon=${lngLat.lng.toFixed(5)}&lat=${lngLat.lat.toFixed(5)}`);
    const old = document.getElementById("zone");
    if (old) old.remove();
    if (!response.ok) return;
    const found = await response.json();
    if (found.zone === null) return;
    const line = document.createElement("div");
    line.id = "zone";
    line.textContent = `${found.id_field} ${found.zone}: ` + found.years.map((y) =>
      `${y.year} ${y.mean_score === null ? "-" : y.mean_score.toFixed(3)}`).join(", ");
    info.after(line);
  }
  map.on("click", (e) => { clearTimeout(pending); query(e.lngLat, true); zone(e.lngLat); });
  map.on("mousemove", (e) => { clearTimeout(pending); pending = setTimeout(() => query(e.lngLat), 150); });
})();
