package events

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// RenderJSON writes evs as one JSON array indented by two spaces, "[]" when
// there are none, so `kt events tail --format json | jq '.[]'` always works.
func RenderJSON(w io.Writer, evs []Event) error {
	if evs == nil {
		evs = []Event{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(evs); err != nil {
		return fmt.Errorf("render events: %w", err)
	}
	return nil
}

// RenderTable writes evs as aligned columns for people: time (UTC, to the
// second), id, team (only when at least one event has one, so a gateway
// without client auth shows no empty column), endpoint (only when at least
// one event was not a chat request, so a chat-only gateway's table stays
// as it was), provider, model, status,
// latency, failover ("from→to (reason)" or "-"), total tokens and cost ("-"
// when unknown). Only the header is written when there are no events.
func RenderTable(w io.Writer, evs []Event) error {
	return RenderTableWith(w, evs, TableOptions{Team: HasTeam(evs), Endpoint: HasEndpoint(evs)})
}

// TableOptions choose RenderTableWith's optional columns.
type TableOptions struct {
	// Team adds the TEAM column after ID ("-" for an event without a team).
	Team bool
	// Endpoint adds the ENDPOINT column after ID and TEAM (chat for an
	// event without one).
	Endpoint bool
}

// HasTeam reports whether any of evs has a Team: RenderTable's choice of
// the TEAM column.
func HasTeam(evs []Event) bool {
	for i := range evs {
		if evs[i].Team != "" {
			return true
		}
	}
	return false
}

// HasEndpoint reports whether any of evs was made to an API other than
// chat: RenderTable's choice of the ENDPOINT column.
func HasEndpoint(evs []Event) bool {
	for i := range evs {
		if e := evs[i].Endpoint; e != "" && e != EndpointChat {
			return true
		}
	}
	return false
}

// RenderTableWith is RenderTable with the optional columns chosen by the
// caller, for output written a few rows at a time (`--follow`) whose
// columns must not change from one row to the next.
func RenderTableWith(w io.Writer, evs []Event, o TableOptions) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	team := ""
	if o.Team {
		team = "TEAM\t"
	}
	endpoint := ""
	if o.Endpoint {
		endpoint = "ENDPOINT\t"
	}
	fmt.Fprintln(tw, "TIME\tID\t"+team+endpoint+"PROVIDER\tMODEL\tSTATUS\tLATENCY(ms)\tFAILOVER\tTOKENS\tCOST")
	for _, e := range evs {
		if o.Team {
			team = cell(e.Team) + "\t"
		}
		if o.Endpoint {
			endpoint = EndpointChat + "\t"
			if e.Endpoint != "" {
				endpoint = cell(e.Endpoint) + "\t"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s%s%s\t%s\t%d\t%s\t%s\t%d\t%s\n",
			e.Timestamp.UTC().Format(time.RFC3339),
			cell(e.ID),
			team,
			endpoint,
			cell(e.Provider),
			cell(e.Model),
			e.Status,
			strconv.FormatFloat(e.LatencyMS, 'f', 1, 64), // a local answer takes well under 1 ms
			failoverCell(e),
			e.Usage.TotalTokens,
			costCell(e.CostUSD),
		)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("render events: %w", err)
	}
	return nil
}

func failoverCell(e Event) string {
	if !e.Failover.Triggered {
		return "-"
	}
	from, to := cell(e.Failover.OriginalProvider), e.Provider
	if to == "" {
		to = "none" // every target failed
	}
	s := from + "→" + cell(to)
	if e.Failover.Reason != "" {
		s += " (" + cell(e.Failover.Reason) + ")"
	}
	return s
}

func costCell(usd float64) string {
	if usd == 0 {
		return "-" // unpriced model or no tokens: not "free"
	}
	return "$" + strconv.FormatFloat(usd, 'f', 6, 64)
}

// cell makes a value safe for one table cell: model names come from
// upstream responses, and a tab, newline or terminal escape sequence in one
// must not break the columns or the user's terminal.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}
