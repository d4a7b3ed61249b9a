package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/clustervision/luna-go/internal/store"
	"github.com/clustervision/luna-go/internal/testutil"
)

func TestUpsertLearnedMAC(t *testing.T) {
	ctx := context.Background()
	st, _ := testutil.Store(t)
	sw := store.NewID()
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	m := store.LearnedMAC{Switch: sw, MAC: "00:25:90:01:02:03", Port: "5", PortName: "Gi1/0/5", Updated: t0}

	created, err := st.UpsertLearnedMAC(ctx, m)
	if err != nil || !created {
		t.Fatalf("first upsert: created=%v err=%v, want a new document", created, err)
	}
	m.Updated = t0.Add(30 * time.Second)
	created, err = st.UpsertLearnedMAC(ctx, m)
	if err != nil || created {
		t.Fatalf("second upsert: created=%v err=%v, want an update", created, err)
	}
	// The same MAC behind another port (an uplink) is a document of its own.
	up := m
	up.Port, up.PortName = "48", "Te1/0/1"
	if created, err = st.UpsertLearnedMAC(ctx, up); err != nil || !created {
		t.Fatalf("other port: created=%v err=%v", created, err)
	}
	all, err := st.LearnedMACs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("%d documents, want 2: %+v", len(all), all)
	}
	for _, l := range all {
		if l.ID.IsZero() || l.Switch != sw || l.MAC != m.MAC {
			t.Errorf("stored %+v", l)
		}
		if !l.Updated.Equal(m.Updated) {
			t.Errorf("updated = %v, want %v", l.Updated, m.Updated)
		}
	}
}

// TestUpsertLearnedMACConcurrent runs many writers of one key at once (two
// lweb processes, or two passes): FerretDB's upsert is a find then an
// insert, so the losers hit the unique index and must be retried as updates.
func TestUpsertLearnedMACConcurrent(t *testing.T) {
	ctx := context.Background()
	st, _ := testutil.Store(t)
	m := store.LearnedMAC{Switch: store.NewID(), MAC: "00:25:90:0a:0b:0c", Port: "7", PortName: "7", Updated: time.Now()}
	const writers = 30
	var wg sync.WaitGroup
	results := make(chan bool, writers)
	errs := make(chan error, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			created, err := st.UpsertLearnedMAC(ctx, m)
			if err != nil {
				errs <- err
				return
			}
			results <- created
		}()
	}
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Errorf("upsert: %v", err)
	}
	n := 0
	for c := range results {
		if c {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d writers report a new document, want 1", n)
	}
	if c, _ := st.Count(ctx, store.SwitchMAC); c != 1 {
		t.Errorf("%d documents, want 1", c)
	}
}

func TestExpireLearnedMACs(t *testing.T) {
	ctx := context.Background()
	st, _ := testutil.Store(t)
	sw := store.NewID()
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for i, age := range []time.Duration{0, 299 * time.Second, 301 * time.Second, time.Hour} {
		m := store.LearnedMAC{Switch: sw, MAC: "00:00:00:00:00:0" + string(rune('1'+i)), Port: "1", PortName: "1", Updated: now.Add(-age)}
		if _, err := st.UpsertLearnedMAC(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	n, err := st.ExpireLearnedMACs(ctx, now.Add(-300*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("expired %d, want 2", n)
	}
	left, _ := st.LearnedMACs(ctx)
	got := map[string]bool{}
	for _, l := range left {
		got[l.MAC] = true
	}
	if len(left) != 2 || !got["00:00:00:00:00:01"] || !got["00:00:00:00:00:02"] {
		t.Errorf("left %+v, want the two fresh entries", left)
	}
}

func TestLearnedMACsByMAC(t *testing.T) {
	ctx := context.Background()
	st, _ := testutil.Store(t)
	sw1, sw2 := store.NewID(), store.NewID()
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, m := range []store.LearnedMAC{
		{Switch: sw1, MAC: "00:00:00:00:00:01", Port: "1", PortName: "Gi1/0/1", Updated: now.Add(-time.Minute)},
		{Switch: sw2, MAC: "00:00:00:00:00:01", Port: "48", PortName: "Te1/0/1", Updated: now},
		{Switch: sw1, MAC: "00:00:00:00:00:02", Port: "2", PortName: "Gi1/0/2", Updated: now},
	} {
		if _, err := st.UpsertLearnedMAC(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.LearnedMACsByMAC(ctx, []string{"00:00:00:00:00:01", "00:00:00:00:00:99"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Switch != sw2 || got[0].Port != "48" || got[1].Switch != sw1 || got[1].PortName != "Gi1/0/1" {
		t.Errorf("got %+v, want the sighting on sw2 then the one on sw1", got)
	}
	if got, err := st.LearnedMACsByMAC(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("no MACs: %v %v", got, err)
	}
}
