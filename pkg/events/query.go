package events

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Query parameter names of the event endpoint
// (GET /v1/events?last=10&provider=openai-primary&failover=true&since=…&team=…&after=evt_…).
// Kept here so the gateway that parses them and the CLI that builds them
// cannot disagree.
const (
	ParamLast     = "last"
	ParamProvider = "provider"
	ParamFailover = "failover"
	ParamSince    = "since"
	ParamAfter    = "after"
	ParamTeam     = "team"
)

// ParseFilter reads a Filter from the event endpoint's query parameters.
// An unknown parameter or a malformed value is an error naming it: a
// misspelt filter must not silently return every event. since is RFC 3339.
func ParseFilter(q url.Values) (Filter, error) {
	var f Filter
	// Sorted so that, with several problems, the same one is reported.
	for _, k := range slices.Sorted(maps.Keys(q)) {
		vs := q[k]
		if len(vs) != 1 {
			return Filter{}, fmt.Errorf("query parameter %q: given %d times, want once", k, len(vs))
		}
		v := vs[0]
		switch k {
		case ParamLast:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return Filter{}, fmt.Errorf("query parameter %q: %q is not a count", k, v)
			}
			f.Last = n
		case ParamProvider:
			f.Provider = v
		case ParamFailover:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Filter{}, fmt.Errorf("query parameter %q: %q is not true or false", k, v)
			}
			f.Failover = &b
		case ParamSince:
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return Filter{}, fmt.Errorf("query parameter %q: %q is not an RFC 3339 time", k, v)
			}
			f.Since = t
		case ParamAfter:
			f.AfterID = v
		case ParamTeam:
			f.Team = v
		default:
			return Filter{}, fmt.Errorf("unknown query parameter %q (want %s, %s, %s, %s, %s or %s)",
				k, ParamLast, ParamProvider, ParamFailover, ParamSince, ParamTeam, ParamAfter)
		}
	}
	return f, nil
}

// Values encodes f as the event endpoint's query parameters; ParseFilter
// reads it back. Zero fields (and a negative Last) are left out.
func (f Filter) Values() url.Values {
	q := url.Values{}
	if f.Last > 0 {
		q.Set(ParamLast, strconv.Itoa(f.Last))
	}
	if f.Provider != "" {
		q.Set(ParamProvider, f.Provider)
	}
	if f.Failover != nil {
		q.Set(ParamFailover, strconv.FormatBool(*f.Failover))
	}
	if !f.Since.IsZero() {
		q.Set(ParamSince, f.Since.UTC().Format(time.RFC3339Nano))
	}
	if f.AfterID != "" {
		q.Set(ParamAfter, f.AfterID)
	}
	if f.Team != "" {
		q.Set(ParamTeam, f.Team)
	}
	return q
}
