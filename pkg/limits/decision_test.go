package limits_test

import (
	"math"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeptrusts/gateway/pkg/limits"
)

func TestSetHeaders(t *testing.T) {
	tests := []struct {
		name string
		d    limits.Decision
		want map[string]string
	}{
		{"zero decision writes nothing", limits.Decision{}, map[string]string{}},
		{
			"admitted, both limits",
			limits.Decision{
				LimitRequests: 60, RemainingRequests: 59, ResetRequests: time.Second,
				LimitTokens: 1000, RemainingTokens: 900, ResetTokens: 6 * time.Second,
			},
			map[string]string{
				"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "59", "x-ratelimit-reset-requests": "1s",
				"x-ratelimit-limit-tokens": "1000", "x-ratelimit-remaining-tokens": "900", "x-ratelimit-reset-tokens": "6s",
			},
		},
		{
			"resets rounded up: ms below 1s, seconds above",
			limits.Decision{
				LimitRequests: 5, RemainingRequests: 4, ResetRequests: 119200 * time.Microsecond,
				LimitTokens: 90000, RemainingTokens: 0, ResetTokens: 6*time.Minute + time.Millisecond,
			},
			map[string]string{
				"x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": "4", "x-ratelimit-reset-requests": "120ms",
				"x-ratelimit-limit-tokens": "90000", "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "6m1s",
			},
		},
		{
			"full bucket resets in 0s; tokens only",
			limits.Decision{LimitTokens: 10, RemainingTokens: 10, ResetTokens: 0},
			map[string]string{"x-ratelimit-limit-tokens": "10", "x-ratelimit-remaining-tokens": "10", "x-ratelimit-reset-tokens": "0s"},
		},
		{
			"refused by requests, Retry-After rounded up",
			limits.Decision{
				Reason: limits.Requests, RetryAfter: 1200 * time.Millisecond,
				LimitRequests: 60, RemainingRequests: 0, ResetRequests: 6 * time.Minute,
			},
			map[string]string{
				"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s",
				"retry-after": "2",
			},
		},
		{
			"Retry-After at least 1",
			limits.Decision{Reason: limits.Tokens, RetryAfter: 10 * time.Millisecond},
			map[string]string{"retry-after": "1"},
		},
		{
			"Retry-After exact second not rounded further",
			limits.Decision{Reason: limits.Tokens, RetryAfter: 3 * time.Second},
			map[string]string{"retry-after": "3"},
		},
		{
			"budget refusal without rate limits",
			limits.Decision{Reason: limits.DailyBudget, RetryAfter: 12*time.Hour + time.Nanosecond},
			map[string]string{"retry-after": "43201"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			tc.d.SetHeaders(h)
			want := http.Header{}
			for k, v := range tc.want {
				want.Set(k, v)
			}
			if !reflect.DeepEqual(h, want) {
				t.Fatalf("got %v, want %v", h, want)
			}
		})
	}
}

func TestMessage(t *testing.T) {
	reset := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		d    limits.Decision
		want string
	}{
		{"admitted", limits.Decision{LimitRequests: 5}, ""},
		{
			"requests",
			limits.Decision{Reason: limits.Requests, RetryAfter: 2200 * time.Millisecond, PerMinute: 60},
			"Rate limit reached for team checkout: 60 requests per minute. Retry after 3s.",
		},
		{
			"one request",
			limits.Decision{Reason: limits.Requests, RetryAfter: time.Minute, PerMinute: 1},
			"Rate limit reached for team checkout: 1 request per minute. Retry after 1m0s.",
		},
		{
			"tokens",
			limits.Decision{Reason: limits.Tokens, RetryAfter: 74100 * time.Millisecond, PerMinute: 10000},
			"Rate limit reached for team checkout: 10000 tokens per minute. Retry after 1m15s.",
		},
		{
			"daily",
			limits.Decision{Reason: limits.DailyBudget, BudgetUSD: 10, SpentUSD: 10.02, ResetAt: reset},
			"Budget exhausted for team checkout: daily budget of $10.00 used ($10.02 spent); resets at 2026-11-27T00:00:00Z.",
		},
		{
			"monthly, reset shown in UTC",
			limits.Decision{Reason: limits.MonthlyBudget, BudgetUSD: 500, SpentUSD: 500.5, ResetAt: reset.In(time.FixedZone("X", 3600))},
			"Budget exhausted for team checkout: monthly budget of $500.00 used ($500.50 spent); resets at 2026-11-27T00:00:00Z.",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.d.Message("checkout"); got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestMessageFromAdmit checks the sentences Admit's refusals produce: they
// name the team and the limit only, never a gateway key.
func TestMessageFromAdmit(t *testing.T) {
	const key = "kt-secret-gateway-key-0123456789"
	s := limits.New(map[string]limits.Limits{
		"rpm":    {RequestsPerMinute: 2},
		"tpm":    {TokensPerMinute: 120},
		"budget": {DailyUSD: 1},
	})
	admitN(t, s, "rpm", 2, t0)
	s.Charge("tpm", 500, 0, t0) // clamped to the burst of 120
	s.Charge("tpm", 120, 0, t0) // 120 in debt
	s.Charge("budget", 10, 1.5, t0)
	want := map[string]string{
		"rpm":    "Rate limit reached for team rpm: 2 requests per minute. Retry after 30s.",
		"tpm":    "Rate limit reached for team tpm: 120 tokens per minute. Retry after 1m1s.",
		"budget": "Budget exhausted for team budget: daily budget of $1.00 used ($1.50 spent); resets at 2026-11-27T00:00:00Z.",
	}
	for team, w := range want {
		d := s.Admit(team, t0)
		got := d.Message(team)
		if got != w {
			t.Errorf("%s: got  %q\nwant %q", team, got, w)
		}
		h := http.Header{}
		d.SetHeaders(h)
		for k, v := range h {
			if strings.Contains(k+strings.Join(v, ""), key) {
				t.Errorf("%s: header %s leaks", team, k)
			}
		}
		if strings.Contains(got, key) || strings.ContainsAny(got, "\n\r\t") {
			t.Errorf("%s: message %q", team, got)
		}
	}
}

func TestUnknownAndUnlimitedTeams(t *testing.T) {
	s := limits.New(map[string]limits.Limits{
		"free":    {},
		"invalid": {RequestsPerMinute: -1, TokensPerMinute: math.NaN(), DailyUSD: math.Inf(1)},
		"a":       {RequestsPerMinute: 1},
	})
	for _, team := range []string{"", "nobody", "free", "invalid", "A"} {
		for i := range 1000 {
			s.Charge(team, 1e6, 1e6, t0)
			if d := s.Admit(team, t0); d != (limits.Decision{}) {
				t.Fatalf("%q request %d: %+v", team, i, d)
			}
		}
	}
	var nilMap *limits.Set = limits.New(nil)
	if d := nilMap.Admit("a", t0); d != (limits.Decision{}) {
		t.Fatalf("empty set: %+v", d)
	}
}

func TestRefusedRequestTakesNothing(t *testing.T) {
	s := limits.New(map[string]limits.Limits{"a": {RequestsPerMinute: 3, TokensPerMinute: 60, DailyUSD: 1}})
	admitN(t, s, "a", 1, t0)
	s.Charge("a", 100, 2, t0) // over budget and in debt
	for range 10 {
		if d := s.Admit("a", t0); d.Reason != limits.DailyBudget || d.RemainingRequests != 2 {
			t.Fatalf("budget refusal: %+v", d)
		}
	}
	// Next day: budget fine and the bucket refilled; empty it again.
	next := t0.Add(24 * time.Hour)
	s.Charge("a", 60, 0, next)
	for range 10 {
		if d := s.Admit("a", next); d.Reason != limits.Tokens || d.RemainingRequests != 3 {
			t.Fatalf("tokens refusal: %+v", d)
		}
	}
	later := next.Add(time.Minute)
	admitN(t, s, "a", 3, later)
	for range 10 {
		if d := s.Admit("a", later); d.Reason != limits.Requests || d.RemainingTokens != 60 {
			t.Fatalf("requests refusal: %+v", d)
		}
	}
	admitN(t, s, "a", 1, later.Add(20*time.Second))
}

// TestConcurrent runs Admit, Charge, Seed, Spend and Update together at a
// fixed time: exactly a burst of requests is admitted (run with -race).
func TestConcurrent(t *testing.T) {
	const burst = 50
	cfg := func(i int) map[string]limits.Limits {
		return map[string]limits.Limits{
			"a": {RequestsPerMinute: burst},
			"b": {RequestsPerMinute: float64(100 + i%3), TokensPerMinute: 1000, DailyUSD: float64(1 + i%2)},
		}
	}
	s := limits.New(cfg(0))
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				if s.Admit("a", t0).Allowed() {
					admitted.Add(1)
				}
				s.Charge("a", 10, 0.01, t0)
				s.Admit("b", t0)
				s.Charge("b", 30, 0.001, t0)
				s.Spend("b", t0)
				if i%50 == 0 {
					s.UpdateAt(cfg(g+i), t0)
					s.Seed("b", 0, 0, t0)
				}
			}
		})
	}
	wg.Wait()
	if got := admitted.Load(); got != burst {
		t.Fatalf("admitted %d, want %d", got, burst)
	}
	if day, _ := s.Spend("a", t0); math.Abs(day-16*200*0.01) > 1e-6 {
		t.Fatalf("spend of a = %v", day)
	}
}

func TestAdmitAllocations(t *testing.T) {
	s := limits.New(map[string]limits.Limits{
		"free":    {},
		"limited": {RequestsPerMinute: 1e9, TokensPerMinute: 1e9, DailyUSD: 1e9, MonthlyUSD: 1e9},
		"refused": {RequestsPerMinute: 1},
	})
	admitN(t, s, "refused", 1, t0)
	for _, team := range []string{"free", "unknown", "", "limited", "refused"} {
		if n := testing.AllocsPerRun(100, func() { s.Admit(team, t0) }); n != 0 {
			t.Errorf("Admit(%q) allocates %v times", team, n)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		l       limits.Limits
		wantErr string
	}{
		{limits.Limits{}, ""},
		{limits.Limits{RequestsPerMinute: 60, TokensPerMinute: 1e6, DailyUSD: 10, MonthlyUSD: 100}, ""},
		{limits.Limits{RequestsPerMinute: -1}, "requests_per_minute is -1"},
		{limits.Limits{TokensPerMinute: math.NaN()}, "tokens_per_minute is NaN"},
		{limits.Limits{DailyUSD: math.Inf(1)}, "daily_usd is +Inf"},
		{limits.Limits{MonthlyUSD: -0.5}, "monthly_usd is -0.5"},
	}
	for _, tc := range tests {
		err := tc.l.Validate()
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%+v: got %v, want %q", tc.l, err, tc.wantErr)
		}
	}
}

func TestDayMonthStart(t *testing.T) {
	east := time.FixedZone("UTC+9", 9*3600)
	tests := []struct {
		t          time.Time
		day, month time.Time
	}{
		{t0, time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2026, 12, 1, 8, 0, 0, 0, east), time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2028, 2, 29, 23, 59, 59, 999, time.UTC), time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(2028, 2, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tc := range tests {
		if got := limits.DayStart(tc.t); !got.Equal(tc.day) || got.Location() != time.UTC {
			t.Errorf("DayStart(%v) = %v, want %v", tc.t, got, tc.day)
		}
		if got := limits.MonthStart(tc.t); !got.Equal(tc.month) || got.Location() != time.UTC {
			t.Errorf("MonthStart(%v) = %v, want %v", tc.t, got, tc.month)
		}
	}
}

func BenchmarkAdmit(b *testing.B) {
	s := limits.New(map[string]limits.Limits{
		"free":    {},
		"limited": {RequestsPerMinute: 1e9, TokensPerMinute: 1e9, DailyUSD: 1e9, MonthlyUSD: 1e9},
	})
	for _, team := range []string{"limited", "free"} {
		b.Run(team, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					s.Admit(team, t0)
				}
			})
		})
	}
}
