import { chromium } from "playwright-core";
const [url, out] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"] });
const page = await browser.newPage({ viewport: { width: 1024, height: 768 } });
page.on("console", (m) => console.log("CONSOLE", m.type(), m.text()));
page.on("pageerror", (e) => console.log("PAGEERR", String(e)));
page.on("requestfailed", (r) => console.log("FAILED", r.url(), r.failure()?.errorText));
page.on("response", (r) => { if (!r.url().includes(":8766")) console.log("RESP", r.status(), r.url()); });
await page.goto(url, { waitUntil: "networkidle", timeout: 60000 });
await page.waitForTimeout(4000);
const info = await page.evaluate(async () => {
  const el = document.querySelector(".map-container");
  const vm = el && el.__vue__;
  if (!vm) return "no vm";
  const sl = vm.stacLayer;
  if (!sl) return "no stacLayer";
  const d = sl.getData();
  const g = d.getDefaultGeoFile && d.getDefaultGeoFile('geotiff', true, true);
  const protos = []; for (let p = Object.getPrototypeOf(d); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) protos.push(Object.getOwnPropertyNames(p).map(n => { const de = Object.getOwnPropertyDescriptor(p, n); return n + (de.get ? "(get)" : ""); }).join(","));
  const res = {protos, types: [typeof d.isAsset, typeof d.isSTAC, typeof d.isItem, typeof d.getDefaultGeoFile, typeof d.isApiCollection], opts: {ov: sl.displayOverview_, pv: sl.displayPreview_, wm: sl.displayWebMapLink_, gt: sl.displayGeoTiffByDefault_, tile: !!sl.buildTileUrlTemplate_},
    isItem: d.isItem, isSTAC: d.isSTAC, geotiff: g ? g.href : null, links: sl.getWebMapLinks().map(l => l.rel + " " + l.href), assets: sl.getAssets() };
  try { await sl.updateLayers(); res.update = "ok"; } catch (e) { res.update = String(e) + e.stack; }
  res.layers = sl.getLayersArray().map(l => ({ cls: l.constructor.name, stac: l.get("stac") && (l.get("stac").href || l.get("stac").rel || l.get("stac").id), bounds: !!l.get("bounds"), visible: l.getVisible(), src: l.getSource && l.getSource() && l.getSource().constructor.name, state: l.getSource && l.getSource() && l.getSource().getState() }));
  return res;
});
console.log(JSON.stringify(info, null, 1));
await page.screenshot({ path: out });
await browser.close();
