// Package jsontext is the small, fast JSON reader the translators use on
// their hot paths instead of encoding/json, plus the writers that copy what
// it read. encoding/json validates a value again every time a
// json.RawMessage of it is decoded, and goes through reflection for every
// field; translating a 2 KB request that way cost about as much CPU as all
// the rest of the gateway's work on a request (issue 8).
//
// The reader is exact where it says yes: a value it accepts decodes to what
// encoding/json would decode, and the writers produce the bytes
// encoding/json's Encoder would (SetEscapeHTML(false)); strings are written
// by pkg/jsonw. Wherever encoding/json has rules the reader does not model
// (case-insensitive or escaped keys, duplicate keys merging into one field,
// type mismatches and their error messages), it answers "not sure" and the
// caller asks encoding/json. The differential fuzz tests hold the reader and
// writers to encoding/json.
package jsontext

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is encoding/json's nesting limit: deeper input is a syntax error.
const MaxDepth = 10000

// Reader walks a JSON text. Every method validates what it consumes; false
// means the input is not valid JSON or not of the expected shape.
type Reader struct {
	b     []byte
	i     int
	depth int
	// spaced is set whenever white space is skipped, so that a caller can
	// tell a value that is compact already.
	spaced bool
}

// NewReader returns a reader at the start of b.
func NewReader(b []byte) Reader { return Reader{b: b} }

// NewReaderAt returns a reader at offset i of b, e.g. at a Span's Start to
// read again a value located before.
func NewReaderAt(b []byte, i int) Reader { return Reader{b: b, i: i} }

// Offset is the position of the next byte to read.
func (r *Reader) Offset() int { return r.i }

func (r *Reader) ws() {
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

// Peek returns the next byte after white space, 0 at the end.
func (r *Reader) Peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// End reports whether only white space is left.
func (r *Reader) End() bool {
	r.ws()
	return r.i == len(r.b)
}

// Literal consumes true, false or null.
func (r *Reader) Literal(lit string) bool {
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

// Str consumes a string literal starting at r.i and returns it with its
// quotes. It skips eight plain bytes at a time.
func (r *Reader) Str() ([]byte, bool) {
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

// Number consumes a number literal and returns it.
func (r *Reader) Number() ([]byte, bool) {
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

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// Value consumes any value.
func (r *Reader) Value() bool {
	switch r.Peek() {
	case '"':
		_, ok := r.Str()
		return ok
	case '{', '[':
		return r.container(r.b[r.i])
	case 't':
		return r.Literal("true")
	case 'f':
		return r.Literal("false")
	case 'n':
		return r.Literal("null")
	case 0:
		return false
	}
	_, ok := r.Number()
	return ok
}

// container consumes an object or an array whose opening byte is open.
func (r *Reader) container(open byte) bool {
	if !r.Enter(open) {
		return false
	}
	closer := byte(']')
	if open == '{' {
		closer = '}'
	}
	for first := true; ; first = false {
		more, ok := r.More(closer, first)
		if !ok {
			return false
		}
		if !more {
			return true
		}
		if open == '{' {
			if _, ok := r.RawKey(); !ok {
				return false
			}
		}
		if !r.Value() {
			return false
		}
	}
}

// Enter consumes the opening byte of an object or array.
func (r *Reader) Enter(open byte) bool {
	if r.Peek() != open {
		return false
	}
	r.depth++
	if r.depth > MaxDepth {
		return false
	}
	r.i++
	return true
}

// More is the loop condition of an object or array entered with enter: it
// consumes the separator or the closing byte and reports whether a member
// follows.
func (r *Reader) More(closer byte, first bool) (more, ok bool) {
	switch c := r.Peek(); {
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

// RawKey consumes a member's key and its colon, returning the key literal.
func (r *Reader) RawKey() ([]byte, bool) {
	r.ws()
	k, ok := r.Str()
	if !ok || r.Peek() != ':' {
		return nil, false
	}
	r.i++
	return k, true
}

// Key is rawKey for struct fields: it returns the key's text.
func (r *Reader) Key() ([]byte, bool) {
	k, ok := r.RawKey()
	if !ok {
		return nil, false
	}
	return k[1 : len(k)-1], true
}

// SkipUnknown consumes the value of a key that is not exactly a field name.
// It returns false for a key encoding/json might match differently from a
// byte comparison: one with escapes, or with letters a case-insensitive
// match could fold onto a field name (field names are lower-case ASCII).
func (r *Reader) SkipUnknown(key []byte) bool {
	for _, c := range key {
		if c == '\\' || c >= 'A' && c <= 'Z' || c >= utf8.RuneSelf {
			return false
		}
	}
	return r.Value()
}

// Span locates a value in the text a view was decoded from: b[start:end].
// The zero Span is an absent value (every value is at least a byte long).
// Views hold spans rather than slices so that they hold no pointers: they
// cost the garbage collector nothing.
type Span struct{ Start, End int }

// In returns the Span's bytes in b.
func (sp Span) In(b []byte) []byte { return b[sp.Start:sp.End] }

// Str returns a string field's literal in b.
func (sp Span) Str(b []byte) Lit { return Lit(b[sp.Start:sp.End]) }

// Field decoders. Each follows encoding/json's rules for its Go type: null
// leaves a string, number or struct as it was and clears a pointer, slice or
// map (the same thing here: a field is decoded once, a repeated key being
// left to encoding/json); any other mismatch returns false.

// StringField decodes a string field.
func (r *Reader) StringField(s *Span) bool {
	switch r.Peek() {
	case '"':
		start := r.i
		_, ok := r.Str()
		*s = Span{start, r.i}
		return ok
	case 'n':
		return r.Literal("null")
	}
	return false
}

// RawField decodes a json.RawMessage field: any value.
func (r *Reader) RawField(raw *Span) bool {
	r.ws()
	start := r.i
	ok := r.Value()
	*raw = Span{start, r.i}
	return ok
}

// CompactField is rawField that also reports whether the value has no white
// space to drop.
func (r *Reader) CompactField(raw *Span, compact *bool) bool {
	r.ws()
	r.spaced = false
	ok := r.RawField(raw)
	*compact = !r.spaced
	return ok
}

// IntField decodes an int64 or a *int64.
func (r *Reader) IntField(v *OptInt) bool {
	if r.Peek() == 'n' {
		*v = OptInt{}
		return r.Literal("null")
	}
	num, ok := r.Number()
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil {
		return false
	}
	*v = OptInt{V: n, Set: true}
	return true
}

// FloatField decodes a *float64.
func (r *Reader) FloatField(v *OptFloat) bool {
	if r.Peek() == 'n' {
		*v = OptFloat{}
		return r.Literal("null")
	}
	num, ok := r.Number()
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil {
		return false
	}
	*v = OptFloat{V: f, Set: true}
	return true
}

// BoolField decodes a *bool.
func (r *Reader) BoolField(v *OptBool) bool {
	switch r.Peek() {
	case 'n':
		*v = OptBool{}
		return r.Literal("null")
	case 't':
		*v = OptBool{V: true, Set: true}
		return r.Literal("true")
	case 'f':
		*v = OptBool{Set: true}
		return r.Literal("false")
	}
	return false
}

// OptInt, OptFloat and OptBool are pointer fields decoded without the
// pointer's allocation.
type OptInt struct {
	V   int64
	Set bool
}

type OptFloat struct {
	V   float64
	Set bool
}

type OptBool struct {
	V   bool
	Set bool
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

// FieldFunc decodes the value of an object member whose key (its text,
// without quotes) the Reader has just consumed. It returns the field's
// Number (below 32) for the duplicate-key guard, or a negative number for a
// Key it does not guard (see unknown); ok false means the value is not of
// the expected shape. It is a closure over the Reader: a Reader passed to
// an indirect call would escape to the heap.
type FieldFunc func(key []byte) (field int, ok bool)

// Object decodes an object into a struct, calling field for each member:
// null leaves the struct as it was, and a field that comes twice returns
// false (encoding/json would merge the two values). field does not escape:
// a call allocates nothing.
func (r *Reader) Object(field FieldFunc) bool {
	if r.Peek() == 'n' {
		return r.Literal("null")
	}
	if !r.Enter('{') {
		return false
	}
	var seen fields
	for first := true; ; first = false {
		more, ok := r.More('}', first)
		if !ok || !more {
			return ok
		}
		key, ok := r.Key()
		if !ok {
			return false
		}
		f, ok := field(key)
		if !ok || f >= 0 && !seen.see(f) {
			return false
		}
	}
}

// OptObject is object for a pointer to a struct: set reports an object
// rather than null.
func (r *Reader) OptObject(set *bool, field FieldFunc) bool {
	*set = r.Peek() == '{'
	return r.Object(field)
}

// Unknown is a FieldFunc's answer for a key that is none of its fields:
// the value is skipped (skipUnknown) and the key is not guarded.
func (r *Reader) Unknown(key []byte) (int, bool) {
	return -1, r.SkipUnknown(key)
}

// Array decodes an array into a slice, calling elem for each element; null
// leaves the slice as it was (a field is decoded once: nil). elem, a
// closure over the Reader like a FieldFunc, does not escape.
func (r *Reader) Array(elem func() bool) bool {
	if r.Peek() == 'n' {
		return r.Literal("null")
	}
	if !r.Enter('[') {
		return false
	}
	for first := true; ; first = false {
		more, ok := r.More(']', first)
		if !ok || !more {
			return ok
		}
		if !elem() {
			return false
		}
	}
}

// Valid is json.Valid; compact reports that b has no white space
// outside its strings.
func Valid(b []byte) (valid, compact bool) {
	r := Reader{b: b}
	valid = r.Value() && r.End()
	return valid, !r.spaced
}

// Lit is a JSON string literal as it stands in the input, quotes included,
// so that a string can be copied to the output without being unescaped and
// escaped again. nil stands for an absent or null field, which
// encoding/json would leave as "".
type Lit []byte

// Empty reports whether the string is "".
func (s Lit) Empty() bool { return len(s) <= 2 }

// Inner is the literal without its quotes.
func (s Lit) Inner() []byte {
	if len(s) < 2 {
		return nil
	}
	return s[1 : len(s)-1]
}

// Plain reports whether the literal's bytes between the quotes are its
// decoded value and also how encoding/json would encode that value: no
// escapes, valid UTF-8, no U+2028 or U+2029.
func Plain(in []byte) bool {
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

// Is reports whether the string's value is want, which must be ASCII
// without backslashes (all callers pass constants). Bytes without escapes
// are then the value only if they are want itself: invalid UTF-8 would
// decode to U+FFFD.
func (s Lit) Is(want string) bool {
	in := s.Inner()
	if string(in) == want {
		return true
	}
	return bytes.IndexByte(in, '\\') >= 0 && string(AppendUnquoted(nil, s)) == want
}

// String returns the decoded value.
func (s Lit) String() string {
	if len(s) < 2 {
		return ""
	}
	return string(AppendUnquoted(nil, s))
}

// AppendUnquoted appends the value of a valid string literal as
// encoding/json decodes it: invalid UTF-8 and lone surrogates become U+FFFD.
func AppendUnquoted(dst []byte, lit Lit) []byte {
	s := lit.Inner()
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

// AppendLit appends the string as encoding/json would encode its value:
// usually the literal itself.
func AppendLit(dst []byte, s Lit) []byte {
	if len(s) < 2 {
		return append(dst, `""`...)
	}
	if Plain(s.Inner()) {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	dst = AppendReencoded(dst, s)
	return append(dst, '"')
}

// AppendReencoded appends the value of lit encoded as a JSON string body
// (without quotes), in one pass and without an intermediate copy.
func AppendReencoded(dst []byte, lit Lit) []byte {
	s := lit.Inner()
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

// AppendCompact appends valid JSON v without insignificant white space, as
// encoding/json writes a json.RawMessage.
func AppendCompact(dst, v []byte) []byte {
	start := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case ' ', '\t', '\n', '\r':
			dst = append(dst, v[start:i]...)
			start = i + 1
		case '"':
			r := Reader{b: v, i: i}
			if _, ok := r.Str(); !ok {
				return append(dst, v[start:]...) // cannot happen: v is valid
			}
			i = r.i - 1
		}
	}
	return append(dst, v[start:]...)
}
