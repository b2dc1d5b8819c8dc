package anthropic

import (
	"strconv"
	"strings"
)

// AcceptsPrefill implements provider.Prefiller: Anthropic models continue
// a final assistant message, except the generations that removed prefill
// (Claude 4.6 and later: "This model does not support assistant message
// prefill"). The model name decides, so that a mapping onto a newer model
// is known without asking it.
func (a *adapter) AcceptsPrefill(model string) bool { return !refusesPrefill(model) }

// refusesPrefill reports the Claude model names known to refuse prefill:
// claude-<family>-<major>[-<minor>]... with a version of 4.6 or later, in
// any spelling that embeds it ("anthropic.claude-opus-4-6-v1",
// "claude-sonnet-5"). The older claude-3-5-sonnet naming puts the version
// first and predates the change. Names it cannot read accept prefill.
func refusesPrefill(model string) bool {
	i := strings.Index(model, "claude-")
	if i < 0 {
		return false
	}
	parts := strings.Split(model[i+len("claude-"):], "-")
	if len(parts) < 2 {
		return false
	}
	if _, err := strconv.Atoi(parts[0]); err == nil {
		return false // claude-3-5-sonnet-...: before the change
	}
	major, err := strconv.Atoi(parts[1])
	if err != nil || len(parts[1]) > 2 {
		return false
	}
	minor := 0
	// A one- or two-digit part after the major is the minor version; a
	// date (20250514) or "v1" is not.
	if len(parts) > 2 && len(parts[2]) <= 2 {
		if m, err := strconv.Atoi(parts[2]); err == nil {
			minor = m
		}
	}
	return major > 4 || major == 4 && minor >= 6
}
