package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/keeptrusts/gateway/pkg/events"
)

type tailOptions struct {
	last     int
	format   string
	follow   bool
	provider string
	failover string
	since    string
	team     string
	gateway  string
	store    string
	// token is the gateway's admin token from $KEEPTRUSTS_ADMIN_TOKEN, "" when
	// unset. Never printed.
	token string
}

// tailTokenEnv names the environment variable holding the admin token that
// `kt events tail` sends to the gateway (kt sim reads the same one).
const tailTokenEnv = adminTokenEnv

// tailToken reads the admin token from environ, without surrounding
// whitespace: the gateway ignores it too, and a token read from a file often
// ends in a newline.
func tailToken(environ []string) (string, error) {
	tok := strings.TrimSpace(getenvFrom(environ, tailTokenEnv))
	if strings.IndexFunc(tok, unicode.IsControl) >= 0 {
		// Not sendable in a header; the value itself is not shown.
		return "", fmt.Errorf("%s contains control characters; set it to the gateway's admin token alone", tailTokenEnv)
	}
	return tok, nil
}

func newEventsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Read request events (one per client request)",
	}
	var o tailOptions
	tail := &cobra.Command{
		Use:   "tail [--last N] [--follow] [--format json|table] [--gateway URL]",
		Short: "Print recent request events, optionally following new ones",
		Long: `tail prints the most recent request events, oldest first: who answered, the
model, status, latency, the failover decision and its reason, tokens and cost.
With client authentication on, each event also names the team and the gateway
key (by its configured name) that made the request; the table then has a TEAM
column and --team keeps one team's events.

It asks the running gateway (GET /v1/events). When the gateway cannot be
reached it says so and reads the local event store instead (--store), so
events can be read after the gateway stopped. When the gateway requires an
admin token for its management endpoints (always when one is configured, and
when it listens beyond loopback), set KEEPTRUSTS_ADMIN_TOKEN to that token: it is
sent as "Authorization: Bearer $KEEPTRUSTS_ADMIN_TOKEN".

--format json prints one JSON array (pipe it to jq '.[]'); with --follow it
prints one JSON object per line as events happen. --format table prints
aligned columns.`,
		Example: `  kt events tail --last 5 --format json | jq '.[] | {id, provider, latency_ms, failover}'
  kt events tail --follow --failover true
  kt events tail --provider anthropic-fallback --since 15m
  KEEPTRUSTS_ADMIN_TOKEN=$(cat admin-token) kt events tail --gateway https://gateway.example.com --team data-science`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.format != "json" && o.format != "table" {
				return fmt.Errorf("--format %q: want json or table", o.format)
			}
			if o.failover != "" {
				if _, err := strconv.ParseBool(o.failover); err != nil {
					return fmt.Errorf("--failover %q: want true or false", o.failover)
				}
			}
			tok, err := tailToken(e.environ)
			if err != nil {
				return err
			}
			o.token = tok
			if o.follow {
				return followEvents(c.Context(), e, o)
			}
			evs, err := fetchEvents(c.Context(), o)
			if err != nil {
				if !unreachable(err) {
					return err
				}
				fmt.Fprintf(e.stderr, "kt: gateway at %s is unreachable (%v); reading the local event store %s\n", o.gateway, rootCause(err), o.store)
				if evs, err = readStore(c.Context(), o); err != nil {
					return err
				}
			}
			return render(e.stdout, o.format, evs)
		},
	}
	fl := tail.Flags()
	fl.IntVarP(&o.last, "last", "n", 10, "how many of the most recent events to print")
	fl.StringVar(&o.format, "format", "table", "output format: json or table")
	fl.BoolVarP(&o.follow, "follow", "f", false, "keep printing new events as they happen (Ctrl-C to stop)")
	fl.StringVar(&o.provider, "provider", "", "only events answered by this target id")
	fl.StringVar(&o.failover, "failover", "", "only events whose failover was (true) or was not (false) triggered")
	fl.StringVar(&o.since, "since", "", "only events since an RFC3339 time or a duration ago (15m, 2h)")
	fl.StringVar(&o.team, "team", "", "only events of this team (the team of the gateway key that made the request)")
	fl.StringVar(&o.gateway, "gateway", "http://localhost:41002", "gateway base URL")
	defaultStore, _ := events.DefaultPath()
	fl.StringVar(&o.store, "store", defaultStore, "event store read when the gateway is unreachable")
	cmd.AddCommand(tail)
	return cmd
}

func render(w io.Writer, format string, evs []events.Event) error {
	if format == "json" {
		return events.RenderJSON(w, evs)
	}
	return events.RenderTable(w, evs)
}

func (o tailOptions) filter() (events.Filter, error) {
	f := events.Filter{Last: o.last, Provider: o.provider, Team: o.team}
	if o.failover != "" {
		b, _ := strconv.ParseBool(o.failover)
		f.Failover = &b
	}
	if o.since != "" {
		if t, err := time.Parse(time.RFC3339, o.since); err == nil {
			f.Since = t
		} else if d, err := time.ParseDuration(o.since); err == nil {
			f.Since = time.Now().Add(-d)
		} else {
			return f, fmt.Errorf("--since %q: want an RFC3339 time or a duration", o.since)
		}
	}
	return f, nil
}

var tailClient = &http.Client{Timeout: 10 * time.Second}

func fetchEvents(ctx context.Context, o tailOptions) ([]events.Event, error) {
	f, err := o.filter()
	if err != nil {
		return nil, err
	}
	req, err := o.request(ctx, "/v1/events", f)
	if err != nil {
		return nil, err
	}
	resp, err := tailClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask the gateway: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, o.gatewayError(resp, body)
	}
	var evs []events.Event
	if err := json.Unmarshal(body, &evs); err != nil {
		return nil, fmt.Errorf("decode events: %w", err)
	}
	return evs, nil
}

// request is a GET of the gateway's path with f's query parameters,
// carrying the admin token when there is one.
func (o tailOptions) request(ctx context.Context, path string, f events.Filter) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(o.gateway, "/")+path+"?"+f.Values().Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("--gateway %q: %w", o.gateway, err)
	}
	if o.token != "" {
		req.Header.Set("Authorization", "Bearer "+o.token)
	}
	return req, nil
}

// gatewayError is the error for a gateway's non-200 answer with body. A
// refusal for want of an admin token (401, 403) says how to fix it, with
// the gateway's own message, which names the gateway-side setting.
func (o tailOptions) gatewayError(resp *http.Response, body []byte) error {
	msg := apiMessage(body)
	if o.token != "" {
		// The gateway never echoes the token; a proxy in front of it might.
		msg = strings.ReplaceAll(msg, o.token, "[redacted]")
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized && o.token == "":
		return fmt.Errorf("gateway answered %s: %s; the gateway's management endpoints require its admin token: set %s to it", resp.Status, msg, tailTokenEnv)
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("gateway answered %s: %s; the gateway did not accept the token in %s: set it to the gateway's admin token", resp.Status, msg, tailTokenEnv)
	case resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("gateway answered %s: %s; the gateway refuses management requests without an admin token: configure one on the gateway, then set %s to it", resp.Status, msg, tailTokenEnv)
	}
	return fmt.Errorf("gateway answered %s: %s", resp.Status, msg)
}

// apiMessage extracts an OpenAI-style error message, or the body itself.
func apiMessage(body []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		return e.Error.Message
	}
	return strings.TrimSpace(string(body))
}

func readStore(ctx context.Context, o tailOptions) ([]events.Event, error) {
	f, err := o.filter()
	if err != nil {
		return nil, err
	}
	st, err := events.OpenSQLiteReadOnly(o.store)
	if err != nil {
		return nil, fmt.Errorf("open event store: %w", err)
	}
	defer st.Close()
	return st.Query(ctx, f)
}

// unreachable reports a gateway that is not listening or not resolvable,
// as opposed to one that answered badly.
func unreachable(err error) bool {
	var oe *net.OpError
	var de *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &de) || (errors.As(err, &oe) && oe.Op == "dial")
}

func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// followEvents prints the last N events, then every new one from the
// gateway's event stream until ctx ends or the gateway goes away.
func followEvents(ctx context.Context, e *env, o tailOptions) error {
	evs, err := fetchEvents(ctx, o)
	if err != nil {
		return err
	}
	f, err := o.filter()
	if err != nil {
		return err
	}
	// The table's TEAM column shows from the start when the history has a
	// team or --team asks for one; otherwise from the first event with a
	// team on, under a new header, so a row never has more columns than
	// the header above it.
	teamCol := o.team != "" || events.HasTeam(evs)
	// The ENDPOINT column likewise, from the first event not made to chat.
	endpointCol := events.HasEndpoint(evs)
	header := true
	emit := func(ev events.Event) error {
		if o.format == "json" {
			b, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "%s\n", b)
			return err
		}
		// Rows are rendered one at a time as they come; the header only
		// once, or again when the team column appears.
		if !teamCol && ev.Team != "" {
			teamCol, header = true, true
		}
		if !endpointCol && events.HasEndpoint([]events.Event{ev}) {
			endpointCol, header = true, true
		}
		var buf strings.Builder
		if err := events.RenderTableWith(&buf, []events.Event{ev}, events.TableOptions{Team: teamCol, Endpoint: endpointCol}); err != nil {
			return err
		}
		out := buf.String()
		if !header {
			_, out, _ = strings.Cut(out, "\n")
		}
		header = false
		_, err := io.WriteString(e.stdout, out)
		return err
	}
	if len(evs) == 0 && o.format == "table" {
		if err := events.RenderTableWith(e.stdout, nil, events.TableOptions{Team: teamCol}); err != nil {
			return err
		}
		header = false
	}
	for _, ev := range evs {
		if err := emit(ev); err != nil {
			return err
		}
	}
	f.Last = 0
	req, err := o.request(ctx, "/v1/events/stream", f)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req) // no timeout: a follow lasts until Ctrl-C
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("follow events: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return o.gatewayError(resp, b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		data, ok := strings.CutPrefix(string(line), "data: ")
		if !ok {
			continue
		}
		var ev events.Event
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return fmt.Errorf("decode event: %w", err)
		}
		// The gateway filters the stream; filtering again keeps --team
		// honest with a gateway whose stream does not know every filter.
		if !f.Matches(ev) {
			continue
		}
		if err := emit(ev); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("follow events: %w", err)
	}
	return errors.New("the gateway closed the event stream (shutting down?)")
}
