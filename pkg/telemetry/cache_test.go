package telemetry

import (
	"strconv"
	"testing"
)

func TestSetCacheIsBounded(t *testing.T) {
	var c setCache[string, int]
	builds := 0
	build := func(k string) int { builds++; n, _ := strconv.Atoi(k); return n }
	for i := range maxCachedSets + 10 {
		if got := c.get(strconv.Itoa(i), build); got != i {
			t.Fatalf("get(%d) = %d", i, got)
		}
	}
	if len(c.m) != maxCachedSets {
		t.Errorf("cache holds %d entries, want the bound %d", len(c.m), maxCachedSets)
	}
	builds = 0
	c.get("1", build)                           // cached
	c.get(strconv.Itoa(maxCachedSets+5), build) // past the bound: built again
	if builds != 1 {
		t.Errorf("builds = %d, want 1", builds)
	}
}
