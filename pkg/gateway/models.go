package gateway

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/keeptrusts/gateway/pkg/config"
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

// modelsBody lists, once at start-up, what the gateway can serve: the models
// each target declares, plus both sides of the failover model mapping (the
// requested models and what they map to), owned by the first target that
// declares them or else by the gateway.
func modelsBody(f *config.File) []byte {
	seen := map[string]bool{}
	var data []modelInfo
	add := func(id, owner string) {
		if id == "" || seen[id] {
			return
		}
		seen[id] = true
		data = append(data, modelInfo{ID: id, Object: "model", OwnedBy: owner})
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
		add(k, "keeptrusts")
	}
	for _, k := range keys {
		add(mm[k], "keeptrusts")
	}
	b, _ := json.Marshal(modelList{Object: "list", Data: append([]modelInfo{}, data...)})
	return b
}

func (g *Gateway) handleModels(w http.ResponseWriter, r *http.Request) {
	rt := g.rt.Load()
	if rt.keys != nil {
		if _, ok := authenticate(rt, r); !ok {
			writeAuthError(w, r)
			return
		}
	}
	writeJSON(w, http.StatusOK, rt.models)
}
