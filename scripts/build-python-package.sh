#!/usr/bin/env bash
# Builds the Python package of OqElasticCluster (a jsii facade, jsii/, over the construct library, which it
# bundles) and prints the wheel's path: dist/python/oq_elastic-<version>-py3-none-any.whl.
#   1. `npm pack` of the library (its prepack builds dist/);
#   2. the facade in .cache/jsii-build/ with its props generated from the construct's own
#      (scripts/jsii-facade-props.ts) and its pinned tools (jsii, jsii-pacmak, the aws-cdk-lib release the
#      Python side installs), the library's tarball installed as its bundled dependency;
#   3. jsii, then jsii-pacmak for Python.
# About 1.5 min on this kind of machine with the npm cache warm; downloads jsii's tools (about 25 MB) once.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$ROOT/.cache/jsii-build"
mkdir -p "$WORK"
rm -rf "$WORK/facade" "$WORK"/oq-elastic-*.tgz

cd "$ROOT"
tarball="$WORK/$(npm pack --silent --pack-destination "$WORK" | tail -n 1)"

cp -r "$ROOT/jsii" "$WORK/facade"
cd "$WORK/facade"
rm -rf lib dist .jsii tsconfig.json
"$ROOT/node_modules/.bin/tsx" "$ROOT/scripts/jsii-facade-props.ts" src/cluster-props.ts
# npm refuses to install with the root's bundledDependencies set, so the library goes in from its tarball under
# a package.json without them; jsii and jsii-pacmak then read the committed one (same version, bundled).
node -e '
  const fs = require("fs");
  const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
  delete pkg.bundledDependencies;
  pkg.dependencies["oq-elastic"] = "file:" + process.argv[1];
  fs.writeFileSync("package.json", JSON.stringify(pkg, null, 2));
' "$tarball"
npm install --prefer-offline --no-audit --no-fund --loglevel=error >&2
cp "$ROOT/jsii/package.json" package.json
# jsii's banner about the Node.js release goes to stderr; the build's own errors fail the script.
npx jsii --silence-warnings=reserved-word >&2
npx jsii-pacmak --targets python --outdir dist >&2
wheel="$(ls dist/python/*.whl)"
mkdir -p "$ROOT/dist/python"  # after npm pack, whose build starts dist/ afresh
cp "$wheel" "$ROOT/dist/python/"
echo "$ROOT/dist/python/$(basename "$wheel")"
