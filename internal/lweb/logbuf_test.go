package lweb

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogBuffer(t *testing.T) {
	var out syncBuf
	b := newLogBuffer(&out, 20*time.Millisecond)
	b.Write([]byte("one\n"))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "one\n") {
		if time.Now().After(deadline) {
			t.Fatal("a buffered line was not written within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	b2 := newLogBuffer(&out, time.Hour)
	b2.Write([]byte("two\n"))
	if strings.Contains(out.String(), "two") {
		t.Fatal("written before the interval")
	}
	b2.Close()
	if !strings.Contains(out.String(), "two\n") {
		t.Fatal("Close did not write out the buffer")
	}
	b.Close()
}
