# Entry points; the work is done by swift build / swift test and the scripts.
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: build install test demo deb system-test

build:
	swift build --product ipsyncd

install:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" scripts/install.sh

test:
	swift build --build-tests
	swift test

demo:
	scripts/demo.sh

# dist/ipsyncd_<version>_<arch>.deb: release binary with the static Swift stdlib, units, conffile, man page,
# completions; lintian-checked.
deb:
	scripts/build-deb.sh

# The .deb under a real systemd in a throwaway container (root only; builds the .deb first if missing).
system-test:
	scripts/system-test.sh
