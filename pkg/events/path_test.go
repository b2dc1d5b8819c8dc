package events

import (
	"path/filepath"
	"testing"
)

func TestDefaultPath(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		name  string
		state string
		want  string
	}{
		{"XDG_STATE_HOME", "/var/lib/me/state", "/var/lib/me/state/keeptrusts/events.db"},
		{"unset", "", filepath.Join(home, ".local/state/keeptrusts/events.db")},
		{"relative XDG_STATE_HOME is ignored", "rel/state", filepath.Join(home, ".local/state/keeptrusts/events.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HOME", home)
			t.Setenv("XDG_STATE_HOME", tt.state)
			got, err := DefaultPath()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("DefaultPath() = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("no home", func(t *testing.T) {
		t.Setenv("HOME", "")
		t.Setenv("XDG_STATE_HOME", "")
		if got, err := DefaultPath(); err == nil {
			t.Errorf("DefaultPath() = %q with no home, want an error", got)
		}
	})
}
