package policy

import (
	"unicode"
	"unicode/utf8"
)

// Bytes of the normalised alphabet besides a–z and 0–9.
const (
	// sepByte stands for any run of whitespace and punctuation.
	sepByte = ' '
	// breakByte ends a sentence (. ! ? ;): phrases never match across it.
	breakByte = '.'
	// otherByte stands for one letter or digit outside a–z/0–9 (CJK, an
	// unfolded accent...): a word character for the boundary checks that no
	// list entry contains.
	otherByte = 0x80
)

// isWord reports whether c is a word character of the normalised text.
func isWord(c byte) bool { return c-'a' < 26 || c-'0' < 10 || c == otherByte }

// isLetter reports whether c is a–z.
func isLetter(c byte) bool { return c-'a' < 26 }

// Rune kinds, after folding.
const (
	kindSep    = iota // whitespace, punctuation, symbols, invalid UTF-8
	kindLetter        // a–z (upper case already folded)
	kindDigit         // 0–9: leet when next to a letter
	kindLeet          // @ $ !: a letter when next to one, punctuation otherwise
	kindJoin          // . - _ *: removed between single letters ("k.i.l.l")
	kindBreak         // ? ; (and . ! when not joined or leet)
	kindDrop          // apostrophes, zero-width and combining marks: nothing
	kindOther         // any other letter or number
)

// normBuf holds one normalised text and, when tracking, the source byte
// range [starts[k], ends[k]) that normalised byte k came from, so that a hit
// can be redacted in the original text.
type normBuf struct {
	b      []byte
	starts []int
	ends   []int

	track bool
	// run is the length of the run of one typed letter ending b; 0 after a
	// letter read from leet, which never joins a run.
	run int
	// wordLen counts word characters since the last separator or removed
	// joiner.
	wordLen int
	// tokOK is the leet decision for the source token ending at tokEnd
	// (see leetToken), computed once per token.
	tokEnd int
	tokOK  bool
}

// normalize replaces the buffer's content with the normal form of s:
//   - lower case; fullwidth, mathematical, circled and squared letters,
//     accented Latin letters and Cyrillic/Greek look-alikes folded to a–z;
//   - apostrophes, zero-width characters and combining marks removed
//     ("don't" → "dont", "k\u200bill" → "kill");
//   - leet: 0 1 3 4 5 7 @ $ read as o i e a s t a s when next to a letter
//     in a token with at least as many letters as leet characters and no
//     other digit ("K1LL Y0U" → "kill you", "a$$h0le" → "asshole", but
//     "t175", "sha256" and "x86" stay), and ! as i between letters;
//   - . - _ * removed between single letters ("k.i.l.l" → "kill");
//   - a run of three or more of one typed letter collapsed to one ("kiiill"
//     → "kill", "youuuu" → "you"); doubles are kept ("boob" stays), and
//     letters read from leet never collapse ("ki11" → "kiii");
//   - any run of whitespace and punctuation → one space, or one '.' if it
//     ends a sentence; other letters and digits → otherByte.
//
// The list entries go through the same function, so both sides agree.
func (n *normBuf) normalize(s string, track bool) {
	n.track = track
	n.tokEnd, n.run, n.wordLen = 0, 0, 0
	// The normal form is never longer than s (one byte at most per rune),
	// so sized once the buffers never grow during the loop, and the fast
	// path below writes by index.
	if cap(n.b) < len(s) {
		n.b = make([]byte, 0, len(s))
	}
	b := n.b[:len(s)]
	var st, en []int
	if track {
		if cap(n.starts) < len(s) {
			n.starts, n.ends = make([]int, 0, len(s)), make([]int, 0, len(s))
		}
		st, en = n.starts[:len(s)], n.ends[:len(s)]
	}
	// Fast path for the bytes of ordinary text (letters that don't end a
	// run of three, separators, apostrophes) with the state in locals;
	// everything else goes through step, the reference implementation.
	// FuzzNormalize checks that both agree.
	k, last, run, wordLen := 0, byte(0), 0, 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch asciiKind[c] - '0' {
			case kindLetter:
				c |= 0x20 // lower case
				if c != last || run < 2 {
					// A new letter, or the second of a double (a third
					// collapses: step handles it).
					if c == last && run == 1 {
						run = 2
					} else {
						run = 1
					}
					b[k] = c
					if track {
						st[k], en[k] = i, i+1
					}
					k++
					last = c
					wordLen++
					i++
					continue
				}
			case kindSep:
				if k > 0 && last != sepByte && last != breakByte {
					b[k] = sepByte
					if track {
						st[k], en[k] = i, i+1
					}
					k++
					last = sepByte
				}
				run, wordLen = 0, 0
				i++
				continue
			case kindDrop:
				i++
				continue
			}
		}
		n.b, n.run, n.wordLen = b[:k], run, wordLen
		if track {
			n.starts, n.ends = st[:k], en[:k]
		}
		i = n.step(s, i)
		k, run, wordLen = len(n.b), n.run, n.wordLen
		if last = 0; k > 0 {
			last = n.b[k-1]
		}
	}
	n.b = b[:k]
	if track {
		n.starts, n.ends = st[:k], en[:k]
	}
}

// step normalises the rune at s[i:] and returns the index after it.
func (n *normBuf) step(s string, i int) int {
	start := i
	kind, c, size := kindAt(s, i)
	i += size
	switch kind {
	case kindLetter:
		n.letter(c, start, i)
	case kindDigit:
		if l := leetDigit(c); l != 0 && (n.lastIsLetter() || nextIsLetter(s, i)) && n.leetToken(s, start) {
			n.leet(l, start, i)
		} else {
			n.word(c, start, i)
		}
	case kindLeet:
		switch {
		case c == '!' && n.lastIsLetter() && nextIsLetter(s, i):
			n.leet('i', start, i)
		case c == '!':
			n.brk(start, i)
		case (n.lastIsLetter() || nextIsLetter(s, i)) && n.leetToken(s, start):
			n.leet(leetSymbol(c), start, i)
		default:
			n.sep(start, i)
		}
	case kindJoin:
		if n.wordLen == 1 && n.lastIsLetter() && joinable(s, i) {
			// One letter, this joiner, one letter, then a non-letter:
			// spelled-out letters. Drop the joiner, keep the letter run.
			n.wordLen = 0
			return i
		}
		if c == '.' {
			n.brk(start, i)
		} else {
			n.sep(start, i)
		}
	case kindBreak:
		n.brk(start, i)
	case kindDrop:
	case kindOther:
		n.word(otherByte, start, i)
	default:
		n.sep(start, i)
	}
	return i
}

func (n *normBuf) push(c byte, start, end int) {
	n.b = append(n.b, c)
	if n.track {
		n.starts = append(n.starts, start)
		n.ends = append(n.ends, end)
	}
}

func (n *normBuf) lastIsLetter() bool { return len(n.b) > 0 && isLetter(n.b[len(n.b)-1]) }

// leet appends a letter read from a leet character: it never joins a run,
// so "ki11" stays "kiii" and can't collapse into an unrelated short word.
func (n *normBuf) leet(c byte, start, end int) {
	n.wordLen++
	n.run = 0
	n.push(c, start, end)
}

func (n *normBuf) letter(c byte, start, end int) {
	n.wordLen++
	if len(n.b) == 0 || n.b[len(n.b)-1] != c || n.run == 0 {
		n.run = 1
		n.push(c, start, end)
		return
	}
	n.run++
	switch {
	case n.run < 3:
		n.push(c, start, end)
		return
	case n.run == 3:
		// Three in a row: drop the second and let the first cover the run.
		n.b = n.b[:len(n.b)-1]
		if n.track {
			n.starts = n.starts[:len(n.starts)-1]
			n.ends = n.ends[:len(n.ends)-1]
		}
	}
	if n.track {
		n.ends[len(n.ends)-1] = end
	}
}

func (n *normBuf) word(c byte, start, end int) {
	n.run = 0
	n.wordLen++
	n.push(c, start, end)
}

func (n *normBuf) sep(start, end int) {
	n.run, n.wordLen = 0, 0
	if len(n.b) == 0 || n.b[len(n.b)-1] == sepByte || n.b[len(n.b)-1] == breakByte {
		return
	}
	n.push(sepByte, start, end)
}

func (n *normBuf) brk(start, end int) {
	n.run, n.wordLen = 0, 0
	switch {
	case len(n.b) == 0 || n.b[len(n.b)-1] == breakByte:
	case n.b[len(n.b)-1] == sepByte:
		n.b[len(n.b)-1] = breakByte
		if n.track {
			n.ends[len(n.ends)-1] = end
		}
	default:
		n.push(breakByte, start, end)
	}
}

// isTokenByte reports whether c belongs to an ASCII token for the leet
// decision: letters, digits, @ and $, and the joiners that spell words
// out ("k.1.l.l").
func isTokenByte(c byte) bool {
	switch c {
	case '@', '$', '.', '-', '_', '*':
		return true
	}
	return c-'a' < 26 || c-'A' < 26 || c-'0' < 10
}

// leetToken reports whether the leet character at s[pos] may be read as a
// letter: its token (see isTokenByte) has at least as many letters as leet
// characters and no other digit. This keeps identifiers and numbers
// ("t175", "sha256", "1488", "v1.2") as they are.
func (n *normBuf) leetToken(s string, pos int) bool {
	if pos < n.tokEnd {
		return n.tokOK
	}
	start, end := pos, pos
	for start > 0 && isTokenByte(s[start-1]) {
		start--
	}
	for end < len(s) && isTokenByte(s[end]) {
		end++
	}
	letters, leets := 0, 0
	for _, c := range []byte(s[start:end]) {
		switch {
		case c-'a' < 26 || c-'A' < 26:
			letters++
		case c == '@' || c == '$' || leetDigit(c) != 0:
			leets++
		case c-'0' < 10:
			n.tokEnd, n.tokOK = end, false
			return false
		}
	}
	n.tokEnd, n.tokOK = end, letters >= leets
	return n.tokOK
}

// kindAt classifies the rune at s[i:] after folding. c is the folded ASCII
// byte for letters, digits, leet symbols and joiners.
func kindAt(s string, i int) (kind int, c byte, size int) {
	r, size := rune(s[i]), 1
	if r >= utf8.RuneSelf {
		r, size = utf8.DecodeRuneInString(s[i:])
		r = foldRune(r)
		if r >= utf8.RuneSelf {
			return kindOfRune(r), 0, size
		}
	}
	c = byte(r)
	kind = int(asciiKind[c] - '0')
	if kind == kindLetter {
		c |= 0x20 // lower case
	}
	return kind, c, size
}

// asciiKind holds the kind of each ASCII byte as a digit: letters 1, digits
// 2, @ $ ! 3 (leet), . - _ * 4 (joiners), ? ; 5 (breaks), ' ` 6 (dropped),
// everything else 0 (separators). TestASCIIKind spells it out.
const asciiKind = "" +
	"00000000000000000000000000000000" + // 0x00–0x1f
	"03003006004004402222222222050005" + // 0x20–0x3f
	"31111111111111111111111111100004" + // 0x40–0x5f
	"61111111111111111111111111100000" //   0x60–0x7f

// kindOfRune classifies a non-ASCII rune that folding left alone.
func kindOfRune(r rune) int {
	switch {
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
		return kindDrop
	case unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Mc, r):
		return kindOther
	}
	return kindSep
}

// letterish reports whether the rune at s[i:] is a letter or a leet
// character, and its size; false at the end of s.
func letterish(s string, i int) (bool, int) {
	if i >= len(s) {
		return false, 0
	}
	kind, c, size := kindAt(s, i)
	switch kind {
	case kindLetter, kindLeet:
		return true, size
	case kindDigit:
		return leetDigit(c) != 0, size
	}
	return false, size
}

// nextIsLetter reports whether the rune at s[i:] folds to a letter.
func nextIsLetter(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	kind, _, _ := kindAt(s, i)
	return kind == kindLetter
}

// joinable reports whether the joiner just before s[i:] sits between single
// letters: a letter (or leet character) follows, and is itself followed by
// a non-letter. The caller checked the letter before the joiner.
func joinable(s string, i int) bool {
	ok, size := letterish(s, i)
	if !ok {
		return false
	}
	after, _ := letterish(s, i+size)
	return !after
}

// leetDigit returns the letter a digit stands for in leet, or 0.
func leetDigit(c byte) byte {
	switch c {
	case '0':
		return 'o'
	case '1':
		return 'i'
	case '3':
		return 'e'
	case '4':
		return 'a'
	case '5':
		return 's'
	case '7':
		return 't'
	}
	return 0
}

// leetSymbol returns the letter @ or $ stands for.
func leetSymbol(c byte) byte {
	if c == '@' {
		return 'a'
	}
	return 's'
}

// latinFold maps U+00C0–U+017F to the base letter, '_' where there is none
// (Æ, ×, Þ, ß, Ĳ, Œ...): the accents people add to dodge a filter.
const latinFold = "" +
	"aaaaaa_ceeeeiiiidnooooo_ouuuuy__" + // U+00C0–U+00DF
	"aaaaaa_ceeeeiiiidnooooo_ouuuuy_y" + // U+00E0–U+00FF
	"aaaaaa" + "cccccccc" + "dddd" + "eeeeeeeeee" + "gggggggg" + "hhhh" + // U+0100–U+0127
	"iiiiiiiiii" + "__" + "jj" + "kkk" + "llllllllll" + "nnnnnnnnn" + // U+0128–U+014B
	"oooooo" + "__" + "rrrrrr" + "ssssssss" + "tttttt" + // U+014C–U+0167
	"uuuuuuuuuuuu" + "ww" + "yyy" + "zzzzzz" + "s" // U+0168–U+017F

// foldRune maps the non-ASCII look-alikes of ASCII used to dodge filters to
// ASCII: fullwidth forms, mathematical alphanumerics, circled and squared
// letters, accented Latin letters, Cyrillic and Greek homoglyphs, typographic
// apostrophes and dots. Anything else is returned unchanged.
//
// This is deliberately a small table rather than full NFKC plus confusable
// detection: it covers what people type to evade word lists at the cost of
// a switch, and keeps the package free of x/text tables.
func foldRune(r rune) rune {
	switch {
	case r < utf8.RuneSelf:
		return r
	case r >= 0xC0 && r <= 0x17F:
		if c := latinFold[r-0xC0]; c != '_' {
			return rune(c)
		}
		return r
	case r >= 0xFF01 && r <= 0xFF5E: // fullwidth ASCII
		return r - 0xFEE0
	case r >= 0x1D400 && r <= 0x1D6A3: // mathematical letters: 13 styles of A–Z a–z
		off := (r - 0x1D400) % 52
		if off < 26 {
			return 'a' + off
		}
		return 'a' + off - 26
	case r >= 0x1D7CE && r <= 0x1D7FF: // mathematical digits
		return '0' + (r-0x1D7CE)%10
	case r >= 0x24B6 && r <= 0x24CF: // circled capitals
		return 'a' + r - 0x24B6
	case r >= 0x24D0 && r <= 0x24E9: // circled small letters
		return 'a' + r - 0x24D0
	case r >= 0x1F130 && r <= 0x1F189: // squared and negative circled/squared capitals
		if off := (r - 0x1F130) % 32; off < 26 {
			return 'a' + off
		}
		return r
	}
	return foldSymbol(r)
}

// foldSymbol handles the scattered look-alikes.
func foldSymbol(r rune) rune {
	switch r {
	case 0x2018, 0x2019, 0x02BC, 0x02B9, 0x2032: // ‘ ’ ʼ ʹ ′
		return '\''
	case 0x00B7, 0x2022, 0x2219, 0x22C5, 0x2027, 0x30FB: // · • ∙ ⋅ ‧ ・
		return '.'
	case 0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212: // dashes, minus
		return '-'
	case 0x0430, 0x0410, 0x03B1, 0x0391: // а А α Α
		return 'a'
	case 0x0412, 0x0392: // В Β
		return 'b'
	case 0x0441, 0x0421, 0x03F2: // с С ϲ
		return 'c'
	case 0x0501: // ԁ
		return 'd'
	case 0x0435, 0x0415, 0x0395: // е Е Ε
		return 'e'
	case 0x04BB, 0x041D, 0x0397: // һ Н Η
		return 'h'
	case 0x0456, 0x0406, 0x03B9, 0x0399: // і І ι Ι
		return 'i'
	case 0x0458, 0x0408: // ј Ј
		return 'j'
	case 0x041A, 0x03BA, 0x039A: // К κ Κ
		return 'k'
	case 0x041C, 0x039C: // М Μ
		return 'm'
	case 0x039D: // Ν
		return 'n'
	case 0x043E, 0x041E, 0x03BF, 0x039F: // о О ο Ο
		return 'o'
	case 0x0440, 0x0420, 0x03C1, 0x03A1: // р Р ρ Ρ
		return 'p'
	case 0x051B: // ԛ
		return 'q'
	case 0x0455, 0x0405: // ѕ Ѕ
		return 's'
	case 0x0422, 0x03C4, 0x03A4: // Т τ Τ
		return 't'
	case 0x03C5: // υ
		return 'u'
	case 0x03BD: // ν
		return 'v'
	case 0x051D: // ԝ
		return 'w'
	case 0x0445, 0x0425, 0x03C7, 0x03A7: // х Х χ Χ
		return 'x'
	case 0x0443, 0x0423, 0x03A5: // у У Υ
		return 'y'
	case 0x0396: // Ζ
		return 'z'
	}
	return r
}
