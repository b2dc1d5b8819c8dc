package policy

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"Hello World", "hello world"},
		{"  lots\t of \n\n space  ", "lots of space "},
		{"K1LL Y0U", "kill you"},
		{"a$$h0le", "asshole"},
		{"@ss", "ass"},
		{"sh!t", "shit"},
		{"wow! great", "wow.great"},
		{"k.i.l.l y.o.u", "kill you"},
		{"k-i-l-l y*o*u", "kill you"},
		{"k_i_l_l_y_o_u", "killyou"}, // spelled out without a gap: one word
		{"k.1.l.l", "kill"},
		{"e.g. U.S.A. rocks", "eg.usa.rocks"},
		{"x-ray well-known", "x ray well known"},
		{"kiiiill youuuu", "kill you"},
		{"boob book", "boob book"},
		{"don't you’re it`s", "dont youre its"},
		{"Ｋｉｌｌ ｙｏｕ", "kill you"},
		{"𝐤𝐢𝐥𝐥 𝒚𝒐𝒖", "kill you"},
		{"ⓚⓘⓛⓛ 🅺🅸🅻🅻", "kill kill"},
		{"kіll уоu", "kill you"},
		{"KÏLL ýôū", "kill you"},
		{"ki\u0301ll", "kill"},
		{"k\u200bi\u00adl\u2060l", "kill"},
		{"room 1488 in 2024, 5 years", "room 1488 in 2024 5 years"},
		{"ki11 K1ll", "kiii kill"},
		{"t175 sha256 x86 a55 v1.2 s3", "t175 sha256 x86 a55 v1.2 se"},
		{"3 4 5", "3 4 5"},
		{"1.5 and 3.14", "1.5 and 3.14"},
		{"$100", "100"},
		{"日本 語", "\x80\x80 \x80"},
		{"end. next? yes; no!", "end.next.yes.no."},
		{"a . b", "a.b"},
		{"bad \xff byte", "bad byte"},
		{"emoji 🙂 here", "emoji here"},
	}
	var nb, ref normBuf
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			nb.normalize(tc.in, false)
			if got := string(nb.b); got != tc.want {
				t.Errorf("normalize(%q) = %q, want %q", tc.in, got, tc.want)
			}
			normalizeStep(&ref, tc.in)
			if string(ref.b) != tc.want {
				t.Errorf("step alone gives %q", ref.b)
			}
		})
	}
}

func TestNormalizeOffsets(t *testing.T) {
	tests := []struct {
		in    string
		word  string // a word of the normal form
		inSrc string // the source bytes it must map back to
	}{
		{"say Ｋｉｌｌ now", "kill", "Ｋｉｌｌ"},
		{"say k.i.l.l now", "kill", "k.i.l.l"},
		{"say kiiiiill now", "kill", "kiiiiill"},
		{"say K1LL now", "kill", "K1LL"},
		{"é kill é", "kill", "kill"},
		{"say k\u200bill now", "kill", "k\u200bill"},
	}
	var nb normBuf
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			nb.normalize(tc.in, true)
			i := strings.Index(string(nb.b), tc.word)
			if i < 0 {
				t.Fatalf("%q not in %q", tc.word, nb.b)
			}
			got := tc.in[nb.starts[i]:nb.ends[i+len(tc.word)-1]]
			if got != tc.inSrc {
				t.Errorf("maps back to %q, want %q", got, tc.inSrc)
			}
		})
	}
}

func TestLatinFold(t *testing.T) {
	if len(latinFold) != 0x180-0xC0 {
		t.Fatalf("latinFold has %d entries, want %d", len(latinFold), 0x180-0xC0)
	}
	tests := map[rune]rune{
		'À': 'a', 'Ç': 'c', 'É': 'e', 'Ñ': 'n', 'Ö': 'o', 'Ø': 'o', 'Ü': 'u', 'Ý': 'y', 'ÿ': 'y',
		'Ā': 'a', 'č': 'c', 'Đ': 'd', 'ę': 'e', 'ğ': 'g', 'ħ': 'h', 'ı': 'i', 'ĵ': 'j', 'ķ': 'k',
		'ł': 'l', 'ň': 'n', 'ő': 'o', 'ř': 'r', 'š': 's', 'ť': 't', 'ů': 'u', 'ŵ': 'w', 'Ÿ': 'y',
		'ž': 'z', 'ſ': 's', 'Æ': 'Æ', 'ß': 'ß', '×': '×', 'Œ': 'Œ', 'Ĳ': 'Ĳ',
	}
	for r, want := range tests {
		if got := foldRune(r); got != want {
			t.Errorf("foldRune(%q) = %q, want %q", r, got, want)
		}
	}
}

// normalizeStep is normalize with tracking through step alone, the
// reference the fast path must agree with.
func normalizeStep(n *normBuf, s string) {
	n.b, n.starts, n.ends = n.b[:0], n.starts[:0], n.ends[:0]
	n.track = true
	n.tokEnd, n.run, n.wordLen = 0, 0, 0
	for i := 0; i < len(s); {
		i = n.step(s, i)
	}
}

// checkNormal verifies the invariants of a tracked normal form of s.
func checkNormal(t *testing.T, s string, nb *normBuf) {
	t.Helper()
	if len(nb.starts) != len(nb.b) || len(nb.ends) != len(nb.b) {
		t.Fatalf("%q: %d bytes, %d starts, %d ends", s, len(nb.b), len(nb.starts), len(nb.ends))
	}
	prevEnd := 0
	for k, c := range nb.b {
		if !isWord(c) && c != sepByte && c != breakByte {
			t.Fatalf("%q: byte %#x outside the alphabet", s, c)
		}
		st, en := nb.starts[k], nb.ends[k]
		if st < prevEnd || en <= st || en > len(s) {
			t.Fatalf("%q: byte %d maps to [%d,%d) after %d", s, k, st, en, prevEnd)
		}
		prevEnd = en
		if isLetter(c) && utf8.ValidString(s) {
			// A letter comes from whole runes: redacting it keeps UTF-8 valid.
			if !utf8.RuneStart(s[st]) || (en < len(s) && !utf8.RuneStart(s[en])) {
				t.Fatalf("%q: letter %d maps to [%d,%d), not rune boundaries", s, k, st, en)
			}
		}
	}
	if k := len(nb.b); k > 0 && (nb.b[0] == sepByte || nb.b[0] == breakByte) {
		t.Fatalf("%q: normal form %q starts with a separator", s, nb.b)
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"", "K1LL Y0U", "k.i.l.l you", "Ｋｉｌｌ", "𝐤𝐢𝐥𝐥", "kіll", "a$$ @ss sh!t", "kiiiill",
		"e.g. U.S.A.", "don't", "日本語", "bad \xff\xc3", "k\u200bi\u0301ll", "1.5 $100 1488",
		"..--__**", "!!!", "a.", ".a", "a.b.", "ⓚ🅺", "\u2028\u00ad",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var plain, tracked, ref normBuf
		plain.normalize(s, false)
		tracked.normalize(s, true)
		if string(plain.b) != string(tracked.b) {
			t.Fatalf("%q: tracking changed the output: %q vs %q", s, plain.b, tracked.b)
		}
		checkNormal(t, s, &tracked)
		normalizeStep(&ref, s)
		if string(ref.b) != string(tracked.b) || !slices.Equal(ref.starts, tracked.starts) || !slices.Equal(ref.ends, tracked.ends) {
			t.Fatalf("%q: fast path %q %v %v, step %q %v %v", s, tracked.b, tracked.starts, tracked.ends, ref.b, ref.starts, ref.ends)
		}
		// Reusing the buffer must not leak state between texts.
		tracked.normalize("x"+s, false)
		plain.normalize("x"+s, false)
		if string(plain.b) != string(tracked.b) {
			t.Fatalf("%q: reused buffer differs", s)
		}
	})
}

func TestASCIIKind(t *testing.T) {
	for c := range byte(utf8.RuneSelf) {
		want := kindSep
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			want = kindLetter
		case c >= '0' && c <= '9':
			want = kindDigit
		case strings.IndexByte("@$!", c) >= 0:
			want = kindLeet
		case strings.IndexByte(".-_*", c) >= 0:
			want = kindJoin
		case strings.IndexByte("?;", c) >= 0:
			want = kindBreak
		case strings.IndexByte("'`", c) >= 0:
			want = kindDrop
		}
		if got, _, _ := kindAt(string(rune(c)), 0); got != want {
			t.Errorf("kind of %q = %d, want %d", c, got, want)
		}
	}
}
