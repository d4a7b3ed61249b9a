#!/bin/bash
# sums.sh DIR: what a tree holds, lines of PATH<tab>FACT: type, mode, owner
# and symlink target of every entry; link count and SHA-256 of every file;
# every extended attribute (file capabilities, ACLs, user.*) of every entry
# but symlinks; major and minor of every device.
# The same facts on the image and on an installed node mean the node got
# the image.
set -eu -o pipefail
cd "$1"
find . -mindepth 1 -printf '%p\t%y %m %U:%G %l\n'
find . -type f -printf '%p\tlinks %n\n'
find . -type f -exec sha256sum {} + | sed 's/^\([0-9a-f]*\)  \(.*\)$/\2\tsha256 \1/'
find . \( -type b -o -type c \) -printf '%p\tdevice ' -exec stat -c '%t:%T' {} \;
find . -mindepth 1 ! -type l -exec getfattr -h -d -m - -e hex --absolute-names {} + |
    while IFS= read -r line; do
        case $line in
        "# file: "*) p=${line#"# file: "} ;;
        *=*) printf '%s\txattr %s\n' "$p" "$line" ;;
        esac
    done
