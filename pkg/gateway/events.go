package gateway

import (
	"container/list"
	"context"
	"encoding/json"
	"net/http"
	"sync"
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

// responseCacheSize bounds responseCache: it covers the time between an
// answer and its event reaching the store (a writer batch, well under a
// second) and, with events off, is the only record; a few thousand
// recent conversations fit in under a megabyte.
const responseCacheSize = 10_000

// responseCache is a bounded LRU of recently answered Responses API ids
// and the target that holds each. The zero value is ready to use.
type responseCache struct {
	mu    sync.Mutex
	byID  map[string]*list.Element // of *responseEntry
	order list.List                // front: most recently used
}

type responseEntry struct{ id, target string }

// put records that target holds id, evicting the least recently used
// entry beyond responseCacheSize.
func (c *responseCache) put(id, target string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byID[id]; ok {
		el.Value.(*responseEntry).target = target
		c.order.MoveToFront(el)
		return
	}
	if c.byID == nil {
		c.byID = make(map[string]*list.Element)
	}
	c.byID[id] = c.order.PushFront(&responseEntry{id: id, target: target})
	if c.order.Len() > responseCacheSize {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.byID, oldest.Value.(*responseEntry).id)
	}
}

// get returns the target holding id, if remembered.
func (c *responseCache) get(id string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byID[id]
	if !ok {
		return "", false
	}
	c.order.MoveToFront(el)
	return el.Value.(*responseEntry).target, true
}

// rememberResponse records that target answered (and so holds) the
// Responses API answer id. finishRecord calls it for every 2xx request
// with a response id.
func (g *Gateway) rememberResponse(id, target string) {
	if id == "" || target == "" {
		return
	}
	g.responses.put(id, target)
}

// responseTarget returns the target holding the stored Responses API
// answer id, for a stateful request (previous_response_id, GET or DELETE
// /v1/responses/{id}) that must go where its state is: the recent answers
// first (their events may still be in the writer's queue), then the event
// store, which remembers across restarts (events.enabled: false leaves
// only the recent answers). false when neither knows id; a store that
// cannot be read is logged and counts as not knowing.
func (g *Gateway) responseTarget(ctx context.Context, id string) (string, bool) {
	if id == "" {
		return "", false
	}
	if target, ok := g.responses.get(id); ok {
		return target, true
	}
	if g.events == nil {
		return "", false
	}
	target, ok, err := g.events.store.ResponseTarget(ctx, id)
	if err != nil {
		g.logger.ErrorContext(ctx, "find the target of a stored response", "response_id", id, "error", err)
		return "", false
	}
	if ok {
		g.responses.put(id, target) // the next follow-up in the conversation skips the store
	}
	return target, ok
}
