package events

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// DefaultPath is where the store lives unless configured:
// $XDG_STATE_HOME/keeptrusts/events.db, else
// ~/.local/state/keeptrusts/events.db. Events are state (history that
// should survive restarts but is not configuration or cache), which is what
// the XDG base directory spec reserves XDG_STATE_HOME for. A relative
// XDG_STATE_HOME is ignored, as the spec requires.
func DefaultPath() (string, error) {
	if dir := os.Getenv("XDG_STATE_HOME"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "keeptrusts", "events.db"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("events store path: %w (set the events path in the config)", err)
	}
	if home == "" {
		return "", errors.New("events store path: no home directory (set the events path in the config)")
	}
	return filepath.Join(home, ".local", "state", "keeptrusts", "events.db"), nil
}
