#!/bin/sh
# Vendors govuk-frontend at VERSION from the npm registry: the compiled CSS and JS psn serves,
# nothing else (no GDS Transport fonts, no crown or GOV.UK images). The CSS is rewritten to the
# Arial/Helvetica font stack with its @font-face rules removed, since psn is not GOV.UK.
# Usage: sh update.sh 6.6.0   (then update VERSION in src/ui/assets.rs and README.md here)
set -eu
VERSION=${1:?usage: update.sh VERSION}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
npm pack --silent "govuk-frontend@$VERSION" >/dev/null
tar xzf "govuk-frontend-$VERSION.tgz"
DIST=package/dist/govuk
sed -e 's/@font-face{font-family:GDS Transport;[^}]*}//g' \
    -e 's/font-family:GDS Transport,arial,sans-serif/font-family:arial,helvetica,sans-serif/g' \
    -e 's/font-family:GDS Transport/font-family:arial,helvetica,sans-serif/g' \
    -e 's#/\*\# sourceMappingURL=[^*]*\*/##' \
    "$DIST/govuk-frontend.min.css" > "$HERE/govuk-frontend.min.css"
sed -e 's#//\# sourceMappingURL=.*$##' "$DIST/govuk-frontend.min.js" > "$HERE/govuk-frontend.min.js"
if grep -q 'GDS Transport' "$HERE/govuk-frontend.min.css"; then
    echo "GDS Transport is still named in the CSS; adjust the rewrite" >&2
    exit 1
fi
echo "$VERSION" > "$HERE/VERSION"
# The fixtures of the components whose markup psn's tests compare with its own templates.
node -e '
const fs = require("fs");
const wanted = { pagination: ["default", "with many pages", "first page"] };
const out = {};
for (const [component, names] of Object.entries(wanted)) {
  const all = JSON.parse(fs.readFileSync(`package/dist/govuk/components/${component}/fixtures.json`, "utf8")).fixtures;
  out[component] = all.filter((f) => names.includes(f.name)).map((f) => ({ name: f.name, options: f.options, html: f.html }));
}
fs.writeFileSync(process.argv[1], JSON.stringify(out, null, 2) + "\n");
' "$HERE/../../tests/data/govuk-fixtures.json"
