#!/usr/bin/env bash
# `make deb`: builds the release binary (Swift standard library linked in) and writes exactly one
# dist/ipsyncd_<version>_<arch>.deb with Debian's own tools (dpkg-deb, dpkg-shlibdeps), then runs lintian.
#
#   scripts/build-deb.sh                       build and package
#   BINARY=path/to/ipsyncd scripts/build-deb.sh   package that (static) binary instead of building
#   LINTIAN=no scripts/build-deb.sh            skip lintian
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$PATH:/usr/sbin:/sbin"

say() { printf 'deb: %s\n' "$*"; }

if [ -z "${BINARY:-}" ]; then
    say "building (release, static Swift stdlib)"
    swift build -c release --static-swift-stdlib --product ipsyncd
    BINARY="$(swift build -c release --static-swift-stdlib --show-bin-path)/ipsyncd"
fi
[ -x "$BINARY" ] || { echo "deb: $BINARY is not an executable" >&2; exit 1; }

version=$("$BINARY" --version)
arch=$(dpkg --print-architecture)
changelog_version=$(sed -n '1s/^ipsyncd (\([^)]*\)).*/\1/p' packaging/debian/changelog)
[ "$version" = "$changelog_version" ] || {
    echo "deb: ipsyncd --version says $version, packaging/debian/changelog says $changelog_version: add a changelog entry" >&2
    exit 1
}

# The man page comes from the CLI's own help (swift-argument-parser's generate-manual plugin). The plugin builds
# every product; debug is enough for the help text and is what `swift build` already made.
say "man page (generate-manual plugin)"
swift package plugin generate-manual --configuration debug >/dev/null
manual=.build/plugins/GenerateManual/outputs/ipsyncd/ipsyncd.1
[ -s "$manual" ] || { echo "deb: generate-manual wrote no $manual" >&2; exit 1; }

stage=$(mktemp -d /tmp/ipsyncd-deb.XXXXXX)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/pkg
install -d "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/lib/systemd/system" "$pkg/etc/ipsyncd" \
    "$pkg/usr/share/man/man1" "$pkg/usr/share/doc/ipsyncd" "$pkg/usr/share/lintian/overrides" \
    "$pkg/usr/share/bash-completion/completions" "$pkg/usr/share/zsh/vendor-completions" \
    "$pkg/usr/share/fish/vendor_completions.d"

install -m 0755 "$BINARY" "$pkg/usr/bin/ipsyncd"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$pkg/usr/bin/ipsyncd"
for unit in ipsyncd.service ipsyncd@.service; do
    sed 's|/usr/local/bin/ipsyncd|/usr/bin/ipsyncd|' "systemd/$unit" >"$pkg/usr/lib/systemd/system/$unit"
    chmod 0644 "$pkg/usr/lib/systemd/system/$unit"
done
install -m 0644 packaging/ipsyncd.yaml "$pkg/etc/ipsyncd/ipsyncd.yaml"
# An empty line is a paragraph break to a reader but a warning to groff (and lintian): make it mdoc's .Pp.
sed 's/^$/.Pp/' "$manual" | gzip -9n >"$pkg/usr/share/man/man1/ipsyncd.1.gz"
# bash-completion sources its files: no #! line.
"$BINARY" --generate-completion-script bash | sed '1{/^#!/d}' >"$pkg/usr/share/bash-completion/completions/ipsyncd"
"$BINARY" --generate-completion-script zsh >"$pkg/usr/share/zsh/vendor-completions/_ipsyncd"
"$BINARY" --generate-completion-script fish >"$pkg/usr/share/fish/vendor_completions.d/ipsyncd.fish"
install -m 0644 packaging/debian/copyright "$pkg/usr/share/doc/ipsyncd/copyright"
gzip -9n <packaging/debian/changelog >"$pkg/usr/share/doc/ipsyncd/changelog.gz"
install -m 0644 packaging/debian/lintian-overrides "$pkg/usr/share/lintian/overrides/ipsyncd"
chmod 0644 "$pkg"/usr/share/*/*/* "$pkg"/usr/share/*/*/*/* 2>/dev/null || true

# Depends: the shared libraries the binary links (libc6, libcurl4, ...), as dpkg-shlibdeps computes them.
mkdir -p "$stage/src/debian"
printf 'Source: ipsyncd\n\nPackage: ipsyncd\nArchitecture: any\n' >"$stage/src/debian/control"
shlibs=$(cd "$stage/src" && dpkg-shlibdeps -O "$pkg/usr/bin/ipsyncd" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

for script in postinst prerm postrm; do install -m 0755 "packaging/debian/$script" "$pkg/DEBIAN/$script"; done
echo /etc/ipsyncd/ipsyncd.yaml >"$pkg/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@SHLIBS@/$shlibs/" \
    packaging/debian/control.in >"$pkg/DEBIAN/control"
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$pkg/DEBIAN/md5sums"

mkdir -p dist
rm -f dist/ipsyncd_*.deb
deb=dist/ipsyncd_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
say "$root/$deb ($(du -h "$deb" | cut -f1)); Depends: $(sed -n 's/^Depends: //p' "$pkg/DEBIAN/control")"

if [ "${LINTIAN:-yes}" != no ] && command -v lintian >/dev/null 2>&1; then
    say "lintian"
    lintian --fail-on error --info "$deb" || { echo "deb: lintian reports errors" >&2; exit 1; }
fi
