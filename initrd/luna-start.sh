#!/bin/sh
# dracut initqueue/finished hook of the Luna module. With root=luna it runs
# the Luna installer once; the installer returns after /sysroot holds the
# installed image (or powers the node off or reboots it in service mode),
# and dracut then switches root to /sysroot.

if [ "$(getarg root=)" = "luna" ] && [ ! -e /luna/done ]; then
    /bin/bash /sbin/luna-installer
    : >/luna/done
fi
true
