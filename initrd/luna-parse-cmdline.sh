#!/bin/sh
# dracut cmdline hook of the Luna module: root=luna means that the Luna
# installer fills /sysroot itself, so dracut must not wait for a root device.
# shellcheck disable=SC2034 # rootok and root are read by dracut.

if [ "$(getarg root=)" = "luna" ]; then
    root=luna
    rootok=1
fi
