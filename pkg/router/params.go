package router

import (
	"net/http"
	"strconv"
	"unsafe"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/keeptrusts/gateway/pkg/classify"
	"github.com/keeptrusts/gateway/pkg/provider"
)

// Values of Settings.DropParams (failover.drop_unsupported_params).
const (
	// DropOnFailover drops fields a target cannot take on failover
	// attempts and refuses them on the first choice (the default).
	DropOnFailover = "true"
	// DropNever refuses them on every attempt.
	DropNever = "false"
	// DropAlways drops them on every attempt, the first choice included.
	DropAlways = "always"
)

// maxFanOut bounds the calls one request's n may fan out to.
const maxFanOut = 16

// paramPlan is what a request must become for one target.
type paramPlan struct {
	// body replaces the request body; nil to send it as is.
	body []byte
	// dropped lists the fields left out.
	dropped []string
	// mapped lists the fields whose value was mapped onto the target's
	// range, each as name=from->to.
	mapped []string
	// fanOut > 1 is the number of single-choice calls to make.
	fanOut int
	// refuse is a field the first choice cannot take: 400.
	refuse *provider.RequestError
	// skip is a field the target can neither take nor drop: skip it.
	skip *provider.RequestError
}

// planParams works out, from the target kind's parameter table, what the
// request must become on t: fields dropped or mapped, n fanned out, or the
// target refused or skipped. first is set for the request's first choice.
// A target whose adapter passes every field on costs nothing.
func (r *Router) planParams(t *Target, req *Request, first bool) paramPlan {
	ad := t.For(req.API)
	if ad == nil {
		return paramPlan{skip: &provider.RequestError{Message: t.Adapter.Kind() + " targets do not serve " + req.API.Path()}}
	}
	pa, ok := ad.(provider.ParamAdapter)
	if !ok {
		return paramPlan{}
	}
	table := pa.Params()
	mode := r.settings.DropParams
	if mode == "" {
		mode = DropOnFailover
	}
	drop := mode == DropAlways || (mode == DropOnFailover && !first)
	var plan paramPlan
	body := req.Body
	// Read in place: only names from the table and numbers are kept.
	gjson.Parse(unsafe.String(unsafe.SliceData(body), len(body))).ForEach(func(k, v gjson.Result) bool {
		p, ok := table.Lookup(k.Str)
		if !ok || v.Type == gjson.Null {
			return true
		}
		if p.Map != nil {
			if raw, out := p.Map(v); out && drop {
				plan.set(body, p.Name, raw)
				plan.mapped = append(plan.mapped, p.Name+"="+mappedFrom(v)+"->"+raw)
			}
			return true
		}
		if p.Active != nil && !p.Active(v) {
			return true
		}
		switch p.Support {
		case provider.ParamIgnored:
			// Not sent by the adapter: say so, but never refuse it.
			plan.dropped = append(plan.dropped, p.Name)
		case provider.ParamDropped:
			if !drop {
				plan.refuse = &provider.RequestError{Param: p.Name, Message: p.Name + " is not supported by " + table.Kind + " targets (" + p.Note + ")"}
				return false
			}
			plan.drop(body, p.Name)
		case provider.ParamRefused:
			plan.skip = &provider.RequestError{Param: p.Name, Message: p.Name + " cannot be served by " + table.Kind + " targets (" + p.Note + ")"}
			return false
		case provider.ParamFanOut:
			n := int(v.Int())
			switch {
			case req.Stream:
				plan.skip = &provider.RequestError{Param: p.Name, Message: "n > 1 cannot be streamed from " + table.Kind + " targets (" + p.Note + ")"}
				return false
			case r.settings.NoFanOut:
				plan.skip = &provider.RequestError{Param: p.Name, Message: "n > 1 is not fanned out (failover.fan_out_n is false) and " + table.Kind + " targets return one choice"}
				return false
			case n > maxFanOut:
				plan.skip = &provider.RequestError{Param: p.Name, Message: "n above " + strconv.Itoa(maxFanOut) + " is not fanned out to " + table.Kind + " targets"}
				return false
			}
			plan.fanOut = n
			plan.remove(body, p.Name) // each call asks for one choice
		}
		return true
	})
	return plan
}

// maxMappedFrom bounds the client's value as recorded in mapped_params.
const maxMappedFrom = 24

// mappedFrom is the client's value of a mapped field as recorded: a number
// in its shortest form, so that however it was written the record stays
// short (Map only maps numbers; anything else is cut).
func mappedFrom(v gjson.Result) string {
	if v.Type == gjson.Number {
		return strconv.FormatFloat(v.Num, 'g', -1, 64)
	}
	if len(v.Raw) > maxMappedFrom {
		return v.Raw[:maxMappedFrom] + "…"
	}
	return v.Raw
}

// current is the body the plan has built so far.
func (p *paramPlan) current(orig []byte) []byte {
	if p.body != nil {
		return p.body
	}
	return orig
}

// remove deletes a top-level field from the planned body.
func (p *paramPlan) remove(orig []byte, name string) {
	if b, err := sjson.DeleteBytes(p.current(orig), name); err == nil {
		p.body = b
	}
}

// drop removes name and records it.
func (p *paramPlan) drop(orig []byte, name string) {
	p.remove(orig, name)
	p.dropped = append(p.dropped, name)
}

// set replaces a top-level field's raw JSON value.
func (p *paramPlan) set(orig []byte, name, raw string) {
	if b, err := sjson.SetRawBytes(p.current(orig), name, []byte(raw)); err == nil {
		p.body = b
	}
}

// unsupportedResult answers a request no target of the route could take
// for a field: 400 naming it, from the route's first choice.
func unsupportedResult(t *Target, re *provider.RequestError, attempts []Attempt, fo Failover) *Result {
	body := provider.ErrorJSON(re.Message+" (target "+t.ID+"; no other target of the route could take the request)", provider.ErrTypeInvalidRequest, re.Param, "unsupported_parameter")
	return &Result{Target: t, Status: http.StatusBadRequest, Body: body, Attempts: attempts, Failover: fo}
}

// refusedResult answers a first choice that cannot take a field: 400
// naming it and the target's kind, with no upstream call.
func refusedResult(t *Target, model string, re *provider.RequestError, attempts []Attempt, fo Failover) *Result {
	body := provider.ErrorJSON(re.Message+" (target "+t.ID+"; set failover.drop_unsupported_params: always to drop it)", provider.ErrTypeInvalidRequest, re.Param, "unsupported_parameter")
	return &Result{Target: t, Model: model, Status: http.StatusBadRequest, Body: body, Attempts: attempts, Failover: fo}
}

// unsupportedAttempt records a target skipped for a field it cannot take,
// with the field and why, for the 503 that may follow.
func unsupportedAttempt(n int, route string, api provider.API, t *Target, model string, re *provider.RequestError) Attempt {
	return Attempt{N: n, Route: route, API: api, Target: t.ID, Kind: t.Adapter.Kind(), Model: model, Outcome: classify.Skipped(classify.UnsupportedRequest), Skipped: true, Unsupported: re}
}

// request is req as this plan sends it: req itself when nothing changes.
func (p *paramPlan) request(req *Request) *Request {
	if p.body == nil && p.dropped == nil {
		return req
	}
	cp := *req
	cp.Body, cp.dropped, cp.mapped = p.current(req.Body), p.dropped, p.mapped
	return &cp
}
