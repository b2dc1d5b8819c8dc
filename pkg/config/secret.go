package config

import "fmt"

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
	return ResolveRef(t.SecretKeyRef, "target "+targetName(t, fmt.Sprintf("providers.targets[%d]", targetIndex)), environ)
}
