package router

import (
	"cmp"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/cespare/xxhash/v2"
)

// stackPicks is how many targets a request's weighted order holds without
// a heap allocation.
const stackPicks = 8

// pick is one target's place in a request's weighted order.
type pick struct {
	// score is Weight / -ln(u) for a target with a weight, 0 without.
	score float64
	// rank is the target's index in priority order.
	rank int32
	// avail is Target.Health.Available when the order was made.
	avail bool
}

// order returns the request's target order for StrategyWeighted, appended
// to dst, or nil for StrategyPriority (the targets' own order is used).
//
// It is weighted rendezvous hashing (highest random weight): each target
// with a weight w gets u = hash(key, target id) in (0,1) and the score
// w / -ln(u). -ln(u) is exponentially distributed, so the score is the
// inverse of an Exp(w) draw: the highest score (the first pick) is target i
// with probability w_i / Σw, the rest of the order is a weighted random
// permutation, and removing a target only moves the keys it had. Targets of
// weight 0 follow in priority order. Targets that are not available now go
// last, keeping their relative order, so the split is across healthy
// targets and an unhealthy one is reached only when all else failed.
func (r *Router) order(dst []pick, stickyKey string, now time.Time) []pick {
	if !r.weighted {
		return nil
	}
	var key uint64
	if stickyKey != "" {
		key = xxhash.Sum64String(stickyKey)
	} else {
		key = rand.Uint64()
	}
	for i, t := range r.targets {
		p := pick{rank: int32(i), avail: t.Health.Available(now)}
		if t.Weight > 0 {
			p.score = float64(t.Weight) / -math.Log(unitHash(key, r.idHash[i]))
		}
		dst = append(dst, p)
	}
	slices.SortFunc(dst, comparePicks)
	return dst
}

// comparePicks orders available before unavailable, then by score
// descending (weight-0 targets score 0, after every weighted one), then by
// rank. The order is total, so the sort needs no stability.
func comparePicks(a, b pick) int {
	if a.avail != b.avail {
		if a.avail {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(b.score, a.score); c != 0 {
		return c
	}
	return cmp.Compare(a.rank, b.rank)
}

// unitHash maps (key, target) to a number in the open interval (0,1): the
// top 52 bits of xxhash over both, centred in their step, so that neither 0
// nor 1 (where -ln(u) is infinite or zero) can come out. It depends only on
// its inputs: the same in every process.
func unitHash(key, target uint64) float64 {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], key)
	binary.LittleEndian.PutUint64(b[8:], target)
	h := xxhash.Sum64(b[:])
	return (float64(h>>12) + 0.5) / (1 << 52)
}
