#!/usr/bin/env bash
# Build STAC Browser once into .cache/stac-browser/dist. The npm package @radiantearth/stac-browser
# (declared in package.json, installed by npm ci) ships its sources only; its own build tools are
# installed here, beside the copy, and the build is kept until the package version changes.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(node -p "require('./node_modules/@radiantearth/stac-browser/package.json').version")
out=.cache/stac-browser
OL_STAC=1.4.0
if [ -f "$out/dist/index.html" ] && [ "$(cat "$out/VERSION" 2>/dev/null)" = "$version" ]; then
  echo "STAC Browser $version already built in $out/dist"
  exit 0
fi
rm -rf "$out"
mkdir -p "$out"
cp -r node_modules/@radiantearth/stac-browser "$out/src"
(
  cd "$out/src"
  npm install --no-audit --no-fund --include=dev
  # STAC Browser 4.0.1 allows ol-stac ^1.1 but pins ol ~10.6; ol-stac >= 1.5 imports functions that
  # only newer ol has, and the build fails. 1.4.0 builds against ol 10.6.
  npm install --no-save --no-audit --no-fund "ol-stac@$OL_STAC"
  # hash history: the static build works from any folder; no catalogUrl: users (and tests) pick one
  npx vue-cli-service build --historyMode=hash --pathPrefix=/ --noSourceMaps --dest ../dist
)
echo "$version" > "$out/VERSION"
rm -rf "$out/src"
echo "built STAC Browser $version into $out/dist"
