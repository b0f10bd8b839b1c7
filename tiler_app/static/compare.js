// devscore compare page: scores (left) and night lights (right) of one year or granule-year in two
// MapLibre maps that move together, with Pearson, Spearman and n from /nightlights/correlation.
import * as maplibregl from "/vendor/maplibre-gl/maplibre-gl.mjs";

(async function () {
  const query = new URLSearchParams(location.search);
  const stats = document.getElementById("stats");
  // neither item nor year: the server picks the latest year with night lights
  const params = query.get("item") ? `item=${encodeURIComponent(query.get("item"))}`
    : (query.get("year") ? `year=${encodeURIComponent(query.get("year"))}` : "");
  const response = await fetch(`/nightlights/layers?${params}`);
  if (!response.ok) { stats.textContent = (await response.json()).detail; return; }
  const layers = await response.json();
  document.getElementById("title").textContent = layers.title;

  // Tile bookkeeping per source (tiles load in a worker, out of sight of page-level network hooks).
  window.devscoreTiles = { loaded: 0, errors: [], sources: { scores: 0, nightlights: 0 } };
  const [w, s, e, n] = layers.bounds;
  function makeMap(container, id, url, bounds) {
    const map = new maplibregl.Map({
      container, attributionControl: false, bounds: [[w, s], [e, n]], fitBoundsOptions: { padding: 10 },
      style: { version: 8, sources: { [id]: { type: "raster", tiles: [url], tileSize: 256, bounds } },
               layers: [{ id: "background", type: "background", paint: { "background-color": "#e8e8e4" } },
                        { id, type: "raster", source: id }] },
    });
    map.on("data", (ev) => {
      if (ev.sourceId === id && ev.tile) { window.devscoreTiles.loaded += 1; window.devscoreTiles.sources[id] += 1; }
    });
    map.on("error", (ev) => window.devscoreTiles.errors.push(`${id}: ${String((ev.error && ev.error.message) || ev)}`));
    return map;
  }
  const left = makeMap("left", "scores", layers.scores, layers.scores_bounds);
  const right = makeMap("right", "nightlights", layers.nightlights, layers.bounds);
  right.addControl(new maplibregl.NavigationControl(), "top-right");

  // Keep the two views together: whichever map the user moves drives the other.
  let syncing = false;
  function follow(from, to) {
    from.on("move", () => {
      if (syncing) return;
      syncing = true;
      to.jumpTo({ center: from.getCenter(), zoom: from.getZoom(), bearing: from.getBearing(), pitch: from.getPitch() });
      syncing = false;
    });
  }
  follow(left, right);
  follow(right, left);

  const result = await fetch(layers.correlation);
  const body = await result.json();
  stats.textContent = result.ok
    ? `Pearson ${body.pearson.toFixed(2)} · Pearson log1p ${body.pearson_log1p.toFixed(2)} · Spearman ${body.spearman.toFixed(2)} · n = ${body.n} chips (${body.items.join(", ")})`
    : `No correlation: ${body.detail}`;
})();
