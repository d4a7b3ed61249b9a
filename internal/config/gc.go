package config

import (
	"os"
	"runtime/debug"
)

// TuneGC trades memory for CPU in Luna's programs, which spend much of their
// time decoding whole collections: the collector runs when the heap has
// grown by 400% instead of 100%, with a soft limit of 1 GiB that brings it
// back to running more often near the limit. GOGC and GOMEMLIMIT in the
// environment win over both. On lunadb this cuts the CPU time of a read of
// 10,000 documents by about a third (docs/BENCHMARKS.md).
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(1 << 30)
	}
}
