// Package modelglob matches model names against the patterns routes are
// written with: '*' stands for any run of characters (including none and
// including '/', which model names such as meta/llama-3 contain) and '?'
// for exactly one (one byte: model names are ASCII); every other character
// stands for itself. It is its own package because the configuration
// linter and the router must agree on what a pattern matches.
package modelglob

import "strings"

// IsGlob reports whether pattern has a wildcard; a pattern without one
// matches only itself.
func IsGlob(pattern string) bool { return strings.ContainsAny(pattern, "*?") }

// Match reports whether name matches pattern. It runs in
// O(len(pattern)·len(name)) at worst (greedy with one backtrack point), so a
// hostile pattern in a configuration cannot stall a request.
func Match(pattern, name string) bool {
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		// A '*' is a wildcard even where the name has a '*' too: tried
		// first, or "*" would not match the name "*0".
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == name[n]):
			p++
			n++
		case star >= 0:
			// Let the last '*' swallow one more character and retry.
			mark++
			p, n = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
