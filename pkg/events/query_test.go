package events

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseFilter(t *testing.T) {
	yes, no := true, false
	since := time.Date(2025, 6, 1, 12, 0, 0, 500, time.UTC)
	tests := []struct {
		name    string
		query   string
		want    Filter
		wantErr string
	}{
		{"empty", "", Filter{}, ""},
		{"all", "last=10&provider=openai-primary&failover=true&since=2025-06-01T12:00:00.0000005Z&after=evt_01&team=platform",
			Filter{Last: 10, Provider: "openai-primary", Failover: &yes, Since: since, AfterID: "evt_01", Team: "platform"}, ""},
		{"team", "team=data-science", Filter{Team: "data-science"}, ""},
		{"empty team does not filter", "team=", Filter{}, ""},
		{"repeated team", "team=a&team=b", Filter{}, `"team": given 2 times`},
		{"failover false", "failover=false", Filter{Failover: &no}, ""},
		{"since with offset", "since=2025-06-01T14:00:00%2B02:00", Filter{Since: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}, ""},
		{"bad last", "last=ten", Filter{}, `"last": "ten" is not a count`},
		{"negative last", "last=-1", Filter{}, `"last"`},
		{"bad failover", "failover=maybe", Filter{}, `"failover": "maybe" is not true or false`},
		{"bad since", "since=yesterday", Filter{}, `"since": "yesterday" is not an RFC 3339 time`},
		{"misspelt", "provder=x", Filter{}, `unknown query parameter "provder"`},
		{"misspelt team", "teams=x", Filter{}, `unknown query parameter "teams" (want last, provider, failover, since, team or after)`},
		{"repeated", "provider=a&provider=b", Filter{}, `"provider": given 2 times`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseFilter(q)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseFilter(%q) error = %v, want it to contain %q", tt.query, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Since.Equal(tt.want.Since) {
				t.Errorf("Since = %v, want %v", got.Since, tt.want.Since)
			}
			got.Since, tt.want.Since = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseFilter(%q) = %+v, want %+v", tt.query, got, tt.want)
			}
		})
	}
}

func TestFilterValuesRoundTrip(t *testing.T) {
	yes := true
	for _, f := range []Filter{
		{},
		{Last: 10},
		{Last: 5, Provider: "anthropic-fallback", Failover: &yes, Since: time.Date(2025, 6, 1, 12, 0, 0, 1, time.UTC), AfterID: "evt_x", Team: "platform"},
		{Team: "a b&c=d/é"},
	} {
		got, err := ParseFilter(f.Values())
		if err != nil {
			t.Fatalf("ParseFilter(%v): %v", f.Values(), err)
		}
		if !reflect.DeepEqual(got, f) {
			t.Errorf("round trip of %+v gave %+v", f, got)
		}
	}
	if v := (Filter{Last: -3}).Values(); v.Has(ParamLast) {
		t.Errorf("negative Last encoded: %v", v)
	}
	if v := (Filter{Team: "platform"}).Values(); v.Encode() != "team=platform" {
		t.Errorf("Values() = %q, want team=platform", v.Encode())
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"", "last=10&failover=true", "since=2025-06-01T12:00:00Z&after=evt_1", "x=1", "last=1&last=2", "%zz", "team=platform&provider=p"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		fl, err := ParseFilter(q)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to the same filter.
		again, err := ParseFilter(fl.Values())
		if err != nil {
			t.Fatalf("re-parse of %v: %v", fl.Values(), err)
		}
		if !again.Since.Equal(fl.Since) || again.Last != fl.Last || again.Provider != fl.Provider ||
			again.AfterID != fl.AfterID || again.Team != fl.Team || (again.Failover == nil) != (fl.Failover == nil) ||
			(fl.Failover != nil && *again.Failover != *fl.Failover) {
			t.Fatalf("round trip %+v → %+v", fl, again)
		}
	})
}

func TestFilterMatches(t *testing.T) {
	yes, no := true, false
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	ev := Event{ID: "evt_1", Timestamp: t0, Provider: "openai-primary", Team: "platform", Failover: Failover{Triggered: true}}
	tests := []struct {
		name string
		f    Filter
		want bool
	}{
		{"zero filter", Filter{}, true},
		{"last and after are ignored", Filter{Last: 1, AfterID: "evt_9"}, true},
		{"provider", Filter{Provider: "openai-primary"}, true},
		{"other provider", Filter{Provider: "anthropic-fallback"}, false},
		{"failover", Filter{Failover: &yes}, true},
		{"no failover", Filter{Failover: &no}, false},
		{"since is inclusive", Filter{Since: t0}, true},
		{"since later", Filter{Since: t0.Add(time.Nanosecond)}, false},
		{"team", Filter{Team: "platform"}, true},
		{"other team", Filter{Team: "data-science"}, false},
		{"team is exact", Filter{Team: "Platform"}, false},
		{"all at once", Filter{Provider: "openai-primary", Failover: &yes, Since: t0, Team: "platform"}, true},
		{"all but the team", Filter{Provider: "openai-primary", Failover: &yes, Since: t0, Team: "x"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Matches(ev); got != tt.want {
				t.Errorf("%+v.Matches = %v, want %v", tt.f, got, tt.want)
			}
		})
	}
	if (Filter{Team: "platform"}).Matches(Event{}) {
		t.Error("a team filter matched an event without a team")
	}
}
