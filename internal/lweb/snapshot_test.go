package lweb

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/luna"
	"github.com/clustervision/luna-go/internal/store"
)

// The snapshot lweb answers from must give every node exactly what the
// store-backed lookups give, for every shape of node and group.
func TestSnapshotMatchesStore(t *testing.T) {
	f := newFixture(t)
	f.luna("network", "add", "-n", "ib", "-N", "10.32.0.0", "-P", "16")
	f.luna("network", "add", "-n", "cl6", "-N", "fd00:10::", "-P", "64")
	f.luna("network", "add", "-n", "cluster.local", "-N", "10.40.0.0", "-P", "16")
	f.luna("osimage", "clone", "compute", "--to", "other", "-p", f.path+"/img2")
	f.luna("group", "add", "-n", "gpu", "-o", "other", "-N", "cluster")
	f.luna("group", "change", "gpu", "-i", "BOOTIF", "--setnet", "cl6")
	f.luna("group", "change", "gpu", "-i", "eth1", "--add")
	f.luna("group", "change", "gpu", "-i", "eth1", "--setnet", "ib")
	f.luna("group", "change", "gpu", "--domain", "cluster.local", "--torrent_if", "eth1")
	f.luna("node", "add", "-g", "gpu", "-n", "gpu[01-03]")
	f.luna("node", "change", "gpu01", "--mac", "52:54:00:00:01:01", "--localboot", "y", "--service", "y")
	f.luna("node", "change", "gpu02", "--setupbmc", "n", "--switch", "switch01", "--port", "12")
	f.luna("node", "change", "node002", "--mac", "52:54:00:00:00:02", "--setupbmc", "n")
	f.luna("group", "add", "-n", "empty", "-o", "compute", "-N", "ib")
	f.luna("group", "change", "empty", "-i", "BOOTIF", "--delnet")
	f.luna("node", "add", "-g", "empty", "-n", "bare01")

	ctx := context.Background()
	svc := luna.NewService(f.st)
	sn, err := svc.LoadSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names, err := svc.NodeNames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sn.Names(), names) || len(names) != 7 {
		t.Fatalf("snapshot names %v, store %v", sn.Names(), names)
	}
	for _, name := range names {
		bp, err := svc.BootParams(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		bp.Token = ""
		sbp, ok := sn.BootParams(name)
		if !ok || !reflect.DeepEqual(sbp, bp) {
			t.Errorf("%s boot params:\nsnapshot %+v\nstore    %+v", name, sbp, bp)
		}
		ip, err := svc.InstallParams(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		sip, ok := sn.InstallParams(name)
		if !ok || !reflect.DeepEqual(sip, ip) {
			t.Errorf("%s install params:\nsnapshot %+v\nstore    %+v", name, sip, ip)
		}
		ips, err := svc.NodeIPs(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		sips, ok := sn.NodeIPs(name)
		if !ok || !reflect.DeepEqual(sips, ips) {
			t.Errorf("%s addresses: snapshot %v, store %v", name, sips, ips)
		}
		nd, err := svc.Node(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		snd, ok := sn.Node(name)
		if !ok || !reflect.DeepEqual(snd, nd) {
			t.Errorf("%s node: snapshot %+v, store %+v", name, snd, nd)
		}
	}
	for mac, want := range map[string]string{"52:54:00:00:01:01": "gpu01", "52:54:00:00:00:02": "node002", "52:54:00:00:00:01": "node001"} {
		if got, ok := sn.NodeByMAC([]string{"52:54:00:00:09:09", mac}); !ok || got != want {
			t.Errorf("MAC %s: %q %v, want %s", mac, got, ok, want)
		}
	}
	if _, ok := sn.NodeByMAC([]string{"52:54:00:00:09:09"}); ok {
		t.Error("an unbound MAC was found")
	}
	// The shapes really differ: static IPv6 boot, BMC on and off, a domain.
	gpu, _ := sn.BootParams("gpu01")
	if gpu.Net6 == nil || gpu.BootProto != "static" || gpu.Hostname != "gpu01.cluster.local" || !gpu.LocalBoot {
		t.Errorf("gpu01 boot params: %+v", gpu)
	}
	if ip, _ := sn.InstallParams("node001"); ip.BMC == nil || ip.BMC.IP == "" {
		t.Errorf("node001 has no BMC setup: %+v", ip)
	}
	if ip, _ := sn.InstallParams("node002"); ip.BMC != nil {
		t.Errorf("node002 has a BMC setup with setupbmc off: %+v", ip.BMC)
	}
}

// A change made with luna reaches the answers after the next check, and a
// node added after the snapshot was read is answered from the store.
func TestSnapshotFollowsChanges(t *testing.T) {
	f := newFixture(t)
	body := f.expect("/luna?step=discovery&hwdata=|52:54:00:00:00:01|", 200)
	if !contains(body, "luna.ip=10.30.0.1/16") {
		t.Fatalf("boot script:\n%s", body)
	}
	f.luna("node", "change", "node001", "-i", "BOOTIF", "10.30.7.7")
	body = f.expect("/luna?step=discovery&hwdata=|52:54:00:00:00:01|", 200)
	if !contains(body, "luna.ip=10.30.7.7/16") {
		t.Fatalf("the new address was not served:\n%s", body)
	}
	f.luna("node", "add", "-g", "compute", "-n", "node004")
	body = f.expect("/luna?step=discovery&node=node004&hwdata=|52:54:00:00:00:04|", 200)
	if !contains(body, "luna.node=node004") || !contains(body, "luna.mac=52:54:00:00:00:04") {
		t.Fatalf("node004:\n%s", body)
	}
	body = f.expect("/luna?step=discovery&hwdata=|52:54:00:00:00:04|", 200)
	if !contains(body, "luna.node=node004") {
		t.Fatalf("node004 by its new MAC:\n%s", body)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// Statuses are drained in chunks with pauses; everything pending is stored
// in the end, one write per node, the newest status winning.
func TestStatusWriterDrain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sn, err := luna.NewService(f.st).LoadSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := newStatusWriter(f.st, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	for _, name := range sn.Names() {
		nd, _ := sn.Node(name)
		w.record(nd.ID, name, "install.prescript", "", "")
		w.record(nd.ID, name, "install.partscript", "tok-"+name, "192.0.2.9")
	}
	if w.pendingCount() != 3 {
		t.Fatalf("%d pending, want 3 (one per node)", w.pendingCount())
	}
	w.drain(ctx)
	if w.pendingCount() != 0 {
		t.Fatalf("%d pending after drain", w.pendingCount())
	}
	for _, name := range sn.Names() {
		if got := f.status(name); got != "install.partscript" {
			t.Errorf("%s: status %q", name, got)
		}
		if tok, _ := w.token(name); tok != (handedToken{"tok-" + name, "192.0.2.9"}) {
			t.Errorf("%s: token %+v", name, tok)
		}
	}
}

// Status reports written while an administrator changes the node do not
// undo the change: they are not stored in the node document.
func TestStatusesDoNotUndoNodeChanges(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	nd, err := luna.NewService(f.st).Node(ctx, "node001")
	if err != nil {
		t.Fatal(err)
	}
	w := newStatusWriter(f.st, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			w.record(nd.ID, "node001", "install.download", "", "")
			w.flush(ctx)
		}
	}()
	for _, v := range []string{"y", "n", "y"} {
		f.luna("node", "change", "node001", "--localboot", v, "--service", v)
	}
	close(stop)
	<-done
	var got store.Node
	if err := f.st.GetByID(ctx, store.Nodes, nd.ID, &got); err != nil {
		t.Fatal(err)
	}
	if !got.LocalBoot || !got.Service {
		t.Fatalf("node001 after the changes: localboot %v service %v, want both on", got.LocalBoot, got.Service)
	}
	if f.status("node001") != "install.download" {
		t.Fatalf("status %q", f.status("node001"))
	}
}
