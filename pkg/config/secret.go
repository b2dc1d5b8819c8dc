package config

import (
	"fmt"
	"os"
	"strings"
)

// ResolveSecret returns the API key of the target at targetIndex, read from
// the environment variable or file its secret_key_ref names. It returns ""
// and no error when the target has no secret_key_ref. Errors name the
// variable or file, never the value.
func (f *File) ResolveSecret(targetIndex int, environ []string) (string, error) {
	if f == nil || targetIndex < 0 || targetIndex >= len(f.Providers.Targets) {
		n := 0
		if f != nil {
			n = len(f.Providers.Targets)
		}
		return "", fmt.Errorf("resolve secret: no target at index %d (%d targets)", targetIndex, n)
	}
	t := f.Providers.Targets[targetIndex]
	ref := t.SecretKeyRef
	name := targetName(t, fmt.Sprintf("providers.targets[%d]", targetIndex))
	switch {
	case ref == nil:
		return "", nil
	case ref.Env != "" && ref.File != "":
		return "", fmt.Errorf("target %s: secret_key_ref sets both env and file", name)
	case ref.Env != "":
		val, ok := lookupEnv(environ, ref.Env)
		if !ok {
			return "", fmt.Errorf("target %s: environment variable %s is not set", name, ref.Env)
		}
		// A key pasted with a trailing newline would corrupt the header.
		val = strings.TrimSpace(val)
		if val == "" {
			return "", fmt.Errorf("target %s: environment variable %s is empty", name, ref.Env)
		}
		return val, nil
	case ref.File != "":
		b, err := os.ReadFile(ref.File)
		if err != nil {
			return "", fmt.Errorf("target %s: read secret file: %w", name, err)
		}
		val := strings.TrimSpace(string(b))
		if val == "" {
			return "", fmt.Errorf("target %s: secret file %s is empty", name, ref.File)
		}
		return val, nil
	}
	return "", fmt.Errorf("target %s: secret_key_ref sets neither env nor file", name)
}
