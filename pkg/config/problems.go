package config

import (
	"fmt"
	"strings"
)

// Severity says whether a Problem stops the configuration from being used.
type Severity int

// Severities. Error is the zero value so that a Problem built without one
// errs on the side of refusing the configuration.
const (
	// Error makes the configuration invalid: lint fails and the gateway refuses to start.
	Error Severity = iota
	// Warning is reported but the configuration is still usable.
	Warning
)

// String returns "error" or "warning".
func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Problem is one finding about a configuration, located by its field path
// (e.g. "providers.targets[1].secret_key_ref.env") or, for an environment
// override, by the variable's name.
type Problem struct {
	// Path locates the offending field with dots and [index] as written in
	// the YAML file; empty when the problem concerns the file as a whole.
	Path string
	// Message explains what is wrong. It never contains a secret's value.
	Message string
	// Severity is Error or Warning.
	Severity Severity
}

// String formats the problem as "error: <path>: <message>".
func (p Problem) String() string {
	if p.Path == "" {
		return p.Severity.String() + ": " + p.Message
	}
	return p.Severity.String() + ": " + p.Path + ": " + p.Message
}

// Problems is every finding of one Load, in a stable order.
type Problems []Problem

// Errors returns only the problems with Error severity.
func (ps Problems) Errors() Problems { return ps.filter(Error) }

// Warnings returns only the problems with Warning severity.
func (ps Problems) Warnings() Problems { return ps.filter(Warning) }

func (ps Problems) filter(s Severity) Problems {
	var out Problems
	for _, p := range ps {
		if p.Severity == s {
			out = append(out, p)
		}
	}
	return out
}

// Err returns nil when there is no error-severity problem, otherwise an
// error whose message lists every error, one per line, so that a caller
// that only prints the error still shows them all.
func (ps Problems) Err() error {
	errs := ps.Errors()
	if len(errs) == 0 {
		return nil
	}
	return problemsError(errs)
}

// problemsError is the error returned by Problems.Err.
type problemsError Problems

// Error lists "path: message" lines only, so callers can prefix their own
// context ("invalid configuration: ...") without repeating it.
func (e problemsError) Error() string {
	var b strings.Builder
	for i, p := range e {
		if i > 0 {
			b.WriteByte('\n')
		}
		if p.Path != "" {
			b.WriteString(p.Path)
			b.WriteString(": ")
		}
		b.WriteString(p.Message)
	}
	return b.String()
}

// plural formats n with the singular or plural noun.
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
