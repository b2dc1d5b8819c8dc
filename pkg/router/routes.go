package router

import "github.com/keeptrusts/gateway/pkg/modelglob"

// Route is one entry of a route table: the requested model names it serves
// and the Router (its own targets, order, models and failover settings)
// that serves them. Targets of different routes share their health, so a
// target has one breaker whichever routes use it.
type Route struct {
	// Model is an exact model name (possibly an alias) or a glob
	// (pkg/modelglob).
	Model string
	// Router serves the route's requests.
	Router *Router
	// StickyHeader names the request header whose value keys a weighted
	// route's split; "" for none.
	StickyHeader string

	glob bool
}

// Table maps a requested model to its route: the first route, in order,
// whose model matches.
type Table struct {
	routes []*Route
	// exact indexes the first exact route of each name, with its position,
	// so a lookup only scans the globs listed before it.
	exact map[string]int
}

// NewTable returns the table of routes, tried in order.
func NewTable(routes []*Route) *Table {
	t := &Table{routes: routes, exact: make(map[string]int, len(routes))}
	for i, r := range routes {
		r.glob = modelglob.IsGlob(r.Model)
		if _, dup := t.exact[r.Model]; !r.glob && !dup {
			t.exact[r.Model] = i
		}
	}
	return t
}

// Match returns the route serving model, or false when no route does.
func (t *Table) Match(model string) (*Route, bool) {
	end := len(t.routes)
	if i, ok := t.exact[model]; ok {
		end = i
	}
	for _, r := range t.routes[:end] {
		if r.glob && modelglob.Match(r.Model, model) {
			return r, true
		}
	}
	if end < len(t.routes) {
		return t.routes[end], true
	}
	return nil, false
}

// Routes returns the routes in order.
func (t *Table) Routes() []*Route { return t.routes }

// Names lists the names a client may ask for: every exact route model,
// aliases included, in route order; globs are not names and are left out.
func (t *Table) Names() []string {
	var out []string
	for _, r := range t.routes {
		if !r.glob && t.exact[r.Model] >= 0 {
			if i := t.exact[r.Model]; t.routes[i] == r {
				out = append(out, r.Model)
			}
		}
	}
	return out
}
