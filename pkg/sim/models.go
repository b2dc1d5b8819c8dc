package sim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// openaiModel is one entry of OpenAI's GET /v1/models.
type openaiModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type openaiModelList struct {
	Object string        `json:"object"`
	Data   []openaiModel `json:"data"`
}

// anthropicModel is one entry of Anthropic's GET /v1/models.
type anthropicModel struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

type anthropicModelList struct {
	Data    []anthropicModel `json:"data"`
	HasMore bool             `json:"has_more"`
	FirstID *string          `json:"first_id"`
	LastID  *string          `json:"last_id"`
}

// serveModels answers the model list and single-model lookups, the
// endpoints gateways probe for health: faults that take the API down apply
// here too.
func (s *Sim) serveModels(x *exchange) {
	if x.r.Method != http.MethodGet {
		s.writeError(x, http.StatusMethodNotAllowed, s.methodNotAllowed(x.r))
		return
	}
	if s.frontDoor(x, "") || !s.authorized(x) || !s.versioned(x) {
		return
	}
	var body any
	if s.kind == KindBedrock {
		body = s.bedrockModelList()
	} else if id, ok := strings.CutPrefix(x.r.URL.Path, "/v1/models/"); ok {
		if !s.hasModel(id) {
			if s.kind == KindAnthropic {
				s.writeError(x, http.StatusNotFound, apiError{typ: "not_found_error", message: "model: " + id})
			} else {
				s.writeError(x, http.StatusNotFound, apiError{
					typ: "invalid_request_error", message: "The model '" + id + "' does not exist", param: "model", code: "model_not_found",
				})
			}
			return
		}
		body = s.modelEntry(id)
	} else {
		body = s.modelList()
	}
	b, err := json.Marshal(body)
	if err != nil {
		s.writeError(x, http.StatusInternalServerError, s.errorFor(http.StatusInternalServerError, ""))
		return
	}
	s.setHeaders(x, "application/json")
	x.w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	x.w.WriteHeader(http.StatusOK)
	_, _ = x.w.Write(b)
}

func (s *Sim) hasModel(id string) bool {
	for _, m := range s.models {
		if m == id {
			return true
		}
	}
	return false
}

func (s *Sim) modelEntry(id string) any {
	if s.kind == KindAnthropic {
		return anthropicModel{Type: "model", ID: id, DisplayName: displayName(id), CreatedAt: modelDate(id).Format(time.RFC3339)}
	}
	return openaiModel{ID: id, Object: "model", Created: modelDate(id).Unix(), OwnedBy: "system"}
}

func (s *Sim) modelList() any {
	if s.kind == KindAnthropic {
		l := anthropicModelList{Data: []anthropicModel{}}
		for _, id := range s.models {
			l.Data = append(l.Data, s.modelEntry(id).(anthropicModel))
		}
		if n := len(s.models); n > 0 {
			l.FirstID, l.LastID = &s.models[0], &s.models[n-1]
		}
		return l
	}
	l := openaiModelList{Object: "list", Data: []openaiModel{}}
	for _, id := range s.models {
		l.Data = append(l.Data, s.modelEntry(id).(openaiModel))
	}
	return l
}

// displayName is Anthropic's human name for the usual models, else the id.
func displayName(id string) string {
	switch id {
	case "claude-sonnet-4-20250514":
		return "Claude Sonnet 4"
	case "claude-opus-4-20250514":
		return "Claude Opus 4"
	case "claude-3-7-sonnet-20250219":
		return "Claude Sonnet 3.7"
	case "claude-3-5-haiku-20241022":
		return "Claude Haiku 3.5"
	}
	return id
}

// modelDate is the release date in a dated model id (…-20250514), else a
// fixed date, so that listings are stable.
func modelDate(id string) time.Time {
	if i := strings.LastIndexByte(id, '-'); i >= 0 && len(id)-i-1 == 8 {
		if t, err := time.Parse("20060102", id[i+1:]); err == nil {
			return t
		}
	}
	switch id {
	case "gpt-4o-mini":
		return time.Unix(1721172741, 0).UTC()
	case "gpt-4o":
		return time.Unix(1715367049, 0).UTC()
	}
	return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
}
