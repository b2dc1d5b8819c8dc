package limits

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Limits are one team's limits; zero fields mean "no limit". Negative, NaN
// and infinite values are treated as "no limit" too; [Limits.Validate]
// reports them so configuration can reject them.
type Limits struct {
	// RequestsPerMinute caps requests; a full minute's worth may be used at once.
	RequestsPerMinute float64
	// TokensPerMinute caps tokens (prompt plus completion); a full minute's worth
	// may be used at once.
	TokensPerMinute float64
	// DailyUSD is the budget per UTC day.
	DailyUSD float64
	// MonthlyUSD is the budget per UTC calendar month.
	MonthlyUSD float64
}

// Validate reports a field that is negative, NaN or infinite.
func (l Limits) Validate() error {
	fields := [...]struct {
		name string
		v    float64
	}{
		{"requests_per_minute", l.RequestsPerMinute},
		{"tokens_per_minute", l.TokensPerMinute},
		{"daily_usd", l.DailyUSD},
		{"monthly_usd", l.MonthlyUSD},
	}
	for _, f := range fields {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return fmt.Errorf("limits: %s is %v: must be a finite number >= 0 (0 means no limit)", f.name, f.v)
		}
	}
	return nil
}

// normalized maps every value that is not a positive finite number to 0.
func (l Limits) normalized() Limits {
	clean := func(v float64) float64 {
		if v > 0 && !math.IsInf(v, 1) {
			return v
		}
		return 0 // also NaN
	}
	return Limits{
		RequestsPerMinute: clean(l.RequestsPerMinute),
		TokensPerMinute:   clean(l.TokensPerMinute),
		DailyUSD:          clean(l.DailyUSD),
		MonthlyUSD:        clean(l.MonthlyUSD),
	}
}

// Reason a request was refused.
type Reason string

const (
	// OK means the request was admitted.
	OK Reason = ""
	// Requests means the requests-per-minute limit was reached.
	Requests Reason = "requests"
	// Tokens means the tokens-per-minute bucket is empty or in debt.
	Tokens Reason = "tokens"
	// DailyBudget means the day's USD budget is used up.
	DailyBudget Reason = "daily_budget"
	// MonthlyBudget means the month's USD budget is used up.
	MonthlyBudget Reason = "monthly_budget"
)

// Decision is Admit's answer.
//
// The header facts are filled for the rate limits the team has, also when the
// request is refused: LimitRequests == 0 (resp. LimitTokens == 0) means the
// team has no requests (resp. tokens) limit, and the matching Remaining and
// Reset fields are then 0 and meaningless. A zero Decision admits and carries
// no limits.
type Decision struct {
	// Reason is OK when admitted.
	Reason Reason
	// RetryAfter is, when refused, how long until a retry can pass (>= 1s).
	RetryAfter time.Duration

	// LimitRequests is the requests bucket's size (requests per minute,
	// rounded up); 0 when the team has no requests limit.
	LimitRequests int64
	// RemainingRequests is how many requests may be sent now (after this one).
	RemainingRequests int64
	// ResetRequests is the time until the requests bucket is full again.
	ResetRequests time.Duration
	// LimitTokens is the tokens bucket's size (tokens per minute, rounded up);
	// 0 when the team has no tokens limit.
	LimitTokens int64
	// RemainingTokens is how many tokens are left now; 0 when in debt.
	RemainingTokens int64
	// ResetTokens is the time until the tokens bucket is full again.
	ResetTokens time.Duration

	// PerMinute is, on a Requests or Tokens refusal, the configured limit per minute.
	PerMinute float64
	// BudgetUSD is, on a budget refusal, the budget that is used up.
	BudgetUSD float64
	// SpentUSD is, on a budget refusal, the spend in the budget's window.
	SpentUSD float64
	// ResetAt is, on a budget refusal, the start of the next window (UTC).
	ResetAt time.Time
}

// Allowed reports whether the request was admitted.
func (d Decision) Allowed() bool { return d.Reason == OK }

// Header names written by [Decision.SetHeaders]: OpenAI's names, in the
// canonical form http.Header keys use.
const (
	HeaderLimitRequests     = "X-Ratelimit-Limit-Requests"
	HeaderRemainingRequests = "X-Ratelimit-Remaining-Requests"
	HeaderResetRequests     = "X-Ratelimit-Reset-Requests"
	HeaderLimitTokens       = "X-Ratelimit-Limit-Tokens"
	HeaderRemainingTokens   = "X-Ratelimit-Remaining-Tokens"
	HeaderResetTokens       = "X-Ratelimit-Reset-Tokens"
	HeaderRetryAfter        = "Retry-After"
)

// SetHeaders writes OpenAI's x-ratelimit-{limit,remaining,reset}-{requests,tokens}
// headers for the rate limits the team has, and Retry-After (whole seconds,
// rounded up, at least 1) when refused. Resets use Go duration syntax as
// OpenAI does ("1s", "6m0s"): rounded up to the millisecond below one second
// ("120ms") and to the second above.
func (d Decision) SetHeaders(h http.Header) {
	// The names are canonical already: assigning skips the per-call
	// canonicalisation (and its allocation) of h.Set.
	if d.LimitRequests > 0 {
		h[HeaderLimitRequests] = []string{strconv.FormatInt(d.LimitRequests, 10)}
		h[HeaderRemainingRequests] = []string{strconv.FormatInt(d.RemainingRequests, 10)}
		h[HeaderResetRequests] = []string{formatReset(d.ResetRequests)}
	}
	if d.LimitTokens > 0 {
		h[HeaderLimitTokens] = []string{strconv.FormatInt(d.LimitTokens, 10)}
		h[HeaderRemainingTokens] = []string{strconv.FormatInt(d.RemainingTokens, 10)}
		h[HeaderResetTokens] = []string{formatReset(d.ResetTokens)}
	}
	if !d.Allowed() {
		h[HeaderRetryAfter] = []string{strconv.FormatInt(retrySeconds(d.RetryAfter), 10)}
	}
}

// Message returns a sentence for the error body of a refused request, such as
// "Rate limit reached for team checkout: 60 requests per minute. Retry after 3s."
// It holds the team name, the limit and the timing only; "" when admitted.
func (d Decision) Message(team string) string {
	switch d.Reason {
	case OK:
		return ""
	case Requests, Tokens:
		unit := string(d.Reason)
		if d.PerMinute == 1 {
			unit = unit[:len(unit)-1] // "request", "token"
		}
		return fmt.Sprintf("Rate limit reached for team %s: %s %s per minute. Retry after %s.",
			team, strconv.FormatFloat(d.PerMinute, 'f', -1, 64), unit,
			time.Duration(retrySeconds(d.RetryAfter))*time.Second)
	case DailyBudget, MonthlyBudget:
		which := "daily"
		if d.Reason == MonthlyBudget {
			which = "monthly"
		}
		return fmt.Sprintf("Budget exhausted for team %s: %s budget of $%.2f used ($%.2f spent); resets at %s.",
			team, which, d.BudgetUSD, d.SpentUSD, d.ResetAt.UTC().Format(time.RFC3339))
	default:
		return fmt.Sprintf("Request refused for team %s (%s). Retry after %s.",
			team, d.Reason, time.Duration(retrySeconds(d.RetryAfter))*time.Second)
	}
}

// retrySeconds rounds d up to whole seconds, at least 1.
func retrySeconds(d time.Duration) int64 {
	if d <= time.Second {
		return 1
	}
	return int64(ceilTo(d, time.Second) / time.Second)
}

// formatReset renders a reset duration: "0s", milliseconds below one second,
// whole seconds above, always rounded up.
func formatReset(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return ceilTo(d, time.Millisecond).String()
	default:
		return ceilTo(d, time.Second).String()
	}
}

// ceilTo rounds d > 0 up to a multiple of unit, saturating instead of overflowing.
func ceilTo(d, unit time.Duration) time.Duration {
	if d > math.MaxInt64-unit {
		return d / unit * unit
	}
	return (d + unit - 1) / unit * unit
}

// DayStart returns the start of the UTC day containing t.
func DayStart(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// MonthStart returns the start of the UTC month containing t.
func MonthStart(t time.Time) time.Time {
	y, m, _ := t.UTC().Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
}
