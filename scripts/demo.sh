#!/usr/bin/env bash
# make demo: start lunadb on a temporary directory and a free port, build a
# small cluster with the luna CLI, print its tables, stop what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/luna-demo.XXXXXX)
log="$work/lunadb.log"
pid=
lwebpid=
cleanup() {
	[ -n "$lwebpid" ] && kill "$lwebpid" 2>/dev/null && wait "$lwebpid" 2>/dev/null || true
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

./bin/lunadb --listen 127.0.0.1:0 --data-dir "$work/db" >"$log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	grep -q 'serving' "$log" && break
	kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
	sleep 0.1
done
uri=$(sed -n 's/^lunadb: serving \(mongodb:[^ ]*\) from .*/\1/p' "$log")
[ -n "$uri" ] || { echo "lunadb did not start:"; cat "$log"; exit 1; }
echo "lunadb is serving $uri from $work/db"

export LUNA_MONGO_URI="$uri" LUNA_DB=luna LUNA_CONF="$work/luna.conf" LUNA_LOGDIR="$work/log"
touch "$LUNA_CONF"
mkdir -p "$work/opt"
run() { echo; echo "\$ luna $*"; ./bin/luna "$@"; }

run cluster init --frontend_address 10.30.255.254 --user "$(id -un)" --path "$work/opt"
run network add -n cluster -N 10.30.0.0 -P 16 --ns_hostname master
run network add -n ipmi -N 10.31.0.0 -P 16 --ns_hostname master
run bmcsetup add -n base
run switch add -n switch01 --oid .1.3.6.1.2.1.17.7.1.2.2.1.2 --network ipmi --ip 10.31.253.21
run otherdev add -n pdu01 --network ipmi --ip 10.31.253.50
run otherdev change pdu01 --network cluster --ip 10.30.253.50
run cluster show
run network list
run network show cluster
run network show ipmi --reservedips
run bmcsetup list
run switch list
run otherdev list

# An OS image (a stand-in tree with one kernel), a group and nodes.
mkdir -p "$work/img/lib/modules/5.10.0-9-amd64" "$work/img/boot"
: > "$work/img/boot/vmlinuz-5.10.0-9-amd64"
run osimage add -n compute -p "$work/img"
run group add -n compute -o compute -N cluster
run group change compute -b base
run group change compute -i BMC -A
run group change compute -i BMC --setnet ipmi
run node add -g compute
run node add -g compute -n 'node[002-004]'
run node change -n node001 --mac 52:54:00:12:34:56 --service y
run group show compute
run node list
run node show node001 --script boot

# The boot server: what a booting node with MAC 52:54:00:12:34:56 gets.
./bin/lweb --listen 127.0.0.1:0 >"$work/lweb.log" 2>&1 &
lwebpid=$!
addr=
for _ in $(seq 100); do
	addr=$(sed -n 's/.*msg="lweb listening" address=\([^ ]*\).*/\1/p' "$work/lweb.log")
	[ -n "$addr" ] && break
	kill -0 "$lwebpid" 2>/dev/null || { cat "$work/lweb.log"; exit 1; }
	sleep 0.1
done
[ -n "$addr" ] || { echo "lweb did not start:"; cat "$work/lweb.log"; exit 1; }
./bin/luna cluster change --frontend_address 127.0.0.1 --frontend_port "${addr##*:}"
sleep 2.5 # lweb re-reads the cluster settings every 2 s
fetch() { echo; echo "\$ curl 'http://$addr$1'"; curl -sS "http://$addr$1"; }
# curl asks from 127.0.0.1, not from node001's own address: the boot script
# comes without a boot token and the status stays (docs/lweb.md, "Boot identity").
fetch '/luna?step=discovery&hwdata=|52:54:00:12:34:56|'
sleep 1 # statuses are stored every 500 ms
run node show node001
fetch '/healthz'
echo
echo "demo: done; stopping lweb and lunadb"
