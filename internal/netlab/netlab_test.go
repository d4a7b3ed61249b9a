package netlab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHostsReachHub: every host of a lab of 70, with static neighbours,
// reaches a listener in the hub and sees its own host name.
func TestHostsReachHub(t *testing.T) {
	ctx := context.Background()
	lab, err := New(ctx, "btcltest", netip.MustParsePrefix("192.0.2.0/24"))
	if err != nil {
		t.Fatalf("lab: %v (needs root and iproute2)", err)
	}
	defer lab.Close()
	n := 70
	for i := 0; i < n; i++ {
		if _, err := lab.AddHost(ctx, fmt.Sprintf("h%02d.test", i), 20); err != nil {
			t.Fatal(err)
		}
	}
	if err := lab.StaticNeighbours(ctx); err != nil {
		t.Fatal(err)
	}
	l, err := lab.Listen(7050)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, c.RemoteAddr().(*net.TCPAddr).IP.String()+"\n")
			c.Close()
		}
	}()
	var wg sync.WaitGroup
	errs := make([]string, n)
	for i, h := range lab.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			out, err := h.Command(cctx, "bash", "-c", `exec 3<>/dev/tcp/`+lab.HubIP.String()+`/7050 && read -r line <&3 && echo "$line $(hostname)"`).CombinedOutput()
			if want := h.IP.String() + " " + h.Name; err != nil || strings.TrimSpace(string(out)) != want {
				errs[i] = fmt.Sprintf("%s: %q %v, want %q", h.NS, out, err, want)
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Error(e)
		}
	}
}
