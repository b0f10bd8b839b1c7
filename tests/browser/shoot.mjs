// Drive Debian's Chromium headless with playwright-core: open a page, wait for network-quiet,
// optionally click, screenshot, and print a JSON summary (responses, failed requests, console errors, page text).
// Usage: node shoot.mjs URL OUT.png [waitForText] [clickX,clickY]
import { chromium } from "playwright-core";

const [url, out, expectedText, click] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-quic", "--no-first-run", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"],
});
// VIEWPORT=420x800 shoots a narrow screen (default 1024x768)
const [width, height] = (process.env.VIEWPORT || "1024x768").split("x").map(Number);
const page = await browser.newPage({ viewport: { width, height } });
const responses = [];
const failed = [];
const errors = [];
let inflight = 0;
let lastActivity = Date.now();
page.on("request", () => { inflight += 1; lastActivity = Date.now(); });
page.on("requestfinished", () => { inflight -= 1; lastActivity = Date.now(); });
page.on("requestfailed", (r) => {
  inflight -= 1;
  lastActivity = Date.now();
  failed.push({ url: r.url(), error: r.failure()?.errorText || "" });
});
page.on("response", (r) => responses.push({ url: r.url(), status: r.status() }));
page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
page.on("pageerror", (e) => errors.push(String(e)));
await page.goto(url, { waitUntil: "networkidle", timeout: 60000 });
// Wait for the text; on a loaded shared machine a first load can stall, so reload once before failing.
async function waitForText(text) {
  await page.waitForFunction((t) => document.body.innerText.includes(t), text, { timeout: 45000 });
}
if (expectedText) {
  try {
    await waitForText(expectedText);
  } catch (error) {
    console.error(`"${expectedText}" not shown after 45 s, reloading once; page said: ` +
                  (await page.evaluate(() => document.body.innerText)).slice(0, 500));
    await page.reload({ waitUntil: "networkidle", timeout: 60000 });
    await waitForText(expectedText);
  }
}
// Map tiles are requested after the text appears: wait until the network has been quiet for 1 s.
for (const start = Date.now(); Date.now() - start < 20000;) {
  if (inflight <= 0 && Date.now() - lastActivity > 1000) break;
  await page.waitForTimeout(200);
}
await page.waitForTimeout(1500);
if (click) {
  const [x, y] = click.split(",").map(Number);
  await page.mouse.click(x, y);
  await page.waitForTimeout(1500);
}
await page.screenshot({ path: out });
const text = await page.evaluate(() => document.body.innerText);
const tiles = await page.evaluate(() => window.devscoreTiles || null);
console.log(JSON.stringify({ responses, failed, errors, text, tiles }));
await browser.close();
