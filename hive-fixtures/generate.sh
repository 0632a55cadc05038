#!/usr/bin/env bash
# Regenerates the committed fixtures in this directory from their
# descriptions in src/fixtures/mod.rs (built by src/fixtures/build.rs).
#   hive-fixtures/generate.sh            # the small committed fixtures
#   hive-fixtures/generate.sh --large D  # the >= 30 MB benchmark hive into D
#   hive-fixtures/generate.sh --large-software D  # a >= 60 MB SOFTWARE (and a
#                                        # small SYSTEM) into D, for the bench
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
if [ "${1:-}" = "--large-software" ]; then
  out="${2:-$here/generated-large}"
  cargo run --quiet --release --example gen_fixtures -- "$out" --large-software
  exit
fi
if [ "${1:-}" = "--large" ]; then
  out="${2:-$here/generated-large}"
  cargo run --quiet --release --example gen_fixtures -- "$out" --large
else
  cargo run --quiet --example gen_fixtures -- "$here"
fi
