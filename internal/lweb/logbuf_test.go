package lweb

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLogBuffer(t *testing.T) {
	var buf bytes.Buffer
	out := &lockedWriter{w: &buf}
	written := func() string {
		out.mu.Lock()
		defer out.mu.Unlock()
		return buf.String()
	}
	b := newLogBuffer(out, 20*time.Millisecond)
	b.Write([]byte("one\n"))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(written(), "one\n") {
		if time.Now().After(deadline) {
			t.Fatal("a buffered line was not written within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	b2 := newLogBuffer(out, time.Hour)
	b2.Write([]byte("two\n"))
	if strings.Contains(written(), "two") {
		t.Fatal("written before the interval")
	}
	b2.Close()
	if !strings.Contains(written(), "two\n") {
		t.Fatal("Close did not write out the buffer")
	}
	b.Close()
}
