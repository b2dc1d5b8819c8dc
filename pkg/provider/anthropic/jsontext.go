package anthropic

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the small JSON reader and writer the translator uses on
// its hot path instead of encoding/json. encoding/json validates a value
// again every time a json.RawMessage of it is decoded, and goes through
// reflection for every field; translating a 2 KB request that way cost about
// as much CPU as all the rest of the gateway's work on a request (issue 8).
//
// The reader is exact where it says yes: a value it accepts decodes to what
// encoding/json would decode, and the writer produces the bytes
// encoding/json's Encoder would (SetEscapeHTML(false)). Wherever encoding/json
// has rules the reader does not model (case-insensitive or escaped keys,
// duplicate keys merging into one field, type mismatches and their error
// messages), it answers "not sure" and the caller asks encoding/json. The
// differential tests (diff_test.go) hold the reader and writer to
// encoding/json, and the translator to its former encoding/json version
// (reference_test.go).

// maxDepth is encoding/json's nesting limit: deeper input is a syntax error.
const maxDepth = 10000

// reader walks a JSON text. Every method validates what it consumes; false
// means the input is not valid JSON or not of the expected shape.
type reader struct {
	b     []byte
	i     int
	depth int
	// spaced is set whenever white space is skipped, so that a caller can
	// tell a value that is compact already.
	spaced bool
}

func (r *reader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
			r.spaced = true
		default:
			return
		}
	}
}

// peek returns the next byte after white space, 0 at the end.
func (r *reader) peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// end reports whether only white space is left.
func (r *reader) end() bool {
	r.ws()
	return r.i == len(r.b)
}

// literal consumes true, false or null.
func (r *reader) literal(lit string) bool {
	if len(r.b)-r.i < len(lit) || string(r.b[r.i:r.i+len(lit)]) != lit {
		return false
	}
	r.i += len(lit)
	return true
}

// Bit masks for specialMask's word-at-a-time test.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialMask flags (with the top bit of its byte) the bytes of the 8 in w
// that end a plain run of a string: a quote, a backslash or a control
// character. The lowest flag is exact, the ones above it may not be: borrows
// only travel upwards.
func specialMask(w uint64) uint64 {
	quote := w ^ (lsb * '"')
	bslash := w ^ (lsb * '\\')
	return ((quote-lsb)&^quote | (bslash-lsb)&^bslash | (w-lsb*0x20)&^w) & msb
}

// str consumes a string literal starting at r.i and returns it with its
// quotes. It skips eight plain bytes at a time.
func (r *reader) str() ([]byte, bool) {
	b := r.b
	start := r.i
	if start >= len(b) || b[start] != '"' {
		return nil, false
	}
	i := start + 1
	for {
		if i+8 <= len(b) {
			m := specialMask(binary.LittleEndian.Uint64(b[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		} else {
			for i < len(b) && b[i] >= 0x20 && b[i] != '"' && b[i] != '\\' {
				i++
			}
			if i >= len(b) {
				return nil, false
			}
		}
		switch b[i] {
		case '"':
			r.i = i + 1
			return b[start:r.i], true
		case '\\':
			if i+1 >= len(b) {
				return nil, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+5 >= len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return nil, false
				}
				i += 6
			default:
				return nil, false
			}
		default: // a control character
			return nil, false
		}
	}
}

// number consumes a number literal and returns it.
func (r *reader) number() ([]byte, bool) {
	b, i := r.b, r.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return nil, false
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return nil, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return nil, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	n := r.b[r.i:i]
	r.i = i
	return n, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// value consumes any value.
func (r *reader) value() bool {
	switch r.peek() {
	case '"':
		_, ok := r.str()
		return ok
	case '{', '[':
		return r.container(r.b[r.i])
	case 't':
		return r.literal("true")
	case 'f':
		return r.literal("false")
	case 'n':
		return r.literal("null")
	case 0:
		return false
	}
	_, ok := r.number()
	return ok
}

// container consumes an object or an array whose opening byte is open.
func (r *reader) container(open byte) bool {
	if !r.enter(open) {
		return false
	}
	closer := byte(']')
	if open == '{' {
		closer = '}'
	}
	for first := true; ; first = false {
		more, ok := r.more(closer, first)
		if !ok {
			return false
		}
		if !more {
			return true
		}
		if open == '{' {
			if _, ok := r.rawKey(); !ok {
				return false
			}
		}
		if !r.value() {
			return false
		}
	}
}

// enter consumes the opening byte of an object or array.
func (r *reader) enter(open byte) bool {
	if r.peek() != open {
		return false
	}
	r.depth++
	if r.depth > maxDepth {
		return false
	}
	r.i++
	return true
}

// more is the loop condition of an object or array entered with enter: it
// consumes the separator or the closing byte and reports whether a member
// follows.
func (r *reader) more(closer byte, first bool) (more, ok bool) {
	switch c := r.peek(); {
	case c == closer:
		r.i++
		r.depth--
		return false, true
	case first:
		return true, c != 0
	case c == ',':
		r.i++
		return true, true
	}
	return false, false
}

// rawKey consumes a member's key and its colon, returning the key literal.
func (r *reader) rawKey() ([]byte, bool) {
	r.ws()
	k, ok := r.str()
	if !ok || r.peek() != ':' {
		return nil, false
	}
	r.i++
	return k, true
}

// key is rawKey for struct fields: it returns the key's text.
func (r *reader) key() ([]byte, bool) {
	k, ok := r.rawKey()
	if !ok {
		return nil, false
	}
	return k[1 : len(k)-1], true
}

// skipUnknown consumes the value of a key that is not exactly a field name.
// It returns false for a key encoding/json might match differently from a
// byte comparison: one with escapes, or with letters a case-insensitive
// match could fold onto a field name (field names are lower-case ASCII).
func (r *reader) skipUnknown(key []byte) bool {
	for _, c := range key {
		if c == '\\' || c >= 'A' && c <= 'Z' || c >= utf8.RuneSelf {
			return false
		}
	}
	return r.value()
}

// span locates a value in the text a view was decoded from: b[start:end].
// The zero span is an absent value (every value is at least a byte long).
// Views hold spans rather than slices so that they hold no pointers: they
// cost the garbage collector nothing.
type span struct{ start, end int }

// in returns the span's bytes in b.
func (sp span) in(b []byte) []byte { return b[sp.start:sp.end] }

// str returns a string field's literal in b.
func (sp span) str(b []byte) jstr { return jstr(b[sp.start:sp.end]) }

// Field decoders. Each follows encoding/json's rules for its Go type: null
// leaves a string, number or struct as it was and clears a pointer, slice or
// map (the same thing here: a field is decoded once, a repeated key being
// left to encoding/json); any other mismatch returns false.

// stringField decodes a string field.
func (r *reader) stringField(s *span) bool {
	switch r.peek() {
	case '"':
		start := r.i
		_, ok := r.str()
		*s = span{start, r.i}
		return ok
	case 'n':
		return r.literal("null")
	}
	return false
}

// rawField decodes a json.RawMessage field: any value.
func (r *reader) rawField(raw *span) bool {
	r.ws()
	start := r.i
	ok := r.value()
	*raw = span{start, r.i}
	return ok
}

// compactField is rawField that also reports whether the value has no white
// space to drop.
func (r *reader) compactField(raw *span, compact *bool) bool {
	r.ws()
	r.spaced = false
	ok := r.rawField(raw)
	*compact = !r.spaced
	return ok
}

// intField decodes an int64 or a *int64.
func (r *reader) intField(v *optInt) bool {
	if r.peek() == 'n' {
		*v = optInt{}
		return r.literal("null")
	}
	num, ok := r.number()
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil {
		return false
	}
	*v = optInt{v: n, set: true}
	return true
}

// floatField decodes a *float64.
func (r *reader) floatField(v *optFloat) bool {
	if r.peek() == 'n' {
		*v = optFloat{}
		return r.literal("null")
	}
	num, ok := r.number()
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil {
		return false
	}
	*v = optFloat{v: f, set: true}
	return true
}

// boolField decodes a *bool.
func (r *reader) boolField(v *optBool) bool {
	switch r.peek() {
	case 'n':
		*v = optBool{}
		return r.literal("null")
	case 't':
		*v = optBool{v: true, set: true}
		return r.literal("true")
	case 'f':
		*v = optBool{set: true}
		return r.literal("false")
	}
	return false
}

// optInt, optFloat and optBool are pointer fields decoded without the
// pointer's allocation.
type optInt struct {
	v   int64
	set bool
}

type optFloat struct {
	v   float64
	set bool
}

type optBool struct {
	v   bool
	set bool
}

// fields tracks which declared keys an object had: a repeated key makes
// encoding/json merge the two values, which the caller leaves to it.
type fields uint32

// see records field n and reports false if it was seen before.
func (f *fields) see(n int) bool {
	if *f&(1<<n) != 0 {
		return false
	}
	*f |= 1 << n
	return true
}

// fieldFunc decodes the value of an object member whose key (its text,
// without quotes) the reader has just consumed. It returns the field's
// number (below 32) for the duplicate-key guard, or a negative number for a
// key it does not guard (see unknown); ok false means the value is not of
// the expected shape. It is a closure over the reader: a reader passed to
// an indirect call would escape to the heap.
type fieldFunc func(key []byte) (field int, ok bool)

// object decodes an object into a struct, calling field for each member:
// null leaves the struct as it was, and a field that comes twice returns
// false (encoding/json would merge the two values). field does not escape:
// a call allocates nothing.
func (r *reader) object(field fieldFunc) bool {
	if r.peek() == 'n' {
		return r.literal("null")
	}
	if !r.enter('{') {
		return false
	}
	var seen fields
	for first := true; ; first = false {
		more, ok := r.more('}', first)
		if !ok || !more {
			return ok
		}
		key, ok := r.key()
		if !ok {
			return false
		}
		f, ok := field(key)
		if !ok || f >= 0 && !seen.see(f) {
			return false
		}
	}
}

// optObject is object for a pointer to a struct: set reports an object
// rather than null.
func (r *reader) optObject(set *bool, field fieldFunc) bool {
	*set = r.peek() == '{'
	return r.object(field)
}

// unknown is a fieldFunc's answer for a key that is none of its fields:
// the value is skipped (skipUnknown) and the key is not guarded.
func (r *reader) unknown(key []byte) (int, bool) {
	return -1, r.skipUnknown(key)
}

// array decodes an array into a slice, calling elem for each element; null
// leaves the slice as it was (a field is decoded once: nil). elem, a
// closure over the reader like a fieldFunc, does not escape.
func (r *reader) array(elem func() bool) bool {
	if r.peek() == 'n' {
		return r.literal("null")
	}
	if !r.enter('[') {
		return false
	}
	for first := true; ; first = false {
		more, ok := r.more(']', first)
		if !ok || !more {
			return ok
		}
		if !elem() {
			return false
		}
	}
}

// validJSON is json.Valid; compact reports that b has no white space
// outside its strings.
func validJSON(b []byte) (valid, compact bool) {
	r := reader{b: b}
	valid = r.value() && r.end()
	return valid, !r.spaced
}

// jstr is a JSON string literal as it stands in the input, quotes included,
// so that a string can be copied to the output without being unescaped and
// escaped again. nil stands for an absent or null field, which
// encoding/json would leave as "".
type jstr []byte

// empty reports whether the string is "".
func (s jstr) empty() bool { return len(s) <= 2 }

// inner is the literal without its quotes.
func (s jstr) inner() []byte {
	if len(s) < 2 {
		return nil
	}
	return s[1 : len(s)-1]
}

// plain reports whether the literal's bytes between the quotes are its
// decoded value and also how encoding/json would encode that value: no
// escapes, valid UTF-8, no U+2028 or U+2029.
func plain(in []byte) bool {
	i := 0
	for i+8 <= len(in) {
		w := binary.LittleEndian.Uint64(in[i:])
		b := w ^ (lsb * '\\')
		if (w|(b-lsb)&^b)&msb != 0 {
			break
		}
		i += 8
	}
	for ; i < len(in); i++ {
		c := in[i]
		if c == '\\' {
			return false
		}
		if c >= utf8.RuneSelf {
			return plainTail(in[i:])
		}
	}
	return true
}

func plainTail(in []byte) bool {
	return bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) &&
		!bytes.Contains(in, []byte("\u2028")) && !bytes.Contains(in, []byte("\u2029"))
}

// is reports whether the string's value is want, which must be ASCII
// without backslashes (all callers pass constants). Bytes without escapes
// are then the value only if they are want itself: invalid UTF-8 would
// decode to U+FFFD.
func (s jstr) is(want string) bool {
	in := s.inner()
	if string(in) == want {
		return true
	}
	return bytes.IndexByte(in, '\\') >= 0 && string(appendUnquoted(nil, s)) == want
}

// String returns the decoded value.
func (s jstr) String() string {
	if len(s) < 2 {
		return ""
	}
	return string(appendUnquoted(nil, s))
}

// appendUnquoted appends the value of a valid string literal as
// encoding/json decodes it: invalid UTF-8 and lone surrogates become U+FFFD.
func appendUnquoted(dst []byte, lit jstr) []byte {
	s := lit.inner()
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '\\':
			r, n := unescape(s[i:])
			dst = utf8.AppendRune(dst, r)
			i += n
		case c < utf8.RuneSelf:
			j := i + 1
			for j < len(s) && s[j] < utf8.RuneSelf && s[j] != '\\' {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
		default:
			r, n := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && n == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, s[i:i+n]...)
			}
			i += n
		}
	}
	return dst
}

// unescape decodes the escape sequence at the start of s (valid JSON) and
// returns the rune and the number of bytes consumed.
func unescape(s []byte) (rune, int) {
	switch s[1] {
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
		r := getu4(s)
		if !utf16.IsSurrogate(r) {
			return r, 6
		}
		if dec := utf16.DecodeRune(r, getu4(s[6:])); dec != utf8.RuneError {
			return dec, 12
		}
		return utf8.RuneError, 6
	}
	return rune(s[1]), 2 // '"', '\\', '/'
}

// getu4 decodes \uXXXX at the start of s, -1 if there is none.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// appendJstr appends the string as encoding/json would encode its value:
// usually the literal itself.
func appendJstr(dst []byte, s jstr) []byte {
	if len(s) < 2 {
		return append(dst, `""`...)
	}
	if plain(s.inner()) {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	dst = appendReencoded(dst, s)
	return append(dst, '"')
}

// appendReencoded appends the value of lit encoded as a JSON string body
// (without quotes), in one pass and without an intermediate copy.
func appendReencoded(dst []byte, lit jstr) []byte {
	s := lit.inner()
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf && c != '\\' {
			// Valid JSON has no control characters or quotes here, so the
			// byte is its own encoding.
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		if c == '\\' {
			r, n := unescape(s[i:])
			dst = appendRune(dst, r)
			i += n
		} else {
			r, n := utf8.DecodeRune(s[i:])
			dst = appendRune(dst, r)
			i += n
		}
		start = i
	}
	return append(dst, s[start:]...)
}

// appendRune appends r encoded as in a JSON string by encoding/json with
// HTML escaping off. utf8.RuneError stands for itself: decoding already
// turned invalid bytes into it.
func appendRune(dst []byte, r rune) []byte {
	if r < utf8.RuneSelf {
		return appendByte(dst, byte(r))
	}
	if r == '\u2028' || r == '\u2029' {
		return append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
	}
	return utf8.AppendRune(dst, r)
}

const hexDigits = "0123456789abcdef"

// appendByte appends an ASCII byte as encoding/json encodes it in a string.
func appendByte(dst []byte, c byte) []byte {
	switch c {
	case '\\', '"':
		return append(dst, '\\', c)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	if c < 0x20 {
		return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
	}
	return append(dst, c)
}

// appendString appends s as a JSON string exactly as encoding/json's Encoder
// with SetEscapeHTML(false) does; escapeHTML also escapes <, > and & as
// json.Marshal does.
func appendString[T []byte | string](dst []byte, s T, escapeHTML bool) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!escapeHTML || c != '<' && c != '>' && c != '&') {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			if escapeHTML && (c == '<' || c == '>' || c == '&') {
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			} else {
				dst = appendByte(dst, c)
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(string(s[i:min(len(s), i+utf8.UTFMax)]))
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = appendRune(dst, r)
			i += n
			start = i
			continue
		}
		i += n
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendCompact appends valid JSON v without insignificant white space, as
// encoding/json writes a json.RawMessage.
func appendCompact(dst, v []byte) []byte {
	start := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case ' ', '\t', '\n', '\r':
			dst = append(dst, v[start:i]...)
			start = i + 1
		case '"':
			r := reader{b: v, i: i}
			if _, ok := r.str(); !ok {
				return append(dst, v[start:]...) // cannot happen: v is valid
			}
			i = r.i - 1
		}
	}
	return append(dst, v[start:]...)
}

// appendFloat appends f as encoding/json encodes a float64.
func appendFloat(dst []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}
