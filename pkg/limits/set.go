package limits

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// maxBurst bounds a bucket's size (rate.Limiter takes an int).
const maxBurst = math.MaxInt32

// maxWait caps computed waits so that durations never overflow.
const maxWait = 100 * 365 * 24 * time.Hour

// Set holds the limits and state of all teams. It is safe for concurrent use.
//
// Teams are looked up in an immutable map replaced on [Set.Update], so Admit
// takes no Set-wide lock; the rate.Limiters and spend of a team are shared
// between the maps of successive updates.
type Set struct {
	mu    sync.Mutex // serializes updates
	teams atomic.Pointer[map[string]*team]
}

// team is one team's configuration; immutable once published, except for the
// state behind its pointers.
type team struct {
	limits    Limits        // normalized
	unlimited bool          // no limit at all: Admit returns a zero Decision
	req, tok  *rate.Limiter // nil when not limited
	reqBucket bucket        // req's rate and burst (saves taking its lock)
	tokBucket bucket        // tok's rate and burst
	spend     *spend        // never nil
}

// bucket is a limiter's configuration.
type bucket struct {
	rate  rate.Limit
	burst int
}

// bucketFor returns the bucket for perMinute > 0.
func bucketFor(perMinute float64) bucket {
	// A minute's worth, rounded up, at least 1.
	return bucket{rate.Limit(perMinute / 60), int(min(max(1, math.Ceil(perMinute)), maxBurst))}
}

// New returns a Set enforcing teams' limits. Every team named is known: its
// spend is tracked even when it has no limits; other teams are always admitted.
func New(teams map[string]Limits) *Set {
	s := &Set{}
	s.UpdateAt(teams, time.Time{})
	return s
}

// Update applies new limits (configuration hot reload) at time.Now(); see
// [Set.UpdateAt].
func (s *Set) Update(teams map[string]Limits) { s.UpdateAt(teams, time.Now()) }

// UpdateAt applies new limits at now. Teams whose limits are unchanged keep
// their state. For changed teams, new rates and burst sizes are applied to the
// existing limiters so that consumed tokens stay consumed (a limit removed
// drops its limiter; a limit added starts with a full bucket), and spend is
// kept. Teams no longer present are dropped with their state.
func (s *Set) UpdateAt(teams map[string]Limits, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var old map[string]*team
	if p := s.teams.Load(); p != nil {
		old = *p
	}
	next := make(map[string]*team, len(teams))
	for name, l := range teams {
		l = l.normalized()
		prev := old[name]
		switch {
		case prev == nil:
			next[name] = newTeam(l, nil, nil, &spend{}, now)
		case prev.limits == l:
			next[name] = prev
		default:
			next[name] = newTeam(l, prev.req, prev.tok, prev.spend, now)
		}
	}
	s.teams.Store(&next)
}

// newTeam builds a team, reusing (and reconfiguring) the given limiters.
func newTeam(l Limits, req, tok *rate.Limiter, sp *spend, now time.Time) *team {
	return &team{
		limits:    l,
		unlimited: l == Limits{},
		req:       limiter(req, l.RequestsPerMinute, now),
		tok:       limiter(tok, l.TokensPerMinute, now),
		reqBucket: bucketFor(l.RequestsPerMinute),
		tokBucket: bucketFor(l.TokensPerMinute),
		spend:     sp,
	}
}

// limiter returns a limiter for perMinute (nil for no limit): lim itself with
// its rate and burst set at now, or a new, full one when lim is nil.
func limiter(lim *rate.Limiter, perMinute float64, now time.Time) *rate.Limiter {
	if perMinute <= 0 {
		return nil
	}
	bk := bucketFor(perMinute)
	r, b := bk.rate, bk.burst
	if lim == nil {
		return rate.NewLimiter(r, b)
	}
	if lim.Limit() != r {
		lim.SetLimitAt(now, r)
	}
	if lim.Burst() != b {
		lim.SetBurstAt(now, b)
	}
	return lim
}

// lookup returns the team or nil.
func (s *Set) lookup(name string) *team {
	p := s.teams.Load()
	if p == nil {
		return nil
	}
	return (*p)[name]
}

// Admit decides whether team may send one request at now. Budgets are checked
// first (monthly before daily, as a retry after the day's reset would still
// fail the month), then the tokens bucket (which must hold at least one token:
// not in debt; none is taken), then the requests bucket, which takes one
// request. A refused request takes nothing. A team with no limits, an unknown
// team and "" are always admitted with a zero Decision.
func (s *Set) Admit(name string, now time.Time) Decision {
	t := s.lookup(name)
	if t == nil || t.unlimited {
		return Decision{}
	}
	var d Decision
	l := t.limits
	if l.DailyUSD > 0 || l.MonthlyUSD > 0 {
		day, month := t.spend.get(now)
		switch {
		case l.MonthlyUSD > 0 && month >= l.MonthlyUSD:
			d.Reason, d.BudgetUSD, d.SpentUSD = MonthlyBudget, l.MonthlyUSD, month
			d.ResetAt = MonthStart(now).AddDate(0, 1, 0)
		case l.DailyUSD > 0 && day >= l.DailyUSD:
			d.Reason, d.BudgetUSD, d.SpentUSD = DailyBudget, l.DailyUSD, day
			d.ResetAt = DayStart(now).AddDate(0, 0, 1)
		}
		if d.Reason != OK {
			d.RetryAfter = max(time.Second, d.ResetAt.Sub(now))
		}
	}
	if t.tok != nil {
		tokens := t.tok.TokensAt(now)
		if d.Reason == OK && tokens < 1 {
			d.Reason, d.PerMinute = Tokens, l.TokensPerMinute
			d.RetryAfter = max(time.Second, wait(1-tokens, t.tokBucket.rate))
		}
		d.LimitTokens, d.RemainingTokens, d.ResetTokens = t.tokBucket.facts(tokens)
	}
	if t.req != nil {
		// AllowN takes the request atomically or nothing; the refusal's wait is
		// what ReserveN's delay would be, computed without reserving and
		// cancelling: concurrent CancelAt calls do not restore every token.
		if d.Reason == OK && !t.req.AllowN(now, 1) {
			d.Reason, d.PerMinute = Requests, l.RequestsPerMinute
		}
		tokens := t.req.TokensAt(now)
		if d.Reason == Requests {
			d.RetryAfter = max(time.Second, wait(1-tokens, t.reqBucket.rate))
		}
		d.LimitRequests, d.RemainingRequests, d.ResetRequests = t.reqBucket.facts(tokens)
	}
	return d
}

// facts returns a bucket's OpenAI header facts given the tokens it holds.
func (bk bucket) facts(tokens float64) (limit, remaining int64, reset time.Duration) {
	b := float64(bk.burst)
	tokens = min(tokens, b)
	return int64(bk.burst), int64(max(0, math.Floor(tokens))), wait(b-tokens, bk.rate)
}

// wait is how long r takes to refill n tokens, rounded up to the millisecond
// (so that the bucket really holds them by then despite float rounding).
func wait(n float64, r rate.Limit) time.Duration {
	if n <= 0 {
		return 0
	}
	if r <= 0 {
		return maxWait
	}
	sec := n / float64(r)
	if sec >= maxWait.Seconds() {
		return maxWait
	}
	return time.Duration(math.Ceil(sec*1e3)) * time.Millisecond
}

// Charge records a finished request's usage at now: tokens are taken from the
// team's tokens bucket, which may go into debt (a single charge is clamped to
// the bucket's size), and costUSD is added to the spend of the day and month
// containing now. Usage of a window that has already been closed (now before
// the current day or month) is not added to it. Non-positive, NaN and infinite
// amounts are ignored, as are unknown teams.
func (s *Set) Charge(name string, tokens int64, costUSD float64, now time.Time) {
	t := s.lookup(name)
	if t == nil {
		return
	}
	if tokens > 0 && t.tok != nil {
		n := min(tokens, int64(t.tok.Burst()))
		t.tok.ReserveN(now, int(n)) // never cancelled: the tokens were used
	}
	if costUSD > 0 && !math.IsInf(costUSD, 1) {
		t.spend.add(costUSD, now)
	}
}

// Seed sets the spend team already made in the UTC day and month containing
// now; the gateway reads it from its event store at start-up so that budgets
// survive restarts. Negative and NaN amounts count as 0; unknown teams are ignored.
func (s *Set) Seed(name string, daySpendUSD, monthSpendUSD float64, now time.Time) {
	t := s.lookup(name)
	if t == nil {
		return
	}
	t.spend.seed(nonNegative(daySpendUSD), nonNegative(monthSpendUSD), now)
}

// Spend reports team's spend in the UTC day and month containing now (0 for
// unknown teams).
func (s *Set) Spend(name string, now time.Time) (dayUSD, monthUSD float64) {
	t := s.lookup(name)
	if t == nil {
		return 0, 0
	}
	return t.spend.get(now)
}

func nonNegative(v float64) float64 {
	if v > 0 {
		return v
	}
	return 0 // also NaN
}

// spend is a team's spend in the current UTC day and month. The windows only
// move forward: a time before the current window reads the current window.
type spend struct {
	mu                   sync.Mutex
	dayStart, dayEnd     time.Time
	monthStart, monthEnd time.Time
	day, month           float64
}

// roll starts new windows when now is past the current ones. mu must be held.
func (s *spend) roll(now time.Time) {
	if !now.Before(s.dayEnd) {
		s.dayStart = DayStart(now)
		s.dayEnd = s.dayStart.AddDate(0, 0, 1)
		s.day = 0
	}
	if !now.Before(s.monthEnd) {
		s.monthStart = MonthStart(now)
		s.monthEnd = s.monthStart.AddDate(0, 1, 0)
		s.month = 0
	}
}

func (s *spend) get(now time.Time) (day, month float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roll(now)
	return s.day, s.month
}

func (s *spend) add(usd float64, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roll(now)
	if !now.Before(s.dayStart) {
		s.day += usd
	}
	if !now.Before(s.monthStart) {
		s.month += usd
	}
}

func (s *spend) seed(day, month float64, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dayEnd, s.monthEnd = time.Time{}, time.Time{} // force new windows at now
	s.roll(now)
	s.day, s.month = day, month
}
