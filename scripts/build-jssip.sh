#!/usr/bin/env bash
# Rebuild src/tongdai/web/static/vendor/jssip.min.mjs, the browser softphone's SIP stack, from the npm
# package jssip (MIT, https://github.com/versatica/JsSIP) as one ES module. The built file is committed,
# so neither `make run` nor `make test` needs npm; run this only to change JsSIP's version.
#   scripts/build-jssip.sh [version]
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${1:-3.13.8}"
OUT=src/tongdai/web/static/vendor
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
( cd "$work" && echo '{"private": true}' > package.json \
  && npm install --silent --no-audit --no-fund "jssip@$VERSION" esbuild@0.24.2 \
  && npx esbuild node_modules/jssip/lib/JsSIP.js --bundle --format=esm --minify --platform=browser \
       --legal-comments=none --outfile=jssip.min.mjs --log-level=warning )
{ echo "/*! JsSIP $VERSION | (c) José Luis Millán - Versatica | MIT (see jssip.LICENSE.txt) */"
  cat "$work/jssip.min.mjs"; } > "$OUT/jssip.min.mjs"
cp "$work/node_modules/jssip/LICENSE.md" "$OUT/jssip.LICENSE.txt"
echo "$OUT/jssip.min.mjs: JsSIP $VERSION"
