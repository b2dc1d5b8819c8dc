package gateway

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/keeptrusts/gateway/pkg/events"
	"github.com/keeptrusts/gateway/pkg/provider"
)

// eventsFilter reads the query API's filters (events.ParseFilter: last,
// provider, failover, since as RFC 3339, after as an event id).
func eventsFilter(r *http.Request) (events.Filter, *provider.RequestError) {
	f, err := events.ParseFilter(r.URL.Query())
	if err != nil {
		return f, &provider.RequestError{Message: err.Error()}
	}
	return f, nil
}

// handleEvents answers GET /v1/events with one JSON array, oldest first.
func (g *Gateway) handleEvents(w http.ResponseWriter, r *http.Request) {
	if g.events == nil {
		writeError(w, http.StatusNotFound, "Request events are disabled (events.enabled: false).", provider.ErrTypeNotFound, "", "events_disabled")
		return
	}
	f, perr := eventsFilter(r)
	if perr != nil {
		writeError(w, http.StatusBadRequest, perr.Message, provider.ErrTypeInvalidRequest, perr.Param, "")
		return
	}
	if f.Last == 0 && f.AfterID == "" {
		f.Last = 10
	}
	evs, err := g.events.store.Query(r.Context(), f)
	if err != nil {
		g.logger.ErrorContext(r.Context(), "query events", "error", err)
		writeError(w, http.StatusInternalServerError, "Could not read the event store.", provider.ErrTypeServer, "", "event_store_error")
		return
	}
	b, err := json.Marshal(evs)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "Could not encode events.", provider.ErrTypeServer, "", "")
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// eventsHeartbeat keeps idle follow streams (and proxies between) open.
const eventsHeartbeat = 15 * time.Second

// handleEventStream answers GET /v1/events/stream: every event as it is
// persisted, one SSE "data:" frame each, filtered like /v1/events.
func (g *Gateway) handleEventStream(w http.ResponseWriter, r *http.Request) {
	if g.events == nil {
		writeError(w, http.StatusNotFound, "Request events are disabled (events.enabled: false).", provider.ErrTypeNotFound, "", "events_disabled")
		return
	}
	f, perr := eventsFilter(r)
	if perr != nil {
		writeError(w, http.StatusBadRequest, perr.Message, provider.ErrTypeInvalidRequest, perr.Param, "")
		return
	}
	ch, unsubscribe := g.events.writer.Subscribe(r.Context())
	defer unsubscribe()
	h := w.Header()
	h["Content-Type"] = []string{"text/event-stream"}
	h["Cache-Control"] = []string{"no-cache"}
	h["X-Accel-Buffering"] = []string{"no"}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_, _ = w.Write([]byte(": following events\n\n"))
	_ = rc.Flush()
	tick := time.NewTicker(eventsHeartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-g.stopping:
			return
		case <-tick.C:
			if _, err := w.Write([]byte(": heartbeat\n\n")); err != nil {
				return
			}
			_ = rc.Flush()
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if !f.Matches(ev) {
				continue
			}
			b, err := json.Marshal(ev)
			if err != nil {
				continue
			}
			frame := make([]byte, 0, len(b)+8)
			frame = append(append(append(frame, "data: "...), b...), "\n\n"...)
			if _, err := w.Write(frame); err != nil {
				return
			}
			_ = rc.Flush()
		}
	}
}
