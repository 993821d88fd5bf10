#!/usr/bin/env bash
# Builds $BUILD/anytls-c_VERSION_ARCH.deb (make deb): `make install` into a
# staged tree with PREFIX=/usr, binaries stripped, DEBIAN/ from contrib/debian
# (control with the version, architecture and size filled in; the maintainer
# scripts), then dpkg-deb with root as the owner of every file. No root needed.
# VERSION: DEB_VERSION, else 0.1.0+git<commit>[.dirty].
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
MAKE=${MAKE:-make}
command -v dpkg-deb >/dev/null || { echo "make deb: dpkg-deb not found (apt-get install dpkg-dev)" >&2; exit 1; }

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit.dirty"
version=${DEB_VERSION:-0.1.0+git$commit}
arch=$(dpkg --print-architecture)
stage=$BUILD/deb/root
rm -rf "$BUILD/deb"
mkdir -p "$stage"
$MAKE --no-print-directory -s install BUILD="$BUILD" PREFIX=/usr DESTDIR="$(pwd)/$stage" >/dev/null
strip --strip-unneeded "$stage/usr/bin/anytls-server" "$stage/usr/bin/anytls-client"
gzip -9n "$stage"/usr/share/man/man1/*.1

mkdir -p "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" contrib/debian/control.in \
    > "$stage/DEBIAN/control"
install -m 0755 contrib/debian/postinst contrib/debian/prerm contrib/debian/postrm "$stage/DEBIAN/"
out="$BUILD/anytls-c_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out" >/dev/null
echo "$out"
