package bench

import (
	"math"
	"testing"
	"time"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func seq(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = ms(i + 1)
	}
	return out
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one sample is every percentile", []time.Duration{ms(7)}, 0.999, ms(7)},
		{"p50 of 4 is the 2nd, not an interpolation", seq(4), 0.5, ms(2)},
		{"p50 of 5 is the 3rd", seq(5), 0.5, ms(3)},
		{"p99 of 100 is the 99th", seq(100), 0.99, ms(99)},
		{"p99 of 1000 is the 990th", seq(1000), 0.99, ms(990)},
		{"p99.9 of 1000 is the 999th", seq(1000), 0.999, ms(999)},
		{"p99.9 of 100 is the max", seq(100), 0.999, ms(100)},
		{"p100 is the max", seq(10), 1, ms(10)},
		{"p0 is the min", seq(10), 0, ms(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%d samples, %v) = %v, want %v", len(tt.sorted), tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	got := Summarize(seq(1000))
	want := Summary{P50: ms(500), P90: ms(900), P99: ms(990), P999: ms(999), Max: ms(1000), Mean: 500500 * time.Microsecond}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
	if got := Summarize(nil); got != (Summary{}) {
		t.Errorf("Summarize(nil) = %+v, want zero", got)
	}
}

func TestMedianAndSpread(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name      string
		xs        []float64
		med, sprd float64
		medNaN    bool
		spreadNaN bool
	}{
		{name: "odd", xs: []float64{3, 1, 2}, med: 2, sprd: 1},
		{name: "even averages the middle two", xs: []float64{4, 1, 3, 2}, med: 2.5, sprd: 3 / 2.5},
		{name: "NaN is left out", xs: []float64{nan, 10, 20, 30}, med: 20, sprd: 1},
		{name: "all NaN", xs: []float64{nan, nan}, medNaN: true, spreadNaN: true},
		{name: "none", medNaN: true, spreadNaN: true},
		{name: "zero median has no spread", xs: []float64{0, 0, 1}, med: 0, spreadNaN: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := median(tt.xs)
			if tt.medNaN != math.IsNaN(m) || (!tt.medNaN && m != tt.med) {
				t.Errorf("median(%v) = %v, want %v (NaN: %v)", tt.xs, m, tt.med, tt.medNaN)
			}
			s := spread(tt.xs)
			if tt.spreadNaN != math.IsNaN(s) || (!tt.spreadNaN && math.Abs(s-tt.sprd) > 1e-12) {
				t.Errorf("spread(%v) = %v, want %v (NaN: %v)", tt.xs, s, tt.sprd, tt.spreadNaN)
			}
		})
	}
}
