package limits_test

import (
	"math"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/keeptrusts/gateway/pkg/limits"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is the fake clock's start: mid-day, mid-month.
var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func admitN(t *testing.T, s *limits.Set, team string, n int, now time.Time) {
	t.Helper()
	for i := range n {
		if d := s.Admit(team, now); !d.Allowed() {
			t.Fatalf("request %d of %d refused: %+v", i+1, n, d)
		}
	}
}

func TestRequestsPerMinute(t *testing.T) {
	tests := []struct {
		name       string
		rpm        float64
		burst      int
		retryAfter time.Duration // of the first refusal
		reset      time.Duration // ResetRequests of the first refusal
	}{
		{"60/min", 60, 60, time.Second, time.Minute},
		{"6/min", 6, 6, 10 * time.Second, time.Minute},
		{"120/min, wait below 1s reported as 1s", 120, 120, time.Second, time.Minute},
		{"fractional 0.5/min", 0.5, 1, 2 * time.Minute, 2 * time.Minute},
		{"fractional 1.5/min rounds burst up", 1.5, 2, 40 * time.Second, 80 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := limits.New(map[string]limits.Limits{"checkout": {RequestsPerMinute: tc.rpm}})
			for i := range tc.burst {
				d := s.Admit("checkout", t0)
				want := limits.Decision{
					LimitRequests:     int64(tc.burst),
					RemainingRequests: int64(tc.burst - i - 1),
					ResetRequests:     limitsWait(float64(i+1), tc.rpm),
				}
				if d != want {
					t.Fatalf("request %d: got %+v, want %+v", i+1, d, want)
				}
			}
			d := s.Admit("checkout", t0)
			want := limits.Decision{
				Reason:            limits.Requests,
				RetryAfter:        tc.retryAfter,
				LimitRequests:     int64(tc.burst),
				RemainingRequests: 0,
				ResetRequests:     tc.reset,
				PerMinute:         tc.rpm,
			}
			if d != want {
				t.Fatalf("after burst: got %+v, want %+v", d, want)
			}
			// The refusal took nothing: still refused the same way.
			if d2 := s.Admit("checkout", t0); d2 != d {
				t.Fatalf("second refusal differs: %+v vs %+v", d2, d)
			}
			// One refill interval later exactly one more passes.
			later := t0.Add(time.Duration(float64(time.Minute) / tc.rpm))
			admitN(t, s, "checkout", 1, later)
			if d := s.Admit("checkout", later); d.Reason != limits.Requests {
				t.Fatalf("after refill of one: got %+v, want refusal", d)
			}
		})
	}
}

// limitsWait mirrors the expected reset: time to refill used tokens at rpm.
func limitsWait(used, rpm float64) time.Duration {
	return time.Duration(math.Ceil(used/(rpm/60)*1e3)) * time.Millisecond
}

func TestRequestsRefill(t *testing.T) {
	s := limits.New(map[string]limits.Limits{"a": {RequestsPerMinute: 60}})
	admitN(t, s, "a", 60, t0)
	tests := []struct {
		after  time.Duration
		admits int
	}{
		{500 * time.Millisecond, 0},
		{30 * time.Second, 30},
		{90 * time.Second, 60}, // capped at the burst
	}
	now := t0
	for _, tc := range tests {
		now = now.Add(tc.after)
		admitN(t, s, "a", tc.admits, now)
		if d := s.Admit("a", now); d.Allowed() {
			t.Fatalf("after %v: admitted more than %d", tc.after, tc.admits)
		}
	}
}

func TestTokensPerMinute(t *testing.T) {
	// 60 tokens per minute: one token per second, bucket of 60.
	s := limits.New(map[string]limits.Limits{"a": {TokensPerMinute: 60, RequestsPerMinute: 100}})
	d := s.Admit("a", t0)
	if !d.Allowed() || d.LimitTokens != 60 || d.RemainingTokens != 60 || d.ResetTokens != 0 {
		t.Fatalf("fresh: %+v", d)
	}
	steps := []struct {
		name       string
		charge     int64
		wantReason limits.Reason
		remaining  int64
		retryAfter time.Duration
	}{
		{"59 used, 1 left", 59, limits.OK, 1, 0},
		{"empty bucket", 1, limits.Tokens, 0, time.Second},
		{"in debt of 60", 60, limits.Tokens, 0, 61 * time.Second},
		{"charge above the burst is clamped to it", 1000, limits.Tokens, 0, 121 * time.Second},
	}
	for _, st := range steps {
		s.Charge("a", st.charge, 0, t0)
		before := s.Admit("a", t0) // may take a request when admitted
		reqLeft := before.RemainingRequests
		d := s.Admit("a", t0)
		if d.Reason != st.wantReason || d.RemainingTokens != st.remaining || d.RetryAfter != st.retryAfter {
			t.Fatalf("%s: got %+v", st.name, d)
		}
		if !d.Allowed() {
			if d.RemainingRequests != reqLeft {
				t.Fatalf("%s: refused request took a request: %d -> %d", st.name, reqLeft, d.RemainingRequests)
			}
			if d.PerMinute != 60 || d.LimitTokens != 60 {
				t.Fatalf("%s: facts %+v", st.name, d)
			}
		}
	}
	// Debt is now 120 tokens below 1: refused until exactly RetryAfter.
	d = s.Admit("a", t0)
	if got := s.Admit("a", t0.Add(d.RetryAfter-time.Millisecond)); got.Reason != limits.Tokens {
		t.Fatalf("just before RetryAfter: %+v", got)
	}
	if got := s.Admit("a", t0.Add(d.RetryAfter)); !got.Allowed() || got.RemainingTokens != 1 {
		t.Fatalf("at RetryAfter: %+v", got)
	}
}

func TestTokensAdmitWhileNotInDebt(t *testing.T) {
	// Usage is known only after the request: a team with 1 token left is
	// admitted and may overshoot; the next request waits for the debt.
	s := limits.New(map[string]limits.Limits{"a": {TokensPerMinute: 600}}) // 10/s
	s.Charge("a", 599, 0, t0)
	admitN(t, s, "a", 5, t0) // Admit takes no tokens
	s.Charge("a", 500, 0, t0)
	d := s.Admit("a", t0)
	want := limits.Decision{
		Reason: limits.Tokens, RetryAfter: 50 * time.Second, PerMinute: 600,
		LimitTokens: 600, RemainingTokens: 0, ResetTokens: 109900 * time.Millisecond,
	}
	if d != want {
		t.Fatalf("got %+v, want %+v", d, want)
	}
}

func TestBudgets(t *testing.T) {
	midnight := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	firstDec := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	type charge struct {
		at  time.Time
		usd float64
	}
	type check struct {
		at         time.Time
		reason     limits.Reason
		retryAfter time.Duration
		spent      float64 // SpentUSD on refusal
	}
	tests := []struct {
		name    string
		limits  limits.Limits
		seed    *[2]float64 // day, month at t0
		charges []charge
		checks  []check
	}{
		{
			name:    "daily below budget",
			limits:  limits.Limits{DailyUSD: 10},
			charges: []charge{{t0, 9.99}},
			checks:  []check{{at: t0}},
		},
		{
			name:    "daily overshoot by one request, then refused until UTC midnight",
			limits:  limits.Limits{DailyUSD: 10},
			charges: []charge{{t0, 9.99}, {t0, 0.03}},
			checks: []check{
				{t0, limits.DailyBudget, 12 * time.Hour, 10.02},
				{midnight.Add(-time.Millisecond), limits.DailyBudget, time.Second, 10.02},
				{midnight, limits.OK, 0, 0},
			},
		},
		{
			name:    "daily exactly used is refused",
			limits:  limits.Limits{DailyUSD: 10},
			charges: []charge{{t0, 10}},
			checks:  []check{{t0, limits.DailyBudget, 12 * time.Hour, 10}},
		},
		{
			name:    "monthly across days, rollover on the first",
			limits:  limits.Limits{DailyUSD: 10, MonthlyUSD: 25},
			charges: []charge{{t0.Add(-48 * time.Hour), 9}, {t0.Add(-24 * time.Hour), 9}, {t0, 7}},
			checks: []check{
				{t0, limits.MonthlyBudget, firstDec.Sub(t0), 25},
				{firstDec, limits.OK, 0, 0},
			},
		},
		{
			name:    "monthly takes precedence over daily",
			limits:  limits.Limits{DailyUSD: 5, MonthlyUSD: 5},
			charges: []charge{{t0, 6}},
			checks:  []check{{t0, limits.MonthlyBudget, firstDec.Sub(t0), 6}},
		},
		{
			name:    "seed survives restart",
			limits:  limits.Limits{DailyUSD: 10, MonthlyUSD: 100},
			seed:    &[2]float64{10, 50},
			charges: nil,
			checks:  []check{{t0, limits.DailyBudget, 12 * time.Hour, 10}, {midnight, limits.OK, 0, 0}},
		},
		{
			name:    "seed plus charge reaches monthly",
			limits:  limits.Limits{MonthlyUSD: 100},
			seed:    &[2]float64{0, 99.5},
			charges: []charge{{t0, 0.5}},
			checks:  []check{{t0, limits.MonthlyBudget, firstDec.Sub(t0), 100}},
		},
		{
			name:    "charge for a closed day is not added to today",
			limits:  limits.Limits{DailyUSD: 10},
			charges: []charge{{midnight, 1}, {midnight.Add(-time.Second), 20}},
			checks:  []check{{midnight, limits.OK, 0, 0}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := limits.New(map[string]limits.Limits{"checkout": tc.limits})
			if tc.seed != nil {
				s.Seed("checkout", tc.seed[0], tc.seed[1], t0)
			}
			for _, c := range tc.charges {
				s.Charge("checkout", 100, c.usd, c.at)
			}
			for _, c := range tc.checks {
				d := s.Admit("checkout", c.at)
				if d.Reason != c.reason || d.RetryAfter != c.retryAfter {
					t.Fatalf("at %v: got reason %q retry %v, want %q %v", c.at, d.Reason, d.RetryAfter, c.reason, c.retryAfter)
				}
				if d.Allowed() {
					continue
				}
				if math.Abs(d.SpentUSD-c.spent) > 1e-9 {
					t.Fatalf("at %v: spent %v, want %v", c.at, d.SpentUSD, c.spent)
				}
				if !d.ResetAt.Equal(c.at.Add(d.RetryAfter)) && d.RetryAfter > time.Second {
					t.Fatalf("at %v: ResetAt %v inconsistent with RetryAfter %v", c.at, d.ResetAt, d.RetryAfter)
				}
			}
		})
	}
}

func TestSpendRollover(t *testing.T) {
	s := limits.New(map[string]limits.Limits{"a": {}})
	s.Seed("a", 3, 40, t0)
	s.Charge("a", 0, 2, t0)
	tests := []struct {
		at         time.Time
		day, month float64
	}{
		{t0, 5, 42},
		{time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC), 0, 42},
		{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), 0, 0},
		{t0, 0, 0}, // windows never move back
	}
	for _, tc := range tests {
		day, month := s.Spend("a", tc.at)
		if day != tc.day || month != tc.month {
			t.Fatalf("Spend at %v = %v, %v; want %v, %v", tc.at, day, month, tc.day, tc.month)
		}
	}
}

func TestChargeIgnoresBadAmounts(t *testing.T) {
	s := limits.New(map[string]limits.Limits{"a": {DailyUSD: 1, TokensPerMinute: 60}})
	for _, usd := range []float64{-5, math.NaN(), math.Inf(1), math.Inf(-1), 0} {
		s.Charge("a", -10, usd, t0)
	}
	s.Charge("nobody", 1e9, 1e9, t0)
	s.Seed("nobody", 1, 1, t0)
	if day, month := s.Spend("a", t0); day != 0 || month != 0 {
		t.Fatalf("spend %v %v", day, month)
	}
	if d := s.Admit("a", t0); !d.Allowed() || d.RemainingTokens != 60 {
		t.Fatalf("%+v", d)
	}
	s.Seed("a", math.NaN(), -1, t0)
	if day, month := s.Spend("a", t0); day != 0 || month != 0 {
		t.Fatalf("seeded spend %v %v", day, month)
	}
}

func TestUpdate(t *testing.T) {
	s := limits.New(map[string]limits.Limits{
		"same":    {RequestsPerMinute: 60, DailyUSD: 100},
		"faster":  {RequestsPerMinute: 60, DailyUSD: 100},
		"slower":  {RequestsPerMinute: 60, TokensPerMinute: 600},
		"removed": {RequestsPerMinute: 10, DailyUSD: 100},
		"shrink":  {RequestsPerMinute: 60},
		"unlimit": {RequestsPerMinute: 60},
		"limit":   {},
	})
	for _, team := range []string{"same", "faster", "slower"} {
		admitN(t, s, team, 50, t0)
	}
	admitN(t, s, "removed", 5, t0)
	s.Charge("slower", 590, 0, t0)
	for _, team := range []string{"same", "faster", "removed", "limit"} {
		s.Charge(team, 0, 7, t0)
	}

	now := t0.Add(0) // no refill between Admit and Update
	s.UpdateAt(map[string]limits.Limits{
		"same":    {RequestsPerMinute: 60, DailyUSD: 100},
		"faster":  {RequestsPerMinute: 120, DailyUSD: 5}, // budget now used up
		"slower":  {RequestsPerMinute: 30, TokensPerMinute: 60},
		"shrink":  {RequestsPerMinute: 30},
		"unlimit": {},
		"limit":   {RequestsPerMinute: 2, DailyUSD: 1},
		"new":     {RequestsPerMinute: 3},
	}, now)

	// Unchanged team keeps its state: 10 left.
	admitN(t, s, "same", 10, now)
	if d := s.Admit("same", now); d.Reason != limits.Requests {
		t.Fatalf("same: %+v", d)
	}
	// Changed budget applies to kept spend.
	d := s.Admit("faster", now)
	if d.Reason != limits.DailyBudget || d.SpentUSD != 7 || d.BudgetUSD != 5 {
		t.Fatalf("faster: %+v", d)
	}
	if d.LimitRequests != 120 || d.RemainingRequests != 10 || d.ResetRequests != 55*time.Second {
		t.Fatalf("faster: new rate applied with consumption kept: %+v", d)
	}
	// Lower rates: what is left stays (10 requests, 10 tokens) ...
	d = s.Admit("slower", now)
	if !d.Allowed() || d.LimitRequests != 30 || d.RemainingRequests != 9 || d.LimitTokens != 60 || d.RemainingTokens != 10 {
		t.Fatalf("slower: %+v", d)
	}
	// ... but never more than the new, smaller bucket.
	if d := s.Admit("shrink", now); !d.Allowed() || d.LimitRequests != 30 || d.RemainingRequests != 29 {
		t.Fatalf("shrink: %+v", d)
	}
	if d := s.Admit("removed", now); d != (limits.Decision{}) {
		t.Fatalf("removed team is unknown now: %+v", d)
	}
	if day, month := s.Spend("removed", now); day != 0 || month != 0 {
		t.Fatalf("removed team's spend dropped: %v %v", day, month)
	}
	if day, _ := s.Spend("faster", now); day != 7 {
		t.Fatalf("faster spend %v", day)
	}
	admitN(t, s, "unlimit", 1000, now)
	if d := s.Admit("unlimit", now); d != (limits.Decision{}) {
		t.Fatalf("unlimit: %+v", d)
	}
	// "limit" had spend tracked while unlimited: 7 > 1, refused now.
	if d := s.Admit("limit", now); d.Reason != limits.DailyBudget {
		t.Fatalf("limit: %+v", d)
	}
	admitN(t, s, "new", 3, now)
	if d := s.Admit("new", now); d.Reason != limits.Requests {
		t.Fatalf("new: %+v", d)
	}
}
