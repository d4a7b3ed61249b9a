package ipam

import (
	"slices"
	"sort"
)

// Range is an inclusive range of offsets, Start <= End.
type Range struct{ Start, End Offset }

// Set is a sorted set of used offsets in a network whose usable offsets are
// 1..max. Free space is always derived from the used offsets and never
// stored.
//
// Lookups and free-offset searches use binary search (O(log n)); Add and
// Remove are O(n) because they shift a slice; Free and Used are O(n). This is
// comfortably fast for networks with hundreds of thousands of used
// addresses.
//
// Offsets outside 1..max (the network address 0, or anything above max) may
// be stored: they are reported by Contains, Len and Used but never affect
// Lowest, LowestAfter or Free, which only ever return offsets in 1..max.
//
// The zero Set is an empty set with max 0. A Set is not safe for concurrent
// use.
type Set struct {
	max  Offset
	used []Offset // ascending, no duplicates
}

// NewSet returns a set of used offsets with the largest usable offset max.
// used need not be sorted and may contain duplicates; it is copied, not
// retained.
func NewSet(max Offset, used []Offset) *Set {
	u := slices.Clone(used)
	slices.SortFunc(u, Offset.Cmp)
	u = slices.Compact(u)
	return &Set{max: max, used: u}
}

// search returns the index of the first used offset >= o.
func (s *Set) search(o Offset) int {
	i, _ := slices.BinarySearchFunc(s.used, o, Offset.Cmp)
	return i
}

// Contains reports whether o is in the set.
func (s *Set) Contains(o Offset) bool {
	_, found := slices.BinarySearchFunc(s.used, o, Offset.Cmp)
	return found
}

// Add inserts o and reports whether it was added (false if already present).
func (s *Set) Add(o Offset) bool {
	i, found := slices.BinarySearchFunc(s.used, o, Offset.Cmp)
	if found {
		return false
	}
	s.used = slices.Insert(s.used, i, o)
	return true
}

// Remove deletes o and reports whether it was present.
func (s *Set) Remove(o Offset) bool {
	i, found := slices.BinarySearchFunc(s.used, o, Offset.Cmp)
	if !found {
		return false
	}
	s.used = slices.Delete(s.used, i, i+1)
	return true
}

// Len returns the number of offsets in the set, including any outside 1..max.
func (s *Set) Len() int { return len(s.used) }

// Max returns the largest usable offset.
func (s *Set) Max() Offset { return s.max }

// Used returns the offsets in the set in ascending order, including any
// outside 1..max. The result is a copy.
func (s *Set) Used() []Offset { return slices.Clone(s.used) }

// Lowest returns the lowest free offset in 1..max, or false if there is none.
func (s *Set) Lowest() (Offset, bool) {
	return s.lowestFrom(OffsetFrom(1))
}

// LowestAfter returns the lowest free offset in 1..max that is strictly
// greater than o, or false if there is none.
func (s *Set) LowestAfter(o Offset) (Offset, bool) {
	if o.Cmp(s.max) >= 0 {
		return Offset{}, false
	}
	// o < max <= 2^128-1, so o+1 does not wrap and is at least 1.
	return s.lowestFrom(o.Add(1))
}

// lowestFrom returns the lowest free offset c' >= c with c' <= max; c >= 1.
func (s *Set) lowestFrom(c Offset) (Offset, bool) {
	if c.Cmp(s.max) > 0 {
		return Offset{}, false
	}
	// used[i:] starts with a (possibly empty) run c, c+1, c+2, ... of
	// consecutive used offsets. Because the entries are distinct and
	// ascending, used[i+j] >= c+j for every j, and once used[i+j] > c+j this
	// holds for all larger j, so the end of the run can be binary searched.
	i := s.search(c)
	rest := s.used[i:]
	j := sort.Search(len(rest), func(j int) bool {
		return rest[j] != c.Add(uint64(j))
	})
	f := c.Add(uint64(j))
	if f.Cmp(s.max) > 0 || f.Cmp(c) < 0 { // the second test guards a wrap
		return Offset{}, false
	}
	return f, true
}

// Free returns the maximal ranges of free offsets in 1..max in ascending
// order. Adjacent free offsets are always merged into one range, so
// consecutive ranges are separated by at least one used offset. The result is
// empty when the set is full or max is 0.
func (s *Set) Free() []Range {
	var out []Range
	if s.max.IsZero() {
		return out
	}
	start := OffsetFrom(1) // first offset not yet known to be used or free
	for _, u := range s.used[s.search(start):] {
		if u.Cmp(s.max) > 0 {
			break
		}
		if u.Cmp(start) > 0 {
			out = append(out, Range{Start: start, End: u.Sub(1)})
		}
		if u == s.max {
			return out // u+1 might wrap; nothing is left anyway
		}
		start = u.Add(1)
	}
	return append(out, Range{Start: start, End: s.max})
}
