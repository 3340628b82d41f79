#!/usr/bin/env bash
# Runs every check and test of hacx: gofmt, go vet, staticcheck, go test
# (unit and integration), go vet and go test of the nested examples/mellium
# module, and a short fuzz smoke of every FuzzXxx target when FUZZTIME is
# set (e.g. FUZZTIME=15s ./test.sh).
#
# Integration tests drive real Debian programs (HACX_APT_PACKAGES, e.g.
# "prosody unbound nginx pebble go-sendxmpp"); when they are missing and we
# are root with apt-get, they are installed, else those tests skip and say
# why (or fail, when CI is set).
set -euo pipefail
cd "$(dirname "$0")"

need_pkgs=()
for p in ${HACX_APT_PACKAGES:-}; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test.sh: installing ${need_pkgs[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    echo "test.sh: missing ${need_pkgs[*]}; integration tests that need them will skip" >&2
  fi
fi

echo "== gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi

echo "== go vet"
go vet ./...

echo "== staticcheck"
# Pinned so that a new release's checks never fail an old commit.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== go test"
go test -count=1 -timeout 20m ./...

echo "== examples/mellium (nested module: ./... above does not enter it)"
(cd examples/mellium && go vet ./... && go test -count=1 ./...)

if [ -n "${FUZZTIME:-}" ]; then
  echo "== fuzz smoke (${FUZZTIME} per target)"
  for pkg in $(go list ./...); do
    for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
      echo "-- $pkg $target"
      log=$(mktemp)
      # Go's fuzz coordinator sometimes ends a run with "context deadline
      # exceeded" when the time is up, having found nothing; such a run is
      # retried (twice at most). A real finding ("Failing input written")
      # fails at once.
      for try in 1 2 3; do
        if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1; then
          tail -1 "$log"
          break
        fi
        cat "$log"
        if [ "$try" = 3 ] || ! grep -q 'context deadline exceeded' "$log" || grep -q 'Failing input written' "$log"; then
          exit 1
        fi
        echo "-- retrying $target after a fuzz engine time-out"
      done
      rm -f "$log"
    done
  done
fi
echo "== all checks passed"
