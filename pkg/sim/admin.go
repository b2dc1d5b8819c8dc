package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxAdminBody bounds an admin request body; a fault is a few dozen bytes.
const maxAdminBody = 64 << 10

// AdminHandler is the control API:
//
//	GET    /fault              simulator-wide fault (JSON Fault; count = remaining)
//	GET    /fault?model=M      model M's own fault; 404 if it has none
//	PUT    /fault              set a fault from a JSON Fault (POST is accepted
//	                           too): with "model" that model's, else the
//	                           simulator-wide one; 400 with every problem if it
//	                           does not validate
//	DELETE /fault              clear the simulator-wide fault (none)
//	DELETE /fault?model=M      remove model M's own fault
//	GET    /faults             every fault, simulator-wide first (JSON array)
//	PUT    /faults             replace every fault with a JSON array of Faults
//	                           (at most one without model); 400 naming each bad
//	                           entry, and then nothing changes
//	DELETE /faults             clear every fault
//	GET    /stats              counters (JSON Stats, per model under "models")
//	GET    /stats/models/{m}   one model's counters (JSON ModelStats; zeros if unseen)
//	POST   /stats/reset        zero the counters
//	GET    /healthz            {"status":"ok","kind":...,"fault":...,"faults":[...]}
//
// Errors are {"error": "..."}.
func (s *Sim) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fault", func(w http.ResponseWriter, r *http.Request) {
		if !r.URL.Query().Has("model") {
			writeAdminJSON(w, http.StatusOK, s.Fault())
			return
		}
		m := r.URL.Query().Get("model")
		f, ok := s.ModelFault(m)
		if !ok {
			writeAdminError(w, http.StatusNotFound, fmt.Errorf("model %q has no fault of its own", m))
			return
		}
		writeAdminJSON(w, http.StatusOK, f)
	})
	mux.HandleFunc("PUT /fault", s.adminSetFault)
	mux.HandleFunc("POST /fault", s.adminSetFault)
	mux.HandleFunc("DELETE /fault", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("model") {
			m := r.URL.Query().Get("model")
			s.ClearModelFault(m)
			writeAdminJSON(w, http.StatusOK, s.Faults())
			return
		}
		if err := s.setFaults(false, Fault{Kind: FaultNone}); err != nil {
			writeAdminError(w, http.StatusInternalServerError, err)
			return
		}
		writeAdminJSON(w, http.StatusOK, s.Fault())
	})
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, _ *http.Request) {
		writeAdminJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("PUT /faults", s.adminSetFaults)
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.setFaults(true); err != nil {
			writeAdminError(w, http.StatusInternalServerError, err)
			return
		}
		writeAdminJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		writeAdminJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("GET /stats/models/{model}", func(w http.ResponseWriter, r *http.Request) {
		ms, ok := s.Stats().Models[r.PathValue("model")]
		if !ok {
			ms = ModelStats{ByStatus: map[int]int64{}, FaultsApplied: map[FaultKind]int64{}}
		}
		writeAdminJSON(w, http.StatusOK, ms)
	})
	mux.HandleFunc("POST /stats/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetStats()
		writeAdminJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeAdminJSON(w, http.StatusOK, struct {
			Status string  `json:"status"`
			Kind   Kind    `json:"kind"`
			Fault  Fault   `json:"fault"`
			Faults []Fault `json:"faults"`
		}{"ok", s.kind, s.Fault(), s.Faults()})
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
	if err := s.setFaults(false, f); err != nil {
		writeAdminError(w, http.StatusInternalServerError, err)
		return
	}
	if f.Model != "" {
		mf, _ := s.ModelFault(f.Model)
		writeAdminJSON(w, http.StatusOK, mf)
		return
	}
	writeAdminJSON(w, http.StatusOK, s.Fault())
}

func (s *Sim) adminSetFaults(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		writeAdminError(w, http.StatusBadRequest, fmt.Errorf("read faults: %w", err))
		return
	}
	var fs []Fault
	if err := json.Unmarshal(body, &fs); err != nil {
		writeAdminError(w, http.StatusBadRequest, err)
		return
	}
	if err := ValidateFaults(fs); err != nil {
		writeAdminError(w, http.StatusBadRequest, fmt.Errorf("invalid faults: %w", err))
		return
	}
	if err := s.setFaults(true, fs...); err != nil {
		writeAdminError(w, http.StatusInternalServerError, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, s.Faults())
}

// ValidateFaults checks a set of faults meant to be in force together:
// each one, at most one simulator-wide fault and one fault per model. Every
// problem is reported, prefixed with the entry's index ("[2].kind: ...").
func ValidateFaults(fs []Fault) error {
	var errs []error
	seen := map[string]int{}
	for i, f := range fs {
		if err := f.Validate(); err != nil {
			for _, e := range unjoin(err) {
				errs = append(errs, fmt.Errorf("[%d].%w", i, e))
			}
		}
		if j, dup := seen[f.Model]; dup {
			what := "the simulator-wide fault"
			if f.Model != "" {
				what = fmt.Sprintf("model %q", f.Model)
			}
			errs = append(errs, fmt.Errorf("[%d].model: %s already has a fault at [%d]", i, what, j))
			continue
		}
		seen[f.Model] = i
	}
	return errors.Join(errs...)
}

// unjoin splits an errors.Join result into its errors.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
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
