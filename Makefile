# Entry points; the work is done by swift build / swift test and the scripts.
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: build install test demo

build:
	swift build --product ipsyncd

install:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" scripts/install.sh

test:
	swift build --build-tests
	swift test

demo:
	scripts/demo.sh
