package gateway

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/keeptrusts/gateway/pkg/config"
	"github.com/keeptrusts/gateway/pkg/provider"
	"github.com/keeptrusts/gateway/pkg/router"
)

type modelList struct {
	Object string      `json:"object"`
	Data   []modelInfo `json:"data"`
}

type modelInfo struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// modelOwner is owned_by for names the gateway itself defines (aliases,
// mapped names).
const modelOwner = "keeptrusts"

// modelsBody lists, once per configuration, what the gateway can serve.
// With routes: every exact route name, aliases included, in route order
// (globs are patterns, not names, and are not listed), owned by the
// route's first target, or by the gateway for an alias. Without routes:
// the models each target declares, plus both sides of the failover model
// mapping (the requested models and what they map to), owned by the first
// target that declares them or else by the gateway.
func modelsBody(f *config.File, routes *router.Table) []byte {
	seen := map[string]bool{}
	var data []modelInfo
	add := func(id, owner string) {
		if id == "" || seen[id] {
			return
		}
		seen[id] = true
		data = append(data, modelInfo{ID: id, Object: "model", OwnedBy: owner})
	}
	if routes != nil {
		owners := map[string]string{}
		for _, r := range f.Routes {
			if _, ok := owners[r.Model]; ok || len(r.Targets) == 0 {
				continue
			}
			owners[r.Model] = r.Targets[0].Target
			if r.IsAlias() {
				owners[r.Model] = modelOwner
			}
		}
		for _, name := range routes.Names() {
			add(name, owners[name])
		}
		b, _ := json.Marshal(modelList{Object: "list", Data: append([]modelInfo{}, data...)})
		return b
	}
	for _, t := range f.Providers.Targets {
		for _, m := range t.Models {
			add(m, t.ID)
		}
	}
	mm := f.Providers.Failover.ModelMapping
	keys := make([]string, 0, len(mm))
	for k := range mm {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		add(k, modelOwner)
	}
	for _, k := range keys {
		add(mm[k], modelOwner)
	}
	b, _ := json.Marshal(modelList{Object: "list", Data: append([]modelInfo{}, data...)})
	return b
}

func (g *Gateway) handleModels(w http.ResponseWriter, r *http.Request) {
	rt := g.rt.Load()
	if rt.keys != nil {
		if _, ok := authenticate(rt, r); !ok {
			writeAuthError(w, r, provider.APIChat)
			return
		}
	}
	writeJSON(w, http.StatusOK, rt.models)
}

// handleModel answers GET /v1/models/{id} (the SDKs' models.retrieve) for
// any name the gateway routes: with routes, every name a route matches
// (a glob's matches too, owned by the route's first target); without, the
// names GET /v1/models lists. Anything else is 404 model_not_found, as
// OpenAI answers it.
func (g *Gateway) handleModel(w http.ResponseWriter, r *http.Request) {
	rt := g.rt.Load()
	if rt.keys != nil {
		if _, ok := authenticate(rt, r); !ok {
			writeAuthError(w, r, provider.APIChat)
			return
		}
	}
	id := r.PathValue("id")
	var list modelList
	_ = json.Unmarshal(rt.models, &list)
	for _, m := range list.Data {
		if m.ID == id {
			b, _ := json.Marshal(m)
			writeJSON(w, http.StatusOK, b)
			return
		}
	}
	if rt.routes != nil && validModel(id) {
		if route, ok := rt.routes.Match(id); ok {
			owner := modelOwner
			if ts := route.Router.Targets(); len(ts) > 0 {
				owner = ts[0].ID
			}
			b, _ := json.Marshal(modelInfo{ID: id, Object: "model", OwnedBy: owner})
			writeJSON(w, http.StatusOK, b)
			return
		}
	}
	msg := "The model `" + id + "` does not exist or you do not have access to it."
	if !validModel(id) {
		msg = "The model does not exist or you do not have access to it."
	}
	writeError(w, http.StatusNotFound, msg, provider.ErrTypeInvalidRequest, "", "model_not_found")
}
