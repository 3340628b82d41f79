#!/usr/bin/env bash
# Builds a hacx release into OUT (default: dist/ at the repository root):
#
#   hacx-linux-amd64, hacx-linux-arm64, hacx-darwin-arm64, hacx-windows-amd64.exe
#                  static binaries (CGO_ENABLED=0) that "hacx version" shows
#                  the VCS revision of
#   man/           hacx.1 and hacx-COMMAND.1, rendered from the commands' own
#                  help by "hacx man"
#   hacx_VERSION_ARCH.deb (one per linux target)
#                  /usr/bin/hacx; systemd units for hacx serve (system) and
#                  hacx proxy (user); /etc/hacx/hacx.toml, a sample that passes
#                  "hacx serve --check-config"; the man pages
#   SHA256SUMS     of the binaries and packages ("sha256sum -c SHA256SUMS")
#
#   release/build.sh [OUT]
#   TARGETS=linux/amd64 release/build.sh        only some targets
#   VERSION=1.2.3 release/build.sh              the package version; default
#                                               from the v* tag "git describe"
#                                               finds, else 0.0.0~git...
#   MAINTAINER='Name <addr>' release/build.sh   the package's Maintainer
set -euo pipefail
out="${1:-$(dirname "$0")/../dist}"
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."

targets="${TARGETS:-linux/amd64 linux/arm64 darwin/arm64 windows/amd64}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$out/man" "$out"/hacx-* "$out"/hacx_*.deb "$out/SHA256SUMS"

# The Debian version: a v1.2.3 tag gives 1.2.3; commits after it
# 1.2.3+git4.gabcdef0 (sorting after 1.2.3); no tag at all
# 0.0.0~git20260102150405.0123456789ab (commit time, UTC), so later
# commits sort later. A modified work tree adds +dirty.
if [ -z "${VERSION:-}" ]; then
  if tag=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null); then
    VERSION=${tag#v}
  elif desc=$(git describe --tags --match 'v[0-9]*' 2>/dev/null); then
    VERSION=$(sed -E 's/^v//; s/-([0-9]+)-g([0-9a-f]+)$/+git\1.g\2/' <<<"$desc")
  else
    VERSION="0.0.0~git$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S).$(git rev-parse --short=12 HEAD)"
  fi
  if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    VERSION="$VERSION+dirty"
  fi
fi
echo "release: version $VERSION into $out"

# -trimpath: no build machine paths in the binary. -buildvcs=true
# overrides a GOFLAGS=-buildvcs=false and fails rather than ship a binary
# that cannot say which revision it is.
build() { # GOOS GOARCH OUTPUT
  CGO_ENABLED=0 GOOS=$1 GOARCH=$2 go build -trimpath -buildvcs=true -ldflags='-s -w' -o "$3" ./cmd/hacx
}
for t in $targets; do
  os=${t%/*} arch=${t#*/}
  name="hacx-$os-$arch"
  [ "$os" = windows ] && name="$name.exe"
  echo "release: $name"
  build "$os" "$arch" "$out/$name"
done

# The man pages come from a binary for this machine (the same build as a
# target's when this machine is one, so it comes from the cache).
build "$(go env GOHOSTOS)" "$(go env GOHOSTARCH)" "$tmp/hacx"
"$tmp/hacx" man --dir "$out/man"
mkdir -p "$tmp/man"
for page in "$out/man"/*.1; do
  gzip -9n <"$page" >"$tmp/man/$(basename "$page").gz"
done

# The packaged serve unit is examples/hacx-serve.service with the
# packaged binary's path and, instead of that file's how-to-install
# comments, these.
{
  cat <<'EOF'
# systemd unit for "hacx serve", from the hacx package (examples/hacx-serve.service
# in the hacx sources). Nothing enables it on install: first edit
# /etc/hacx/hacx.toml and put the certificate chain and key in
# /etc/hacx/fullchain.pem and /etc/hacx/privkey.pem (or use ACME), then
#
#   hacx serve --check-config --config /etc/hacx/hacx.toml --cert /etc/hacx/fullchain.pem
#   systemctl enable --now hacx-serve
#   systemctl reload hacx-serve        # SIGHUP: reload config and certificates
#
# Change flags with "systemctl edit hacx-serve", not in this file.

EOF
  sed -n '/^\[Unit\]/,$p' examples/hacx-serve.service | sed 's|/usr/local/bin/hacx|/usr/bin/hacx|g'
} >"$tmp/hacx-serve.service"
if ! grep -q '^ExecStart=/usr/bin/hacx serve ' "$tmp/hacx-serve.service"; then
  echo "release: examples/hacx-serve.service no longer starts /usr/local/bin/hacx serve; update build.sh" >&2
  exit 1
fi

debs=()
for t in $targets; do
  os=${t%/*} arch=${t#*/}
  [ "$os" = linux ] || continue
  if [ ! -x "$tmp/nfpm" ]; then
    (cd release/tools && go build -o "$tmp/nfpm" github.com/goreleaser/nfpm/v2/cmd/nfpm)
  fi
  # Go's amd64 and arm64 are Debian's names too.
  HACX_DEB_ARCH=$arch HACX_DEB_VERSION=$VERSION HACX_BIN="$out/hacx-linux-$arch" HACX_STAGE=$tmp \
    HACX_MAINTAINER="${MAINTAINER:-hacx maintainers <maintainers@hacx.dev>}" \
    "$tmp/nfpm" pkg --config release/nfpm.yaml --packager deb --target "$out/hacx_${VERSION}_${arch}.deb" >/dev/null
  debs+=("hacx_${VERSION}_${arch}.deb")
  echo "release: ${debs[-1]}"
done

(cd "$out" && sha256sum hacx-* "${debs[@]}" >SHA256SUMS)
echo "release: SHA256SUMS"
