// devscore map page: one raster layer per collection-year mosaic, legend, opacity, score under the cursor.
import * as maplibregl from "/vendor/maplibre-gl/maplibre-gl.mjs";

(async function () {
  const config = await (await fetch("/config.json")).json();
  const layers = (await (await fetch("/layers")).json()).layers;
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
    option.textContent = `${layer.collection} ${layer.year} (${layer.items.length} granules)`;
    select.appendChild(option);
  });
  // the latest score year first (night-light layers come after the score layers)
  const scores = layers.map((l, i) => [l, i]).filter(([l]) => l.collection === "devscore-scores");
  if (layers.length) select.value = scores.length ? scores[scores.length - 1][1] : layers.length - 1;

  async function show(layer) {
    legend.src = layer.legend;
    legend.alt = `legend: ${layer.title}`;
    const tilejson = await (await fetch(layer.tilejson)).json();
    if (map.getLayer("scores")) map.removeLayer("scores");
    if (map.getSource("scores")) map.removeSource("scores");
    map.addSource("scores", { type: "raster", tiles: [layer.xyz], tileSize: 256, bounds: tilejson.bounds,
                              minzoom: tilejson.minzoom, maxzoom: tilejson.maxzoom });
    map.addLayer({ id: "scores", type: "raster", source: "scores", paint: { "raster-opacity": Number(opacity.value) } });
    map.fitBounds([[tilejson.bounds[0], tilejson.bounds[1]], [tilejson.bounds[2], tilejson.bounds[3]]], { padding: 20, animate: false });
  }

  let pending = null;
  async function query(lngLat) {
    const layer = layers[select.value];
    if (!layer) return;
    const url = layer.point.replace("{lon}", lngLat.lng.toFixed(5)).replace("{lat}", lngLat.lat.toFixed(5));
    const what = layer.collection === "devscore-scores" ? "score" : "radiance (nW/cm2/sr)";
    const response = await fetch(url);
    if (!response.ok || response.status === 204) { info.textContent = `No ${what} here.`; return; }
    const hit = (await response.json()).assets.find((a) => a.values[0] !== null && a.values[0] !== undefined && a.values[0] > -999);
    info.textContent = hit ? `${what} ${hit.values[0].toFixed(3)} · ${hit.name.split("/").pop()}` : `No ${what} here.`;
  }

  map.on("load", () => {
    if (layers.length) show(layers[select.value]);
    else info.textContent = "The catalog has no layers yet.";
  });
  select.addEventListener("change", () => show(layers[select.value]));
  opacity.addEventListener("input", () => map.getLayer("scores") && map.setPaintProperty("scores", "raster-opacity", Number(opacity.value)));
  map.on("click", (e) => query(e.lngLat));
  map.on("mousemove", (e) => { clearTimeout(pending); pending = setTimeout(() => query(e.lngLat), 150); });
})();
