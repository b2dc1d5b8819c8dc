// Package pricing turns token usage into a cost in US dollars.
//
// Prices are list prices in USD per one million tokens. The shipped table
// (Default) covers common OpenAI and Anthropic models; configuration
// overrides or extends it with Table.With.
//
// Token convention (the one provider.Usage follows): InputTokens counts every
// prompt token, cached ones included; CacheReadTokens and CacheCreationTokens
// are subsets of InputTokens. Cost therefore charges
//
//	(InputTokens - CacheReadTokens - CacheCreationTokens) at InputPerMTok
//	+ CacheReadTokens at CacheReadPerMTok
//	+ CacheCreationTokens at CacheWritePerMTok
//	+ OutputTokens at OutputPerMTok
//
// A cache price left at zero means the provider publishes none, and those
// tokens are charged at the input price: overstating a cost is safer for a
// budget than understating it.
package pricing

import (
	"maps"
	"strings"
)

// Price is what one model costs, in USD per one million tokens.
type Price struct {
	// InputPerMTok is the price of uncached prompt tokens.
	InputPerMTok float64
	// OutputPerMTok is the price of completion tokens.
	OutputPerMTok float64
	// CacheReadPerMTok is the price of prompt tokens served from the
	// provider's prompt cache; 0 = charged at InputPerMTok.
	CacheReadPerMTok float64
	// CacheWritePerMTok is the price of prompt tokens written to the
	// provider's prompt cache; 0 = charged at InputPerMTok.
	CacheWritePerMTok float64
}

// Usage is token usage in the convention described in the package doc. Its
// fields match provider.Usage, so pricing.Usage(u) converts one directly.
type Usage struct {
	// InputTokens counts all prompt tokens, cached ones included.
	InputTokens int64
	// OutputTokens counts completion tokens.
	OutputTokens int64
	// CacheReadTokens is the part of InputTokens read from the cache.
	CacheReadTokens int64
	// CacheCreationTokens is the part of InputTokens written to the cache.
	CacheCreationTokens int64
}

// Cost is the price of u at p, in USD.
func (p Price) Cost(u Usage) float64 {
	cacheRead, cacheWrite := p.CacheReadPerMTok, p.CacheWritePerMTok
	if cacheRead == 0 {
		cacheRead = p.InputPerMTok
	}
	if cacheWrite == 0 {
		cacheWrite = p.InputPerMTok
	}
	// An upstream reporting more cached than total tokens is inconsistent;
	// clamp rather than produce a negative charge.
	plain := max(u.InputTokens-u.CacheReadTokens-u.CacheCreationTokens, 0)
	micro := float64(plain)*p.InputPerMTok +
		float64(u.CacheReadTokens)*cacheRead +
		float64(u.CacheCreationTokens)*cacheWrite +
		float64(u.OutputTokens)*p.OutputPerMTok
	return micro / 1e6
}

// Table maps model ids to prices. A Table is immutable once built, so one
// can be shared by every request without locking.
type Table struct {
	prices map[string]Price
}

// NewTable builds a table from model id → price. Ids are matched
// case-insensitively. The map is copied.
func NewTable(prices map[string]Price) *Table {
	t := &Table{prices: make(map[string]Price, len(prices))}
	for model, p := range prices {
		t.prices[strings.ToLower(model)] = p
	}
	return t
}

// Default is the shipped price table.
//
// List prices as published on openai.com/api/pricing,
// docs.anthropic.com (model pricing) and Google's Gemini API and Vertex AI
// pricing pages in October 2025, standard tier, no batch
// discount. They change: price overrides from the configuration replace or
// extend them (Table.With) without a new release.
func Default() *Table {
	sonnet := Price{InputPerMTok: 3.00, OutputPerMTok: 15.00, CacheReadPerMTok: 0.30, CacheWritePerMTok: 3.75}
	opus4 := Price{InputPerMTok: 15.00, OutputPerMTok: 75.00, CacheReadPerMTok: 1.50, CacheWritePerMTok: 18.75}
	return NewTable(map[string]Price{
		// OpenAI: cached input is a read discount; there is no cache-write charge.
		"gpt-4o":       {InputPerMTok: 2.50, OutputPerMTok: 10.00, CacheReadPerMTok: 1.25},
		"gpt-4o-mini":  {InputPerMTok: 0.15, OutputPerMTok: 0.60, CacheReadPerMTok: 0.075},
		"gpt-4.1":      {InputPerMTok: 2.00, OutputPerMTok: 8.00, CacheReadPerMTok: 0.50},
		"gpt-4.1-mini": {InputPerMTok: 0.40, OutputPerMTok: 1.60, CacheReadPerMTok: 0.10},
		"gpt-4.1-nano": {InputPerMTok: 0.10, OutputPerMTok: 0.40, CacheReadPerMTok: 0.025},
		"o3":           {InputPerMTok: 2.00, OutputPerMTok: 8.00, CacheReadPerMTok: 0.50},
		"o4-mini":      {InputPerMTok: 1.10, OutputPerMTok: 4.40, CacheReadPerMTok: 0.275},

		// Anthropic: cache writes (5-minute TTL) cost 1.25× input, reads 0.1×.
		"claude-sonnet-4-20250514":  sonnet,
		"claude-sonnet-4-0":         sonnet,
		"claude-sonnet-4":           sonnet,
		"claude-sonnet-4-5":         sonnet,
		"claude-3-7-sonnet":         sonnet,
		"claude-3-7-sonnet-latest":  sonnet,
		"claude-opus-4":             opus4,
		"claude-opus-4-0":           opus4,
		"claude-opus-4-1":           opus4,
		"claude-3-5-haiku":          {InputPerMTok: 0.80, OutputPerMTok: 4.00, CacheReadPerMTok: 0.08, CacheWritePerMTok: 1.00},
		"claude-3-5-haiku-20241022": {InputPerMTok: 0.80, OutputPerMTok: 4.00, CacheReadPerMTok: 0.08, CacheWritePerMTok: 1.00},
		"claude-3-5-haiku-latest":   {InputPerMTok: 0.80, OutputPerMTok: 4.00, CacheReadPerMTok: 0.08, CacheWritePerMTok: 1.00},
		"claude-haiku-4-5":          {InputPerMTok: 1.00, OutputPerMTok: 5.00, CacheReadPerMTok: 0.10, CacheWritePerMTok: 1.25},

		// Google Gemini (Gemini API paid tier and Vertex AI list prices, text,
		// prompts up to 200k tokens; 2.5 Pro costs more above that). Output
		// includes thinking tokens, as the adapters count them; cache reads
		// are context-cache hits, and cache storage is billed per hour
		// outside any request.
		"gemini-2.5-pro":            {InputPerMTok: 1.25, OutputPerMTok: 10.00, CacheReadPerMTok: 0.31},
		"gemini-2.5-flash":          {InputPerMTok: 0.30, OutputPerMTok: 2.50, CacheReadPerMTok: 0.075},
		"gemini-2.5-flash-lite":     {InputPerMTok: 0.10, OutputPerMTok: 0.40, CacheReadPerMTok: 0.025},
		"gemini-2.0-flash":          {InputPerMTok: 0.10, OutputPerMTok: 0.40, CacheReadPerMTok: 0.025},
		"gemini-2.0-flash-001":      {InputPerMTok: 0.10, OutputPerMTok: 0.40, CacheReadPerMTok: 0.025},
		"gemini-2.0-flash-lite":     {InputPerMTok: 0.075, OutputPerMTok: 0.30},
		"gemini-2.0-flash-lite-001": {InputPerMTok: 0.075, OutputPerMTok: 0.30},
	})
}

// With returns a new table holding t's prices with overrides applied on top
// (a configured model replaces the shipped price; a new one is added). t is
// unchanged. Validating the overrides (no negative price) is the
// configuration's job.
func (t *Table) With(overrides map[string]Price) *Table {
	merged := maps.Clone(t.prices)
	if merged == nil {
		merged = make(map[string]Price, len(overrides))
	}
	for model, p := range overrides {
		merged[strings.ToLower(model)] = p
	}
	return &Table{prices: merged}
}

// Lookup finds the price of model: an exact id first, otherwise the id with
// a dated snapshot suffix removed (gpt-4o-mini-2024-07-18 → gpt-4o-mini,
// claude-sonnet-4-5-20250929 → claude-sonnet-4-5). Only a date is stripped,
// never an arbitrary tail, so a model missing from the table is reported as
// unknown rather than priced as a cheaper or dearer sibling (gpt-4o-mini is
// never priced as gpt-4o, claude-opus-4-5 never as claude-opus-4).
//
// Claude on Bedrock is priced as Anthropic lists it: a Bedrock id
// (anthropic.claude-sonnet-4-20250514-v1:0, an inference profile
// us.anthropic.claude-..., or either's ARN) is looked up as the Anthropic
// id inside it, unless the table names the Bedrock id itself (a price
// override for a regional premium).
func (t *Table) Lookup(model string) (Price, bool) {
	if t == nil {
		return Price{}, false
	}
	m := strings.ToLower(model)
	if p, ok := t.prices[m]; ok {
		return p, true
	}
	if id, ok := bedrockAnthropicID(m); ok {
		if p, ok := t.prices[id]; ok {
			return p, true
		}
		m = id
	}
	if base, ok := stripSnapshot(m); ok {
		p, ok := t.prices[base]
		return p, ok
	}
	return Price{}, false
}

// Cost prices usage u of model. known is false when the model has no price;
// the cost is then 0, which callers should show as unknown rather than free.
func (t *Table) Cost(model string, u Usage) (usd float64, known bool) {
	p, ok := t.Lookup(model)
	if !ok {
		return 0, false
	}
	return p.Cost(u), true
}

// stripSnapshot removes a trailing snapshot date in OpenAI's -YYYY-MM-DD or
// Anthropic's -YYYYMMDD form.
func stripSnapshot(m string) (string, bool) {
	if n := len(m) - len("-2006-01-02"); n > 0 && isDigits(m[n+1:n+5]) && m[n+5] == '-' &&
		isDigits(m[n+6:n+8]) && m[n+8] == '-' && isDigits(m[n+9:]) && m[n] == '-' {
		return m[:n], true
	}
	if n := len(m) - len("-20060102"); n > 0 && m[n] == '-' && isDigits(m[n+1:]) {
		return m[:n], true
	}
	return "", false
}

// bedrockGeos are the geography prefixes of Bedrock's cross-region
// inference profiles.
var bedrockGeos = []string{"us.", "eu.", "apac.", "global.", "us-gov.", "ca.", "jp.", "au."}

// bedrockAnthropicID returns the Anthropic model id of a Bedrock Claude id:
// an ARN's resource name, then an inference profile's geography, the
// anthropic. vendor prefix and the -vN[:M] version suffix removed. Only
// Anthropic's models are unwrapped: Bedrock lists them at Anthropic's
// prices, which is not true of every vendor's models.
func bedrockAnthropicID(m string) (string, bool) {
	if strings.HasPrefix(m, "arn:") {
		m = m[strings.LastIndexByte(m, '/')+1:]
	}
	for _, geo := range bedrockGeos {
		if rest, ok := strings.CutPrefix(m, geo); ok {
			m = rest
			break
		}
	}
	m, ok := strings.CutPrefix(m, "anthropic.")
	if !ok {
		return "", false
	}
	if i := strings.LastIndex(m, "-v"); i > 0 {
		ver, _, _ := strings.Cut(m[i+2:], ":")
		if isDigits(ver) {
			m = m[:i]
		}
	}
	return m, m != ""
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
