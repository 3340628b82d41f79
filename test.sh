#!/usr/bin/env bash
# Runs every check and test of hacx, in these steps:
#
#   install      Debian programs the integration tests drive (HACX_APT_PACKAGES,
#                e.g. "prosody ejabberd unbound nginx pebble go-sendxmpp"), when
#                some are missing and we are root with apt-get
#   gofmt, vet, staticcheck
#                (vet covers the nested examples/mellium module too)
#   release      release/build.sh: every release binary, checksums, the .deb
#   test         go test -race of the module and of examples/mellium, ending
#                with every skipped test and its reason
#   fuzz         a short fuzz run of every FuzzXxx target, when FUZZTIME is set
#                (e.g. FUZZTIME=15s ./test.sh) or the step is named
#
#   ./test.sh                 every step
#   ./test.sh vet test        only those steps
#
# Environment: CI set makes a test whose program is missing fail instead of
# skipping; RACE=0 runs the tests without the race detector (faster, and
# needs no C compiler); HACX_TEST_LOGS is where the logs go (default: a new
# temporary directory, named at the start).
set -euo pipefail
cd "$(dirname "$0")"

all_steps="install gofmt vet staticcheck release test fuzz"
steps="${*:-$all_steps}"
for s in $steps; do
  if [[ " $all_steps " != *" $s "* ]]; then
    echo "test.sh: no step \"$s\" (steps: $all_steps)" >&2
    exit 2
  fi
done
want() { [[ " $steps " == *" $1 "* ]]; }

logs="${HACX_TEST_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/hacx-test.XXXXXX")}"
mkdir -p "$logs"
echo "test.sh: logs in $logs"

# The race detector needs cgo and a C compiler.
race="${RACE:-1}"
cc_missing() { ! command -v "$(go env CC)" >/dev/null 2>&1; }

# Debian's server packages (ejabberd, prosody, nginx, unbound) start their
# service on install, listening on every address, where the tests start
# instances of their own on loopback. invoke-rc.d and deb-systemd-invoke
# ask /usr/sbin/policy-rc.d first, and its exit status 101 forbids the
# action (policy-rc.d in Debian's invoke-rc.d documentation), so one that
# forbids everything stands while apt-get runs, and whatever was there
# before is put back afterwards, even when the install fails.
# HACX_POLICY_RC_D moves it, for the test of this function only.
policy="${HACX_POLICY_RC_D:-/usr/sbin/policy-rc.d}"
policy_saved=""
restore_policy() {
  if [ -n "$policy_saved" ]; then
    mv -f "$policy_saved" "$policy"
  else
    rm -f "$policy"
  fi
}
apt_install() {
  if [ -e "$policy" ] || [ -L "$policy" ]; then
    policy_saved=$(mktemp "$policy.saved.XXXXXX")
    mv -f "$policy" "$policy_saved"
  fi
  trap restore_policy EXIT
  printf '#!/bin/sh\n# written by hacx test.sh while it installs packages: start no service\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  restore_policy
  trap - EXIT
}

if want install; then
  need_pkgs=()
  for p in ${HACX_APT_PACKAGES:-}; do
    dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
  done
  if want test && [ "$race" != 0 ] && cc_missing; then
    need_pkgs+=(gcc libc6-dev)
  fi
  if [ ${#need_pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "test.sh: installing ${need_pkgs[*]}" >&2
      apt_install "${need_pkgs[@]}"
    else
      echo "test.sh: missing ${need_pkgs[*]}; integration tests that need them will skip" >&2
    fi
  fi
fi

if want gofmt; then
  echo "== gofmt"
  unformatted=$(gofmt -l .)
  if [ -n "$unformatted" ]; then
    echo "gofmt would change:" >&2
    echo "$unformatted" >&2
    exit 1
  fi
fi

if want vet; then
  echo "== go vet (and of examples/mellium, a nested module ./... does not enter)"
  go vet ./...
  (cd examples/mellium && go vet ./...)
fi

if want staticcheck; then
  echo "== staticcheck"
  # Pinned so that a new release's checks never fail an old commit.
  go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
fi

if want release; then
  echo "== release/build.sh (every target, checksums, .deb)"
  release/build.sh "$logs/release"
  # The package test installs this .deb instead of building its own.
  export HACX_RELEASE_DIR="$logs/release"
fi

if want test; then
  race_flag=()
  if [ "$race" != 0 ]; then
    if cc_missing; then
      if [ -n "${CI:-}" ]; then
        echo "test.sh: the race detector needs a C compiler ($(go env CC)); CI must have one" >&2
        exit 1
      fi
      echo "test.sh: no C compiler ($(go env CC)): running the tests without -race" >&2
    else
      race_flag=(-race)
      export CGO_ENABLED=1
    fi
  fi
  echo "== go test ${race_flag[*]} ./... and examples/mellium"
  ci_pkgs=$(sed -n 's/.*HACX_APT_PACKAGES:-\([^}]*\)}.*/\1/p' .ci/run)
  hint="to run them all: as root, HACX_APT_PACKAGES=\"$ci_pkgs\" ./test.sh (the programs .ci/run installs; root also runs the .deb test); with CI set, a test missing its program fails instead of skipping"
  # -json shows every test, skipped ones included; testreport prints what
  # plain go test would, keeps the verbose log and ends with the skips.
  # Both runs are read, even when the first fails.
  go build -o "$logs/testreport" ./internal/testreport
  # ./release runs alone, first: installing the .deb (dpkg, man-db's
  # index) loads the machine enough to starve the timing tests of other
  # packages running beside it.
  module=$(go list -m)
  others=$(go list ./... | grep -vx "$module/release")
  {
    rc=0
    go test -json -count=1 ./release || rc=1
    # shellcheck disable=SC2086 # one package per word
    go test -json "${race_flag[@]}" -count=1 -timeout 30m $others || rc=1
    go test -C examples/mellium -json "${race_flag[@]}" -count=1 ./... || rc=1
    exit $rc
  } 2>&1 | "$logs/testreport" -log "$logs/go-test.log" -summary "$logs/go-test-summary.txt" -module "$module" -hint "$hint"
fi

# Go's fuzz coordinator sometimes ends a run with "context deadline
# exceeded" when its time is up, having found nothing: such a try is
# retried (three tries in all), and noted in one line, since its "--- FAIL"
# lines would read as a failure in a log that passes. A real finding
# ("Failing input written"), any other failure, or a third time-out fails
# at once, with that try's output.
fuzz_target() { # pkg target
  local pkg=$1 target=$2 try log
  for try in 1 2 3; do
    log="$logs/fuzz-${target}-${try}.log"
    if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1; then
      tail -1 "$log"
      return 0
    fi
    if [ "$try" = 3 ] || ! grep -q 'context deadline exceeded' "$log" || grep -q 'Failing input written' "$log"; then
      cat "$log"
      return 1
    fi
    echo "-- note: $target: the fuzz engine timed out at the end of its run, having found nothing; trying again (try $((try + 1)) of 3; output of this try: $log)"
  done
}

if want fuzz && { [ -n "${FUZZTIME:-}" ] || [ -n "${*:-}" ]; }; then
  FUZZTIME="${FUZZTIME:-10s}"
  echo "== fuzz smoke (${FUZZTIME} per target)"
  for pkg in $(go list ./...); do
    for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
      echo "-- $pkg $target"
      fuzz_target "$pkg" "$target"
    done
  done
fi

# The skipped tests again, when the fuzz output came after them: the log
# ends with what did not run.
if want test && want fuzz && [ -n "${FUZZTIME:-}" ]; then
  echo "== go test summary (again; full log: $logs/go-test.log)"
  cat "$logs/go-test-summary.txt"
fi

if [ "$steps" = "$all_steps" ]; then
  echo "== all checks passed"
else
  echo "== passed: $steps"
fi
