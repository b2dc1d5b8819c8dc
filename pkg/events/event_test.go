package events

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"
)

var idPattern = regexp.MustCompile(`^evt_[0-9a-hjkmnp-tv-z]{26}$`)

func TestNewIDFormatAndTime(t *testing.T) {
	before := time.Now().Truncate(time.Millisecond)
	id := NewID()
	after := time.Now()
	if !idPattern.MatchString(id) {
		t.Fatalf("NewID() = %q, want evt_ + 26 lowercase Crockford base32", id)
	}
	u, err := ulid.ParseStrict(strings.ToUpper(strings.TrimPrefix(id, IDPrefix)))
	if err != nil {
		t.Fatalf("not a ULID: %v", err)
	}
	if ts := ulid.Time(u.Time()); ts.Before(before) || ts.After(after) {
		t.Errorf("id time %v not within [%v, %v]", ts, before, after)
	}
}

func TestNewIDSortable(t *testing.T) {
	// Ids made one after another sort in creation order, across
	// millisecond boundaries and within one millisecond.
	ids := make([]string, 20000)
	for i := range ids {
		ids[i] = NewID()
	}
	for i := 1; i < len(ids); i++ {
		if ids[i-1] >= ids[i] {
			t.Fatalf("id %d %q not after id %d %q", i, ids[i], i-1, ids[i-1])
		}
	}
}

func TestNewIDUniqueUnderConcurrency(t *testing.T) {
	const goroutines, perG = 50, 500
	all := make([][]string, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range perG {
				all[g] = append(all[g], NewID())
			}
		})
	}
	wg.Wait()
	seen := make(map[string]bool, goroutines*perG)
	for g, ids := range all {
		// Each goroutine's ids are in creation order to the millisecond.
		ms := func(id string) uint64 {
			u, err := ulid.ParseStrict(strings.ToUpper(strings.TrimPrefix(id, IDPrefix)))
			if err != nil {
				t.Fatal(err)
			}
			return u.Time()
		}
		prev := uint64(0)
		for i, id := range ids {
			cur := ms(id)
			if cur < prev {
				t.Fatalf("goroutine %d: id %d has an earlier time than id %d", g, i, i-1)
			}
			prev = cur
		}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("duplicate id %s", id)
			}
			seen[id] = true
		}
	}
}

func TestFormatIDIsULID(t *testing.T) {
	tests := []struct {
		name string
		t    int64
		r    uint64
	}{
		{"epoch, no random bits", 0, 0},
		{"all random bits", 0, math.MaxUint64},
		{"sub-millisecond part", 1_748_780_000_123_456_789, 0x0123456789abcdef},
		{"last nanosecond of a millisecond", 999_999, 1},
		{"largest time", math.MaxInt64, math.MaxUint64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, sub := uint64(tt.t/1e6), uint64(tt.t%1e6)
			// The 80 entropy bits: sub (20) then r's top 60, big-endian.
			var entropy [10]byte
			hi := sub >> 4          // top 16 bits
			lo := sub<<60 | tt.r>>4 // low 64 bits
			binary.BigEndian.PutUint16(entropy[:2], uint16(hi))
			binary.BigEndian.PutUint64(entropy[2:], lo)
			want, err := ulid.New(ms, bytes.NewReader(entropy[:]))
			if err != nil {
				t.Fatal(err)
			}
			if got := formatID(tt.t, tt.r); got != IDPrefix+strings.ToLower(want.String()) {
				t.Errorf("formatID(%d, %#x) = %s, want %s%s", tt.t, tt.r, got, IDPrefix, strings.ToLower(want.String()))
			}
		})
	}
}

func TestMonotonicClock(t *testing.T) {
	tests := []struct {
		name      string
		last, now int64
		want      int64
	}{
		{"clock ahead", 100, 200, 200},
		{"same nanosecond", 200, 200, 201},
		{"clock stepped back", 200, 150, 201},
		{"before 1970", 0, -5, 1},
		{"first id", 0, 1_748_780_000_000_000_000, 1_748_780_000_000_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c monotonicClock
			c.last.Store(tt.last)
			if got := c.next(tt.now); got != tt.want {
				t.Errorf("next(%d) after %d = %d, want %d", tt.now, tt.last, got, tt.want)
			}
		})
	}
}

func TestMonotonicClockConcurrent(t *testing.T) {
	// Every caller gets a distinct time even when the clock stands still.
	var c monotonicClock
	const goroutines, perG = 8, 1000
	got := make([][]int64, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range perG {
				got[g] = append(got[g], c.next(42))
			}
		})
	}
	wg.Wait()
	seen := make(map[int64]bool)
	for _, ts := range got {
		for i, v := range ts {
			if seen[v] || (i > 0 && v <= ts[i-1]) {
				t.Fatalf("time %d repeated or out of order", v)
			}
			seen[v] = true
		}
	}
}

func TestEventMarshalJSON(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want []string // substrings
		not  []string
	}{
		{"nil attempts is an empty array", Event{}, []string{`"attempts":[]`}, []string{`null`}},
		{"empty omitempty fields are left out", Event{}, nil, []string{"trace_id", "team", "key_name", "policies", "error", "request_body", "response_body", "cache_read_tokens", "original_provider", "reason"}},
		{"bodies kept", Event{RequestBody: json.RawMessage(`{"a": [1, 2]}`)}, []string{`"request_body":{"a":[1,2]}`}, nil},
		{"invalid body becomes a string", Event{ResponseBody: json.RawMessage(`{"cut`)}, []string{`"response_body":"{\"cut"`}, nil},
		{"endpoint follows request_id, then team and key name", Event{RequestID: "r", Endpoint: "chat", Team: "platform", KeyName: "ci"}, []string{`"request_id":"r","endpoint":"chat","team":"platform","key_name":"ci","provider"`}, []string{"response_id"}},
		{"endpoint always written", Event{}, []string{`"request_id":"","endpoint":"","provider"`}, nil},
		{"response id after endpoint", Event{Endpoint: "responses", ResponseID: "resp_1"}, []string{`"endpoint":"responses","response_id":"resp_1","provider"`}, nil},
		{"attempt omits zero status and skipped", Event{Attempts: []Attempt{{Target: "t", Outcome: "upstream_timeout"}}}, []string{`{"target":"t","model":"","outcome":"upstream_timeout","duration_ms":0}`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s lacks %s", b, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(string(b), n) {
					t.Errorf("%s contains %s", b, n)
				}
			}
		})
	}
}

func FuzzEventJSON(f *testing.F) {
	f.Add("gpt-4o", []byte(`{"messages":[]}`), []byte(`{"choices":[]}`))
	f.Add("evil\tmodel", []byte(`{"cut`), []byte("\xff\xfe"))
	f.Add("", []byte(`"str"`), []byte(`null`))
	f.Add("m", []byte(`  {"a" : 1}  `), []byte(`[1, 2]`))
	f.Fuzz(func(t *testing.T, model string, req, resp []byte) {
		// The model also as the team: a team's table cell is as safe.
		in := Event{ID: "evt_x", Model: model, Team: model, RequestBody: req, ResponseBody: resp}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("Marshal failed: %v", err)
		}
		var out Event
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("own output does not decode: %v\n%s", err, b)
		}
		// encoding/json replaces invalid UTF-8 byte by byte; valid text is kept.
		if utf8.ValidString(model) && out.Model != model || !utf8.ValidString(out.Model) {
			t.Errorf("model %q came back as %q", model, out.Model)
		}
		for _, body := range []json.RawMessage{out.RequestBody, out.ResponseBody} {
			if len(body) > 0 && !json.Valid(body) {
				t.Errorf("body %q is not valid JSON", body)
			}
		}
		var buf strings.Builder
		if err := RenderTable(&buf, []Event{out}); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(buf.String(), "\n"); n != 2 {
			t.Errorf("table of one event has %d lines:\n%s", n, buf.String())
		}
	})
}
