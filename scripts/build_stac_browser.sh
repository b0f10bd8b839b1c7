#!/usr/bin/env bash
# Build STAC Browser once into .cache/stac-browser/dist. The npm package @radiantearth/stac-browser
# (declared in package.json, installed by npm ci) ships its sources only; its own build tools are
# installed here, beside the copy, and the build is kept until the package version, the ol-stac
# pin or the build options below change.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(node -p "require('./node_modules/@radiantearth/stac-browser/package.json').version")
out=.cache/stac-browser
# STAC Browser 4.0.1 declares ol-stac ^1.1.0 but hands ol-stac the objects of its own stac-js ~0.1.9,
# whose isItem()/isAsset()/... are methods. ol-stac 1.1.x is the only line built on stac-js ~0.1.8;
# from 1.2.0 on ol-stac expects stac-js >= 0.3 (isSTAC/isAsset/isItem getters, getDefaultGeoFile), so
# it takes an Item for an Asset (the method isAsset is truthy), draws only the footprint and never
# the Item's web-map links, COG or thumbnail. ol-stac >= 1.5 does not even build against STAC Browser's
# ol ~10.6. 1.1.0 shares STAC Browser's stac-js and draws an Item's xyz/tilejson/wmts link first.
OL_STAC=1.1.0
# hash history: the static build works from any folder; no catalogUrl: users (and tests) pick one.
# No COG by default: the map would decode score.tif in the browser, whose geotiff.js has no ZSTD
# decoder ("Unknown compression method identifier: 50000"), leaving a blank layer. Without it the map
# shows an Item's web-map link (API items: our server's RdYlGn_r tiles, which ol-stac 1.1 prefers
# anyway), else its thumbnail; "Show on map" on the asset still tries the COG.
OPTIONS=(--historyMode=hash --pathPrefix=/ --noSourceMaps --displayOverview=false)
build_id="$version ol-stac $OL_STAC ${OPTIONS[*]}"
if [ -f "$out/dist/index.html" ] && [ "$(cat "$out/VERSION" 2>/dev/null)" = "$build_id" ]; then
  echo "STAC Browser $build_id already built in $out/dist"
  exit 0
fi
rm -rf "$out"
mkdir -p "$out"
cp -r node_modules/@radiantearth/stac-browser "$out/src"
(
  cd "$out/src"
  npm install --no-audit --no-fund --include=dev
  npm install --no-save --no-audit --no-fund "ol-stac@$OL_STAC"
  # ol-stac tells STAC objects apart with instanceof: it must use STAC Browser's own stac-js copy
  if [ -e node_modules/ol-stac/node_modules/stac-js ]; then
    echo "ol-stac $OL_STAC brought its own stac-js; STAC Browser's map would show footprints only" >&2
    exit 1
  fi
  npx vue-cli-service build "${OPTIONS[@]}" --dest ../dist
)
echo "$build_id" > "$out/VERSION"
rm -rf "$out/src"
echo "built STAC Browser $build_id into $out/dist"
