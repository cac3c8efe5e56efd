package video

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"pgregory.net/rapid"
)

func TestToWebVTT(t *testing.T) {
	utf16le := func(s string) string {
		var b bytes.Buffer
		b.Write([]byte{0xFF, 0xFE})
		for _, u := range utf16.Encode([]rune(s)) {
			b.WriteByte(byte(u))
			b.WriteByte(byte(u >> 8))
		}
		return b.String()
	}
	for _, tc := range []struct {
		name, in, want string
	}{{
		name: "srt with crlf, bom, cue numbers and comma timestamps",
		in:   "\uFEFF1\r\n00:00:01,000 --> 00:00:02,500\r\nHello\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\nTwo\r\nlines\r\n",
		want: "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\nHello\n\n00:00:03.000 --> 00:00:04.000\nTwo\nlines\n",
	}, {
		name: "srt with bare CR line ends and a missing final newline",
		in:   "1\r00:00:01,000 --> 00:00:02,000\rCR only",
		want: "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nCR only\n",
	}, {
		name: "sloppy srt: short fields, a dot, coordinates, no cue number, trailing blank lines",
		in:   "0:0:1,5 --> 0:00:02.25 X1:10 X2:20\nshort\n\n\n\n",
		want: "WEBVTT\n\n00:00:01.500 --> 00:00:02.250\nshort\n",
	}, {
		name: "srt text that runs past a blank line joins its cue",
		in:   "1\n00:00:01,000 --> 00:00:02,000\nfirst\n\nstill first\n\n2\n00:00:03,000 --> 00:00:04,000\nsecond\n",
		want: "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nfirst\nstill first\n\n00:00:03.000 --> 00:00:04.000\nsecond\n",
	}, {
		name: "srt tags: case, font, script, unclosed",
		in:   "1\n00:00:01,000 --> 00:00:02,000\n<B>bold</B> <font color=\"red\">red</font>\n<script>alert(1)</script><i>open\n",
		want: "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<b>bold</b> red\nalert(1)<i>open</i>\n",
	}, {
		name: "markup that is not a tag is escaped",
		in:   "1\n00:00:01,000 --> 00:00:02,000\na < b > c & d &amp; e\n<img src=x onerror=alert(1)> <a href=\"javascript:x\">link</a> <!-- c --> <style>p{}</style>\n",
		want: "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na &lt; b &gt; c &amp; d &amp; e\n link  p{}\n",
	}, {
		name: "webvtt passthrough without STYLE, NOTE, REGION, identifiers or unknown settings",
		in: "WEBVTT - a title\nKind: captions\n\nSTYLE\n::cue { background: url(https://evil.example/x) }\n\nNOTE a comment\nacross lines\n\nREGION\nid:r1\n\n" +
			"intro\n00:01.000 --> 00:02.000 align:start position:10% region:r1 evil:1 line:0,start\n<v Roger Bingham>Hi</v> <c.yellow.bg_blue>there</c> <lang en-GB>colour</lang> <ruby>漢<rt>kan</rt></ruby>\n\n" +
			"01:00:00.000 --> 01:00:01.000\nkaraoke <00:01.500>on <01:00:00.500>time\n",
		want: "WEBVTT\n\n00:00:01.000 --> 00:00:02.000 align:start position:10% line:0,start\n<v Roger Bingham>Hi</v> <c.yellow.bg_blue>there</c> <lang en-GB>colour</lang> <ruby>漢<rt>kan</rt></ruby>\n\n" +
			"01:00:00.000 --> 01:00:01.000\nkaraoke <00:00:01.500>on <01:00:00.500>time\n",
	}, {
		name: "webvtt: tags closed in order, annotations escaped, entities kept",
		in:   "WEBVTT\n\n00:00.000 --> 00:01.000\n<b><i>x</b> <v A&B \"q\">y</v> <v.loud A&amp;B>y</v> &lt;p&gt; &nbsp;&lrm; <lang>z</lang> 1 <2 3> 4\n",
		want: "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n<b><i>x</i></b> <v A&amp;B \"q\">y</v> <v.loud A&amp;B>y</v> &lt;p&gt; &nbsp;&lrm; z 1  4\n",
	}, {
		name: "webvtt header without its blank line, block without timing skipped",
		in:   "WEBVTT\n00:00.000 --> 00:01.000\nfirst\n\njust text\n\n00:02.000 --> 00:03.000\nsecond\n",
		want: "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nfirst\n\n00:00:02.000 --> 00:00:03.000\nsecond\n",
	}, {
		name: "an arrow in the text cannot start a cue",
		in:   "1\n00:00:01,000 --> 00:00:02,000\nleft --> right <v -->a</v> <c.x-->b</c>\n",
		want: "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nleft --&gt; right <v>a</v> <c.x>b</c>\n",
	}, {
		name: "controls and NULs go, tabs become spaces, <br> a new line",
		in:   "1\n00:00:01,000 --> 00:00:02,000\na\x00b\x1bc\td\u0085e\u2028f<br>g<BR/>h\n",
		want: "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nabc def\ng\nh\n",
	}, {
		name: "windows-1252",
		in:   "1\n00:00:01,000 --> 00:00:02,000\nCaf\xe9 \x93quoted\x94 \x80\n",
		want: "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nCafé “quoted” €\n",
	}, {
		name: "utf-16 with a byte order mark",
		in:   utf16le("1\r\n00:00:01,000 --> 00:00:02,000\r\nÜber\r\n"),
		want: "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nÜber\n",
	}, {
		name: "tags nest 16 deep",
		in:   "1\n00:00:01,000 --> 00:00:02,000\n" + strings.Repeat("<i>", 20) + "x" + strings.Repeat("</i>", 20) + "\n",
		want: "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n" + strings.Repeat("<i>", 16) + "x" + strings.Repeat("</i>", 16) + "\n",
	}, {
		name: "a cue whose text is only markup is dropped",
		in:   "1\n00:00:01,000 --> 00:00:02,000\n<script></script>\n\n2\n00:00:03,000 --> 00:00:04,000\nkept\n",
		want: "WEBVTT\n\n00:00:03.000 --> 00:00:04.000\nkept\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ToWebVTT(strings.NewReader(tc.in))
			if err != nil {
				t.Fatalf("ToWebVTT: %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			checkCleanVTT(t, got)
		})
	}
}

func TestToWebVTTRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, in, reason string
	}{
		{"empty", "", "the captions file has no cues"},
		{"only a header", "WEBVTT\n\nNOTE nothing\n", "the captions file has no cues"},
		{"only markup", "1\n00:00:01,000 --> 00:00:02,000\n<b></b>\n", "the captions file has no cues"},
		{"not captions", "%PDF-1.7\n1 0 obj\n", "line 1: expected a cue timing like 00:00:01,000 --> 00:00:02,000"},
		{"minutes past 59", "1\n00:61:00,000 --> 00:62:00,000\nx\n", `line 2: bad cue timing "00:61:00,000 --> 00:62:00,000"`},
		{"no fraction", "1\n00:00:01 --> 00:00:02\nx\n", `line 2: bad cue timing "00:00:01 --> 00:00:02"`},
		{"letters", "WEBVTT\n\n00:00.abc --> 00:01.000\nx\n", `line 3: bad cue timing "00:00.abc --> 00:01.000"`},
		{"no end", "1\n00:00:01,000 -->\nx\n", `line 2: a cue timing without an end: "00:00:01,000 -->"`},
		{"backwards", "1\n00:00:02,000 --> 00:00:01,000\nx\n", `line 2: a cue ends before it starts: "00:00:02,000 --> 00:00:01,000"`},
		{"WEBVTT is not a prefix of any word", "WEBVTTX\n\n00:00.000 --> 00:01.000\nx\n", "line 1: expected a cue timing"},
		{"oversize", "1\n00:00:01,000 --> 00:00:02,000\n" + strings.Repeat("x", MaxCaptions), "the captions file is larger than 1024 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ToWebVTT(strings.NewReader(tc.in))
			if err == nil {
				t.Fatalf("ToWebVTT succeeded:\n%s", got)
			}
			if r := reasonOf(t, err); !strings.HasPrefix(r, tc.reason) {
				t.Errorf("reason %q, want %q", r, tc.reason)
			}
		})
	}
	// The worst cue for the tag stack is fast.
	start := time.Now()
	cue := "1\n00:00:01,000 --> 00:00:02,000\n" + strings.Repeat("<b>x", 100_000) + strings.Repeat("</i>", 100_000)
	if _, err := ToWebVTT(strings.NewReader(cue)); err != nil {
		t.Errorf("deep tags: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("deep tags took %v", d)
	}
	// Exactly the cap is fine.
	in := "1\n00:00:01,000 --> 00:00:02,000\n"
	in += strings.Repeat("x", MaxCaptions-len(in))
	if _, err := ToWebVTT(strings.NewReader(in)); err != nil {
		t.Errorf("a file of exactly MaxCaptions: %v", err)
	}
}

var (
	allowedTag = regexp.MustCompile(`^<(/?(b|i|u|ruby|rt)|(b|i|u|c|v|lang|ruby|rt)(\.[A-Za-z0-9_-]+)*( [^<>\n]*)?|/(c|v|lang)|\d{2,}:\d{2}:\d{2}\.\d{3})>`)
	timing     = regexp.MustCompile(`^\d{2,}:\d{2}:\d{2}\.\d{3} --> \d{2,}:\d{2}:\d{2}\.\d{3}( [a-z]+:[A-Za-z0-9.%,-]+)*$`)
)

// checkCleanVTT fails t unless out is WebVTT as ToWebVTT promises it:
// cues of a timing and text, only WebVTT's tags, no raw & or >, no control
// characters, and ToWebVTT's own fixed point.
func checkCleanVTT(t tester, out []byte) {
	t.Helper()
	s := string(out)
	body, ok := strings.CutPrefix(s, "WEBVTT\n\n")
	if !ok {
		t.Fatalf("no WEBVTT header: %q", s)
	}
	for _, block := range strings.Split(strings.TrimSuffix(body, "\n"), "\n\n") {
		lines := strings.Split(block, "\n")
		if !timing.MatchString(lines[0]) {
			t.Errorf("bad timing line %q", lines[0])
		}
		if len(lines) < 2 {
			t.Errorf("cue without text: %q", block)
		}
		for _, l := range lines[1:] {
			if strings.TrimSpace(l) == "" || strings.Contains(l, "-->") {
				t.Errorf("text line %q would end the cue", l)
			}
			for i := 0; i < len(l); i++ {
				switch l[i] {
				case '<':
					if !allowedTag.MatchString(l[i:]) {
						t.Errorf("not a WebVTT tag at %q", l[i:])
					}
					i += strings.IndexByte(l[i:], '>')
				case '>':
					t.Errorf("raw > in %q", l)
				case '&':
					if entity(l[i:]) == "" {
						t.Errorf("raw & in %q", l)
					}
				}
			}
		}
	}
	for _, r := range s {
		if r < 0x20 && r != '\n' || r == 0x7f || r == '\uFFFD' {
			t.Errorf("control character %U in output", r)
		}
	}
	if strings.Contains(strings.ToLower(s), "<script") || strings.Contains(strings.ToLower(s), "<style") {
		t.Errorf("markup survived: %q", s)
	}
	again, err := ToWebVTT(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("ToWebVTT of its own output: %v", err)
	}
	if !bytes.Equal(again, out) {
		t.Errorf("not a fixed point:\n%q\n%q", out, again)
	}
}

// TestToWebVTTProperty feeds ToWebVTT text made of the tokens that matter
// (tags, entities, arrows, timings, keywords, line ends) and checks every
// output it accepts.
func TestToWebVTTProperty(t *testing.T) {
	tokens := []string{
		"WEBVTT", "WEBVTT\n", "NOTE ", "STYLE\n", "REGION\n", "1\n", "\n", "\r\n", "\r", "\n\n", " ", "\t", "\x00", "\x1b", "\uFEFF",
		"00:00:01,000 --> 00:00:02,000", "00:01.000 --> 00:02.000 align:start", "-->", "--", "-", ">", "<", "&", ";",
		"<b>", "</b>", "<i>", "</i>", "<u>", "<c.x>", "</c>", "<v Name>", "<v", "</v>", "<lang en>", "</lang>", "<ruby>", "<rt>", "</rt>",
		"<script>", "</script>", "<font color=red>", "<br>", "<00:00:01.500>", "<b.", "&amp;", "&lt;", "&gt;", "&nbsp;", "&#60;",
		"a", "text", "é", "漢", "\xe9", "\xff",
	}
	rapid.Check(t, func(rt *rapid.T) {
		parts := rapid.SliceOfN(rapid.SampledFrom(tokens), 0, 60).Draw(rt, "parts")
		in := strings.Join(parts, "")
		if rapid.Bool().Draw(rt, "srt-cue-first") {
			in = "1\n00:00:01,000 --> 00:00:02,000\n" + in
		}
		out, err := ToWebVTT(strings.NewReader(in))
		if err != nil {
			reasonOf(rt, err)
			return
		}
		checkCleanVTT(rt, out)
	})
}

func FuzzToWebVTT(f *testing.F) {
	f.Add("1\n00:00:01,000 --> 00:00:02,000\n<b>x</b> <script>y</script>\n")
	f.Add("WEBVTT\n\nSTYLE\n::cue{}\n\n00:01.000 --> 00:02.000 align:start\n<v A>x</v>\n")
	f.Fuzz(func(t *testing.T, in string) {
		out, err := ToWebVTT(strings.NewReader(in))
		if err != nil {
			reasonOf(t, err)
			return
		}
		checkCleanVTT(t, out)
	})
}
