#!/bin/bash
# getarg KEY=: the value of KEY= on the kernel command line in
# /luna/cmdline, as dracut's getarg prints it; fails when it is absent.
# The one function of dracut-lib.sh that the Luna installer uses.
getarg() {
    local a line
    read -r line </luna/cmdline || true
    for a in $line; do
        case $a in
        "$1"*)
            printf '%s\n' "${a#"$1"}"
            return 0
            ;;
        esac
    done
    return 1
}
