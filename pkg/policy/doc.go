// Package policy runs the gateway's request policies. The only type so far
// is content_filter: a deterministic, in-process classifier over curated
// term lists, with no network and no model.
//
// # How the content filter decides
//
// Each category (hate, violence, self_harm, sexual, harassment) has a list
// of phrases and terms in lists/<category>.txt; lists/allow.txt holds benign
// phrases that overlap them. Each file's header states its curation
// principle; the common rule is that an entry must signal its category on
// its own, so ambiguous words ("kill", "shoot", "bomb", "cock") appear only
// inside phrases that carry a target or an intent ("kill you", "how to make
// a bomb"). Lines may use {a|b} alternations, a trailing '*' for a word that
// may continue, "rot13:" to keep slurs from being spelled out in source, and
// a leading '!' for an exception that holds for that category only ("kill
// myself" cancels the violence hit "i want to kill" but stays self_harm).
// lists/violence.txt documents the format.
//
// New compiles the entries of the configured categories and the allow list,
// once, into one Aho–Corasick automaton (github.com/coregx/ahocorasick: a
// dependency-free DFA with byte classes; its overlapping search allocates
// nothing when nothing matches). Evaluating a text is then:
//
//  1. normalise it: lower case; fullwidth,
//     mathematical, circled, accented and Cyrillic/Greek look-alike
//     letters folded to a–z; apostrophes, zero-width characters and
//     combining marks removed; leet digits and @ $ ! read as letters when
//     next to a letter; . - _ * removed between single letters
//     ("k.i.l.l"); runs of 3+ of a letter collapsed; punctuation and spaces
//     collapsed to one space, or a sentence break that no phrase crosses.
//     The entries are normalised the same way, plus variants for 1→l/i and
//     for collapsed double letters in phrases;
//  2. one pass of the automaton over the normal form, all overlapping
//     matches;
//  3. keep a match only if it is a whole word or phrase: the bytes before
//     and after are not letters or digits, so "skill" is not "kill" and
//     "Scunthorpe" and "therapist" hold nothing;
//  4. drop matches that overlap a word-bounded allow-list phrase
//     ("i'm going to kill the process", "i'll shoot you an email"), and
//     the categories cancelled by an overlapping '!' exception.
//
// # Precision and recall
//
// The lists favour precision: a flag that fires on ordinary speech teaches
// operators to ignore it, and a block on it breaks applications. The cost is
// recall. The filter misses what a phrase list cannot see: paraphrase and
// euphemism ("make him disappear"), threats with a named target ("I will
// hurt Sam" is caught through "i will hurt", "Sam should watch out" is
// not), misspellings beyond the normal form, letters spaced with blanks
// ("k i l l"), other languages, and meaning that depends on context (quoted
// speech, fiction, a news report about a shooting is not a threat and is
// not flagged; a self-harm discussion may be). An allow-list phrase
// suppresses only the hits it overlaps, so "I'll shoot you a photo" passes,
// and so would a threat worded to overlap one. Leet and look-alike folding
// raise recall on deliberate obfuscation at a small precision cost ("4ss"
// reads "ass"; identifiers such as "t175" and numbers are left alone so
// code in prompts stays quiet). Run over the Go source tree, a Linux
// /usr/share and a module cache (12 million lines of code and prose), the
// five categories hit 35 lines, all explainable (moderation API field
// names, domain block lists). Treat a hit as a signal for flagging,
// metrics and review; choose block for the categories where a false
// positive is acceptable.
//
// # What is read
//
// The input text a model is given, in each API's wire format:
// EvaluateRequest reads a Chat Completions body, EvaluateRequestAPI the
// body of any of the gateway's APIs (Anthropic Messages and count_tokens,
// Responses, embeddings, completions; its doc lists the fields). One
// reader per API, all with the same rules: keys any case and every
// duplicate read (decoders differ on which one wins), a field in a shape
// the API does not allow is an error rather than text left unchecked.
//
// # Actions
//
// flag records the hit (Outcome "flagged"); block makes EvaluateRequest
// report blocked=true (Outcome "blocked") and the gateway answers 400
// content_policy_violation without contacting a provider; redact replaces
// each matched span, mapped back to the original bytes, with "[REDACTED]"
// (Outcome "redacted"), rewriting only the affected JSON string values.
// All policies judge the text as the client sent it.
//
// # Cost
//
// New takes tens of milliseconds and builds an automaton of about 3 MB
// (hate and violence) to 4 MB (all five categories): do it once at
// start-up. EvaluateRequest validates the body, walks it with gjson
// without decoding it, normalises each text into a pooled buffer and runs
// the automaton: a handful of linear passes; on a 2 KB prompt with no hit
// it allocates only the results (see BenchmarkEvaluateRequest2KB and, per
// API, BenchmarkEvaluateRequestAPI2KB), plus one copy of each string that
// holds JSON escapes.
package policy
