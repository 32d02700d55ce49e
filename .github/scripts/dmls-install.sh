#!/usr/bin/env bash
# Installs dmls for the action (action.yml) and prints the binary's path on
# its last line. A release version (vX.Y.Z) is downloaded from the release
# with its SHA256SUMS, and the archive is checked before anything in it
# runs; any other ref (a branch, a commit) is built from the action's own
# source with make build.
#
#   DMLS_VERSION      the version or ref (required; the action passes its input or its own ref)
#   DMLS_REPO         owner/name of the dmls repository (for the release URL)
#   DMLS_RELEASE_URL  the releases' download base (default https://github.com/$DMLS_REPO/releases/download)
#   DMLS_SOURCE       the dmls source tree to build from for an unreleased ref
#   DMLS_BIN_DIR      where to put the binary (default: a new temporary folder)
#   RUNNER_OS, RUNNER_ARCH  GitHub's runner platform (default: uname)
set -euo pipefail

fail() {
	echo "dmls-install: $*" >&2
	exit 1
}

version=${DMLS_VERSION:-}
[ -n "$version" ] || fail "no version: set the action's version input (for example v1.2.3)"
bindir=${DMLS_BIN_DIR:-$(mktemp -d)}
mkdir -p "$bindir"

# An unreleased ref: build from the action's source.
if ! [[ $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
	src=${DMLS_SOURCE:-}
	[ -n "$src" ] && [ -f "$src/Makefile" ] || fail "$version is not a release version (vX.Y.Z), and there is no dmls source to build it from (DMLS_SOURCE)"
	echo "dmls-install: $version is not a release; building it from $src with make build" >&2
	make -C "$src" build >&2
	cp "$src/bin/dmls" "$bindir/dmls"
	echo "$bindir/dmls"
	exit 0
fi

os=${RUNNER_OS:-$(uname -s)}
arch=${RUNNER_ARCH:-$(uname -m)}
case $os in
Linux | linux) os=linux ;;
macOS | Darwin | darwin) os=darwin ;;
*) fail "no dmls release for the operating system '$os': releases are for Linux and macOS" ;;
esac
case $arch in
X64 | x86_64 | amd64) arch=amd64 ;;
ARM64 | arm64 | aarch64) arch=arm64 ;;
*) fail "no dmls release for the architecture '$arch': releases are for amd64 (X64) and arm64 (ARM64)" ;;
esac

name="dmls_${version}_${os}_${arch}.tar.gz"
base=${DMLS_RELEASE_URL:-https://github.com/${DMLS_REPO:?set DMLS_REPO to owner/name}/releases/download}
url="$base/$version"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fetch() { # fetch URL FILE: fail with the URL if it is not there
	if ! curl -fsSL --retry 3 --proto '=https,http' -o "$2" "$1"; then
		fail "could not download $1: is $version a published dmls release with an archive for $os/$arch?"
	fi
}
fetch "$url/SHA256SUMS" "$tmp/SHA256SUMS"
fetch "$url/$name" "$tmp/$name"

want=$(awk -v n="$name" '$2 == n || $2 == "*" n { print $1 }' "$tmp/SHA256SUMS")
[ -n "$want" ] || fail "$url/SHA256SUMS lists no checksum for $name; not running an unverified binary"
if command -v sha256sum >/dev/null; then
	got=$(sha256sum "$tmp/$name" | awk '{print $1}')
else
	got=$(shasum -a 256 "$tmp/$name" | awk '{print $1}')
fi
if [ "$got" != "$want" ]; then
	fail "checksum mismatch for $url/$name: SHA256SUMS says $want, the download is $got; not running it"
fi

tar -xzf "$tmp/$name" -C "$tmp"
install -m 0755 "$tmp/${name%.tar.gz}/dmls" "$bindir/dmls"
echo "dmls-install: dmls $version for $os/$arch, checksum verified" >&2
echo "$bindir/dmls"
