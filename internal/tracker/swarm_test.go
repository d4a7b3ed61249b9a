package tracker

import (
	"context"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/store"
)

// newCopyFixture is newFixture with answers from the in-memory swarm copy.
func newCopyFixture(t *testing.T, s Settings, ttl time.Duration) *fixture {
	f := newFixture(t, s)
	f.tr.SwarmTTL = ttl
	return f
}

// The copy gives the same swarm as the store: fresh peers, server peers
// for three intervals, no stopped or stale ones, the requester counted but
// not listed.
func TestSwarmCopyAnswersAsTheStore(t *testing.T) {
	for _, ttl := range []time.Duration{0, time.Hour} {
		t.Run(fmt.Sprint(ttl), func(t *testing.T) {
			f := newCopyFixture(t, Settings{Interval: 10, MinInterval: 5, MaxPeers: 50}, ttl)
			srv := hex.EncodeToString([]byte(ServerPeerID))
			f.seed(t,
				store.TrackerPeer{IP: "10.0.0.1", Port: 6881, Updated: t0.Add(-5 * time.Second), Left: 100, Status: "started"},
				store.TrackerPeer{IP: "10.0.0.2", Port: 6881, Updated: t0.Add(-19 * time.Second), Left: 0, Status: "completed"},
				store.TrackerPeer{IP: "10.0.0.3", Port: 6881, Updated: t0.Add(-21 * time.Second), Left: 100},
				store.TrackerPeer{IP: "10.0.0.4", Port: 6881, Updated: t0, Left: 100, Status: "stopped"},
				store.TrackerPeer{IP: "10.0.0.254", Port: 7052, PeerID: srv, Updated: t0.Add(-29 * time.Second), Left: 0},
				store.TrackerPeer{IP: "10.0.0.253", Port: 7052, PeerID: srv, Updated: t0.Add(-31 * time.Second), Left: 0},
			)
			d := f.announce(t, "10.0.0.1:40000", "left", "50")
			if got := compactSet(t, d["peers"], 6); fmt.Sprint(got) != "[10.0.0.254:7052 10.0.0.2:6881]" {
				t.Errorf("peers %v", got)
			}
			if d["complete"] != int64(2) || d["incomplete"] != int64(1) {
				t.Errorf("complete %v incomplete %v", d["complete"], d["incomplete"])
			}
			// Ten seconds later 10.0.0.2 is stale and the server peer is past three intervals.
			f.set(t0.Add(10 * time.Second))
			d = f.announce(t, "10.0.0.1:40000", "left", "40")
			if got := compactSet(t, d["peers"], 6); len(got) != 0 || d["incomplete"] != int64(1) || d["complete"] != int64(0) {
				t.Errorf("later: peers %v, complete %v, incomplete %v", got, d["complete"], d["incomplete"])
			}
		})
	}
}

// Announces recorded by this tracker are seen at once, stopped ones are
// gone at once; a peer recorded by someone else appears once the copy is
// SwarmTTL old and has been read again.
func TestSwarmCopyFollowsAnnounces(t *testing.T) {
	f := newCopyFixture(t, Settings{Interval: 10, MinInterval: 5, MaxPeers: 50}, time.Minute)
	f.announce(t, "10.0.0.1:40000", "event", "started", "left", "100")
	d := f.announce(t, "10.0.0.2:40000", "event", "started", "left", "100")
	if got := compactSet(t, d["peers"], 6); fmt.Sprint(got) != "[10.0.0.1:6881]" || d["incomplete"] != int64(2) {
		t.Fatalf("after two announces: %v %v", got, d)
	}
	f.announce(t, "10.0.0.1:40000", "event", "completed", "left", "0")
	d = f.announce(t, "10.0.0.2:40000", "left", "50")
	if d["complete"] != int64(1) || d["incomplete"] != int64(1) {
		t.Fatalf("after completed: %v", d)
	}
	f.announce(t, "10.0.0.1:40000", "event", "stopped")
	d = f.announce(t, "10.0.0.2:40000", "left", "50")
	if got := compactSet(t, d["peers"], 6); len(got) != 0 || d["complete"] != int64(0) || d["incomplete"] != int64(1) {
		t.Fatalf("after stopped: %v %v", got, d)
	}

	// Another tracker on the same database records 10.0.0.3.
	f.seed(t, store.TrackerPeer{IP: "10.0.0.3", Port: 6881, Updated: t0, Left: 0})
	d = f.announce(t, "10.0.0.2:40000", "left", "50")
	if got := compactSet(t, d["peers"], 6); len(got) != 0 {
		t.Fatalf("seen before the copy is read again: %v", got)
	}
	f.set(t0.Add(time.Minute))
	f.seed(t, store.TrackerPeer{IP: "10.0.0.3", Port: 6881, Updated: t0.Add(time.Minute), Left: 0})
	f.announce(t, "10.0.0.2:40000", "left", "50") // starts the read
	waitFor(t, 10*time.Second, func() bool {
		d := f.announce(t, "10.0.0.2:40000", "left", "50")
		return fmt.Sprint(compactSet(t, d["peers"], 6)) == "[10.0.0.3:6881]"
	})
}

func TestSamplerIsUniform(t *testing.T) {
	counts := map[string]int{}
	for range 20000 {
		s := sampler{want: 2}
		for i := range 5 {
			s.add(&store.TrackerPeer{IP: fmt.Sprint(i)}, i == 4)
		}
		if s.complete != 5 || len(s.picked) != 2 {
			t.Fatalf("sampler %+v", s)
		}
		for _, p := range s.peers() {
			counts[p.IP]++
		}
	}
	if counts["4"] != 0 {
		t.Fatal("the requester was picked")
	}
	for i := range 4 {
		// each of 4 peers is in a sample of 2 with probability 1/2
		if c := counts[fmt.Sprint(i)]; c < 9400 || c > 10600 {
			t.Errorf("peer %d picked %d times of 20000, want about 10000", i, c)
		}
	}
}

func TestSwarmCopyFirstReadFails(t *testing.T) {
	f := newCopyFixture(t, Settings{}, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var n int
	if err := f.tr.swarmFromCopy(ctx, "00", change{peer: store.TrackerPeer{IP: "10.0.0.1", Port: 1}}, t0, 10*time.Second,
		func(*store.TrackerPeer) { n++ }); err == nil {
		t.Fatal("no error from a cancelled first read")
	}
	// The failed copy is dropped: the next announce reads again.
	if err := f.tr.swarmFromCopy(context.Background(), "00", change{peer: store.TrackerPeer{IP: "10.0.0.1", Port: 1, Updated: t0}}, t0, 10*time.Second,
		func(*store.TrackerPeer) { n++ }); err != nil || n != 1 {
		t.Fatalf("second read: %v, %d peers", err, n)
	}
}

func trackerDocs(t *testing.T, st *store.Store) map[string]store.TrackerPeer {
	t.Helper()
	peers, err := st.PeersOf(context.Background(), hex.EncodeToString([]byte(rawHash)), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.TrackerPeer{}
	for _, p := range peers {
		out[fmt.Sprintf("%s:%d", p.IP, p.Port)] = p
	}
	return out
}

// With the copy, announces reach the store at Flush, one document per
// peer under PeerDocID, the last event kept, stopped peers deleted.
func TestSwarmCopyFlush(t *testing.T) {
	f := newCopyFixture(t, Settings{Interval: 10, MinInterval: 5, MaxPeers: 50}, time.Minute)
	ctx := context.Background()
	hash := hex.EncodeToString([]byte(rawHash))
	f.announce(t, "10.0.0.1:40000", "event", "started", "left", "100")
	f.announce(t, "10.0.0.2:40000", "event", "started", "left", "100")
	if docs := trackerDocs(t, f.st); len(docs) != 0 {
		t.Fatalf("stored before Flush: %v", docs)
	}
	f.tr.Flush(ctx)
	docs := trackerDocs(t, f.st)
	if len(docs) != 2 || docs["10.0.0.1:6881"].ID != store.PeerDocID(hash, "10.0.0.1", 6881) || docs["10.0.0.1:6881"].Status != "started" {
		t.Fatalf("after Flush: %+v", docs)
	}
	f.set(t0.Add(time.Second))
	f.announce(t, "10.0.0.1:40000", "left", "50", "downloaded", "50")
	f.announce(t, "10.0.0.2:40000", "event", "stopped")
	f.tr.Flush(ctx)
	docs = trackerDocs(t, f.st)
	if p := docs["10.0.0.1:6881"]; len(docs) != 1 || p.Left != 50 || p.Downloaded != 50 || p.Status != "started" || !p.Updated.Equal(t0.Add(time.Second)) {
		t.Fatalf("after the second Flush: %+v", docs)
	}
	f.tr.Flush(ctx) // nothing pending
	if n, _ := f.st.Count(ctx, store.Tracker); n != 1 {
		t.Fatalf("%d documents", n)
	}
}

// A peer stored by Luna 1.2 (another _id) is replaced, not duplicated.
func TestSwarmCopyFlushReplacesLegacyDocument(t *testing.T) {
	f := newCopyFixture(t, Settings{Interval: 10, MinInterval: 5, MaxPeers: 50}, time.Minute)
	ctx := context.Background()
	hash := hex.EncodeToString([]byte(rawHash))
	legacy := store.NewID()
	if err := f.st.Insert(ctx, store.Tracker, store.TrackerPeer{ID: legacy, InfoHash: hash, IP: "10.0.0.3", Port: 6881,
		PeerID: hex.EncodeToString([]byte(rawPeer)), Updated: t0.Add(-time.Second), Left: 0, Status: "completed"}); err != nil {
		t.Fatal(err)
	}
	d := f.announce(t, "10.0.0.3:40000", "left", "0", "uploaded", "7")
	if d["complete"] != int64(1) {
		t.Fatalf("answer %v", d)
	}
	f.tr.Flush(ctx)
	docs := trackerDocs(t, f.st)
	if p := docs["10.0.0.3:6881"]; len(docs) != 1 || p.ID != store.PeerDocID(hash, "10.0.0.3", 6881) || p.Status != "completed" || p.Uploaded != 7 {
		t.Fatalf("after Flush: %+v", docs)
	}
	// Stopped: the document goes, whatever its _id.
	if err := f.st.DeletePeer(ctx, hash, "10.0.0.3", 6881); err != nil {
		t.Fatal(err)
	}
	legacy = store.NewID()
	if err := f.st.Insert(ctx, store.Tracker, store.TrackerPeer{ID: legacy, InfoHash: hash, IP: "10.0.0.4", Port: 6881,
		PeerID: hex.EncodeToString([]byte(rawPeer)), Updated: t0.Add(2 * time.Minute), Left: 5}); err != nil {
		t.Fatal(err)
	}
	f.set(t0.Add(2 * time.Minute)) // the copy is read again at the next announce
	f.announce(t, "10.0.0.9:40000", "left", "5")
	waitFor(t, 10*time.Second, func() bool {
		d := f.announce(t, "10.0.0.9:40000", "left", "5", "numwant", "0")
		return d["incomplete"] == int64(2) && d["complete"] == int64(0)
	})
	f.announce(t, "10.0.0.4:40000", "event", "stopped")
	f.tr.Flush(ctx)
	if docs := trackerDocs(t, f.st); len(docs) != 1 || docs["10.0.0.9:6881"].Left != 5 {
		t.Fatalf("after stopped: %+v", docs)
	}
}

// Reading the copy again keeps the announces not stored yet.
func TestSwarmCopyRereadKeepsPending(t *testing.T) {
	f := newCopyFixture(t, Settings{Interval: 60, MinInterval: 5, MaxPeers: 50}, time.Minute)
	f.announce(t, "10.0.0.1:40000", "left", "100")
	f.set(t0.Add(time.Minute))
	f.announce(t, "10.0.0.2:40000", "left", "100") // starts the read
	for range 20 {
		d := f.announce(t, "10.0.0.2:40000", "left", "100")
		if got := compactSet(t, d["peers"], 6); fmt.Sprint(got) != "[10.0.0.1:6881]" {
			t.Fatalf("10.0.0.1 lost: %v", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.tr.Flush(context.Background())
	if docs := trackerDocs(t, f.st); len(docs) != 2 {
		t.Fatalf("stored %+v", docs)
	}
}

// FlushLoop stores what is pending when its context ends.
func TestFlushLoopFlushesAtTheEnd(t *testing.T) {
	f := newCopyFixture(t, Settings{}, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.tr.FlushLoop(ctx, time.Hour); close(done) }()
	f.announce(t, "10.0.0.1:40000", "left", "1")
	cancel()
	<-done
	if docs := trackerDocs(t, f.st); len(docs) != 1 {
		t.Fatalf("stored %+v", docs)
	}
}
