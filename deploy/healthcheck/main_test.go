package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /unready", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	closed := httptest.NewServer(mux)
	closed.Close()

	tests := []struct {
		name    string
		urls    []string
		wantErr string
	}{
		{"ready", []string{srv.URL + "/ok"}, ""},
		{"all ready", []string{srv.URL + "/ok", srv.URL + "/ok"}, ""},
		{"not ready", []string{srv.URL + "/unready"}, "status 503"},
		{"one of two not ready", []string{srv.URL + "/ok", srv.URL + "/unready"}, "status 503"},
		{"not found", []string{srv.URL + "/missing"}, "status 404"},
		{"connection refused", []string{closed.URL + "/ok"}, "connect"},
		{"bad url", []string{"://"}, "missing protocol scheme"},
		{"no url", nil, "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), srv.Client(), tt.urls)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("run: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("run: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
