// Package logging builds the gateway's slog loggers: a text handler whose
// lines read like the tutorial ("INFO keeptrusts::gateway Gateway ready"),
// or JSON for log pipelines.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// ComponentKey is the attribute naming the part of the gateway that logs
// ("gateway", "health", "router"); the text handler prints it as
// keeptrusts::<component>.
const ComponentKey = "component"

// New returns a logger writing to w in format "text" or "json" at level
// ("debug", "info", "warn", "error"), tagged with component "gateway".
func New(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	var h slog.Handler
	switch format {
	case "", "text":
		h = NewTextHandler(w, lv)
	case "json":
		h = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})
	default:
		return nil, fmt.Errorf("log format %q: want text or json", format)
	}
	return slog.New(h).With(ComponentKey, "gateway"), nil
}

// TextHandler writes "LEVEL keeptrusts::component message key=value ...".
// It has no timestamp by default, so that the start-up lines read exactly as
// the tutorial shows them; process supervisors add their own.
type TextHandler struct {
	mu        *sync.Mutex
	w         io.Writer
	level     slog.Leveler
	component string
	attrs     []byte // preformatted " key=value" pairs
	group     string
}

// NewTextHandler returns a TextHandler writing to w at or above level.
func NewTextHandler(w io.Writer, level slog.Leveler) *TextHandler {
	return &TextHandler{mu: &sync.Mutex{}, w: w, level: level, component: "gateway"}
}

// Enabled implements slog.Handler.
func (h *TextHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

// Handle implements slog.Handler.
func (h *TextHandler) Handle(_ context.Context, r slog.Record) error {
	buf := make([]byte, 0, 256)
	buf = append(buf, r.Level.String()...)
	buf = append(buf, " keeptrusts::"...)
	comp := h.component
	var rest []byte
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == ComponentKey && h.group == "" {
			comp = a.Value.String()
			return true
		}
		rest = appendAttr(rest, h.group, a)
		return true
	})
	buf = append(buf, comp...)
	buf = append(buf, ' ')
	buf = append(buf, r.Message...)
	buf = append(buf, h.attrs...)
	buf = append(buf, rest...)
	buf = append(buf, '\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(buf)
	return err
}

// WithAttrs implements slog.Handler.
func (h *TextHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = slices.Clone(h.attrs)
	for _, a := range as {
		if a.Key == ComponentKey && h.group == "" {
			n.component = a.Value.String()
			continue
		}
		n.attrs = appendAttr(n.attrs, h.group, a)
	}
	return &n
}

// WithGroup implements slog.Handler.
func (h *TextHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	if n.group != "" {
		n.group += "." + name
	} else {
		n.group = name
	}
	return &n
}

func appendAttr(buf []byte, group string, a slog.Attr) []byte {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return buf
	}
	key := a.Key
	if group != "" {
		key = group + "." + key
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, ga := range a.Value.Group() {
			buf = appendAttr(buf, key, ga)
		}
		return buf
	}
	buf = append(buf, ' ')
	buf = append(buf, key...)
	buf = append(buf, '=')
	var s string
	switch a.Value.Kind() {
	case slog.KindTime:
		s = a.Value.Time().UTC().Format(time.RFC3339Nano)
	case slog.KindDuration:
		s = a.Value.Duration().String()
	default:
		s = a.Value.String()
	}
	if needsQuote(s) {
		return strconv.AppendQuote(buf, s)
	}
	return append(buf, s...)
}

func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	if !utf8.ValidString(s) {
		return true
	}
	return strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r == '=' || r == '"' || r == 0x7f
	})
}
