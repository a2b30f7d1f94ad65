#!/usr/bin/env bash
# Builds ipsyncd (release, Swift standard library linked in) and installs the binary, the systemd units and a
# commented example config; never overwrites an existing /etc/ipsyncd/ipsyncd.yaml. A Debian host without Swift
# installs the package from `make deb` instead.
#
#   scripts/install.sh                 build and install under /usr/local, /etc
#   PREFIX=/usr scripts/install.sh     binary in /usr/bin (the unit's ExecStart follows)
#   DESTDIR=/tmp/stage scripts/install.sh   stage into a directory (packaging, tests)
#   BINARY=path/to/ipsyncd scripts/install.sh   install that binary instead of building
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX="${PREFIX:-/usr/local}"
DESTDIR="${DESTDIR:-}"
SYSCONFDIR="${SYSCONFDIR:-/etc}"
UNITDIR="${UNITDIR:-/etc/systemd/system}"

if [ -z "${BINARY:-}" ]; then
    echo "install: building (release, static Swift stdlib)"
    swift build -c release --static-swift-stdlib --product ipsyncd
    BINARY="$(swift build -c release --static-swift-stdlib --show-bin-path)/ipsyncd"
fi
[ -x "$BINARY" ] || { echo "install: $BINARY is not an executable; build first or set BINARY" >&2; exit 1; }

install -d "$DESTDIR$PREFIX/bin" "$DESTDIR$UNITDIR" "$DESTDIR$SYSCONFDIR/ipsyncd"
install -m 0755 "$BINARY" "$DESTDIR$PREFIX/bin/ipsyncd"
# Debug symbols are a quarter of the release binary; `strip` declines anything that is not an ELF file.
strip "$DESTDIR$PREFIX/bin/ipsyncd" 2>/dev/null || true
echo "install: $DESTDIR$PREFIX/bin/ipsyncd"

for unit in ipsyncd.service ipsyncd@.service; do
    sed "s|/usr/local/bin/ipsyncd|$PREFIX/bin/ipsyncd|" "systemd/$unit" > "$DESTDIR$UNITDIR/$unit.tmp"
    chmod 0644 "$DESTDIR$UNITDIR/$unit.tmp"
    mv "$DESTDIR$UNITDIR/$unit.tmp" "$DESTDIR$UNITDIR/$unit"
    echo "install: $DESTDIR$UNITDIR/$unit"
done

config="$DESTDIR$SYSCONFDIR/ipsyncd/ipsyncd.yaml"
if [ -e "$config" ]; then
    echo "install: $config exists, kept (the example is packaging/ipsyncd.yaml)"
else
    install -m 0644 packaging/ipsyncd.yaml "$config"
    echo "install: $config (commented example: every key at its default)"
fi

# Only a live systemd can reload units: not in a container without it, and not when staging into DESTDIR.
if [ -z "$DESTDIR" ] && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
    systemctl daemon-reload
    echo "install: systemctl daemon-reload done; start with: systemctl enable --now ipsyncd"
else
    echo "install: systemd not running here (or DESTDIR set): no daemon-reload"
fi
