package bench

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the nearest-rank p-quantile (0 < p ≤ 1) of sorted, the
// smallest sample with at least p of the samples at or below it, so that
// p99 of 100 samples is the 99th and never an interpolated value nobody
// measured. It returns 0 for no samples.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(n))) - 1
	return sorted[min(max(i, 0), n-1)]
}

// Summary is the latency distribution of one load point.
type Summary struct {
	// P50, P90, P99 and P999 are nearest-rank percentiles.
	P50, P90, P99, P999 time.Duration
	// Max is the slowest sample.
	Max time.Duration
	// Mean is the arithmetic mean.
	Mean time.Duration
}

// Summarize computes the summary of sorted samples.
func Summarize(sorted []time.Duration) Summary {
	if len(sorted) == 0 {
		return Summary{}
	}
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	return Summary{
		P50:  Percentile(sorted, 0.50),
		P90:  Percentile(sorted, 0.90),
		P99:  Percentile(sorted, 0.99),
		P999: Percentile(sorted, 0.999),
		Max:  sorted[len(sorted)-1],
		Mean: sum / time.Duration(len(sorted)),
	}
}

// median returns the median of xs (the mean of the middle two for an even
// count), NaN for none. NaN values (a metric a rep could not measure) are
// left out.
func median(xs []float64) float64 {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	m := len(v) / 2
	if len(v)%2 == 1 {
		return v[m]
	}
	return (v[m-1] + v[m]) / 2
}

// spread is (max−min)/median of xs, the run-to-run noise of a metric; NaN
// when it cannot be computed.
func spread(xs []float64) float64 {
	med := median(xs)
	if math.IsNaN(med) || med == 0 {
		return math.NaN()
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		if math.IsNaN(x) {
			continue
		}
		lo, hi = min(lo, x), max(hi, x)
	}
	return (hi - lo) / math.Abs(med)
}
