package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// maxAdminBody bounds an admin request body; a fault is a few dozen bytes.
const maxAdminBody = 64 << 10

// AdminHandler is the control API:
//
//	GET    /fault        current fault (JSON Fault; count = remaining)
//	PUT    /fault        set the fault from a JSON Fault (POST is accepted too);
//	                     400 with every problem if it does not validate
//	DELETE /fault        clear the fault (none)
//	GET    /stats        counters (JSON Stats)
//	POST   /stats/reset  zero the counters
//	GET    /healthz      {"status":"ok","kind":...,"fault":...}
//
// Errors are {"error": "..."}.
func (s *Sim) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fault", func(w http.ResponseWriter, _ *http.Request) {
		writeAdminJSON(w, http.StatusOK, s.Fault())
	})
	mux.HandleFunc("PUT /fault", s.adminSetFault)
	mux.HandleFunc("POST /fault", s.adminSetFault)
	mux.HandleFunc("DELETE /fault", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.setFault(Fault{Kind: FaultNone}); err != nil {
			writeAdminError(w, http.StatusInternalServerError, err)
			return
		}
		writeAdminJSON(w, http.StatusOK, s.Fault())
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		writeAdminJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("POST /stats/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetStats()
		writeAdminJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeAdminJSON(w, http.StatusOK, struct {
			Status string `json:"status"`
			Kind   Kind   `json:"kind"`
			Fault  Fault  `json:"fault"`
		}{"ok", s.kind, s.Fault()})
	})
	return mux
}

func (s *Sim) adminSetFault(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		writeAdminError(w, http.StatusBadRequest, fmt.Errorf("read fault: %w", err))
		return
	}
	var f Fault
	if err := json.Unmarshal(body, &f); err != nil {
		writeAdminError(w, http.StatusBadRequest, err)
		return
	}
	if err := f.Validate(); err != nil {
		writeAdminError(w, http.StatusBadRequest, fmt.Errorf("invalid fault: %w", err))
		return
	}
	if err := s.setFault(f); err != nil {
		writeAdminError(w, http.StatusInternalServerError, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, s.Fault())
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeAdminError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeAdminError(w http.ResponseWriter, status int, err error) {
	b, _ := json.Marshal(map[string]string{"error": err.Error()})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
