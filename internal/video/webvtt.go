package video

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxCaptions is the largest captions file ToWebVTT reads: some hours of
// dialogue.
const MaxCaptions = 1 << 20

// ToWebVTT reads captions in WebVTT or SubRip (SRT) and returns clean
// WebVTT: every timing checked and written canonically (SRT's commas become
// dots, its cue numbers and WebVTT's cue identifiers go), UTF-8 (from
// UTF-16 with a byte order mark, or Windows-1252 when it is not UTF-8),
// without control characters, without STYLE, REGION and NOTE blocks (no
// CSS from users), and with cue text that holds only WebVTT's own tags
// (b, i, u, c, v, lang, ruby, rt and timestamps), rebuilt from what was
// parsed, and every other <, > and & escaped: no <script> or <font>
// survives, their text does. A file that is larger than MaxCaptions, has a
// timing that does not parse or has no cue is an *Error matching
// ErrBadInput whose Reason names the line.
func ToWebVTT(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxCaptions+1))
	if err != nil {
		return nil, &Error{Op: "captions", Reason: "the captions could not be read", Detail: err.Error(), Err: err}
	}
	if len(data) > MaxCaptions {
		return nil, badInput("captions", fmt.Sprintf("the captions file is larger than %d KiB", MaxCaptions>>10), "")
	}
	lines := strings.Split(cleanText(data), "\n")
	vtt := isWebVTTHeader(lines[0])
	i := 0
	if vtt {
		// The header block: "WEBVTT", then lines up to a blank one. A
		// cue timing there starts the cues (a missing blank line).
		for i = 1; i < len(lines) && strings.TrimSpace(lines[i]) != "" && !strings.Contains(lines[i], "-->"); i++ {
		}
	}
	var cues []*cue
	for i < len(lines) {
		if strings.TrimSpace(lines[i]) == "" {
			i++
			continue
		}
		first := i
		for i < len(lines) && strings.TrimSpace(lines[i]) != "" {
			i++
		}
		c, err := parseBlock(lines[first:i], first+1, vtt)
		if err != nil {
			return nil, err
		}
		switch {
		case c == nil:
		case c.text == nil && !vtt && len(cues) > 0:
			// A blank line inside an SRT cue's text.
			last := cues[len(cues)-1]
			last.text = append(last.text, lines[first:i]...)
		case c.text == nil && !vtt && !allDigits(lines[first:i]):
			return nil, badInput("captions", fmt.Sprintf("line %d: expected a cue timing like 00:00:01,000 --> 00:00:02,000", first+1), "")
		case c.text != nil:
			cues = append(cues, c)
		}
	}
	var out bytes.Buffer
	out.WriteString("WEBVTT\n")
	n := 0
	for _, c := range cues {
		text := sanitizeCue(strings.Join(c.text, "\n"))
		if !visible(text) {
			continue
		}
		n++
		fmt.Fprintf(&out, "\n%s --> %s", formatTime(c.start), formatTime(c.end))
		if c.settings != "" {
			out.WriteString(" " + c.settings)
		}
		out.WriteString("\n" + text + "\n")
	}
	if n == 0 {
		return nil, badInput("captions", "the captions file has no cues", "")
	}
	return out.Bytes(), nil
}

type cue struct {
	start, end int64 // milliseconds
	settings   string
	text       []string // nil: a block without a timing
}

// parseBlock parses the lines of one block, the first being line number
// at. It returns nil for blocks that are dropped, and a cue with nil text
// for a block without a timing.
func parseBlock(block []string, at int, vtt bool) (*cue, error) {
	if vtt {
		for _, kw := range []string{"NOTE", "STYLE", "REGION"} {
			if rest, ok := strings.CutPrefix(block[0], kw); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
				return nil, nil
			}
		}
	}
	t := -1
	switch {
	case strings.Contains(block[0], "-->"):
		t = 0
	case len(block) > 1 && strings.Contains(block[1], "-->"):
		t = 1 // after a cue number or identifier
	default:
		if vtt {
			return nil, nil // WebVTT parsers skip such a block too
		}
		return &cue{}, nil
	}
	c, err := parseTiming(block[t], vtt)
	if err != nil {
		return nil, badInput("captions", fmt.Sprintf("line %d: %v", at+t, err), "")
	}
	c.text = append([]string{}, block[t+1:]...)
	return c, nil
}

func parseTiming(line string, vtt bool) (*cue, error) {
	left, right, _ := strings.Cut(line, "-->")
	fields := strings.Fields(right)
	if len(fields) == 0 {
		return nil, fmt.Errorf("a cue timing without an end: %s", quote(line))
	}
	start, ok1 := parseTime(strings.TrimSpace(left))
	end, ok2 := parseTime(fields[0])
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("bad cue timing %s", quote(line))
	}
	if end < start {
		return nil, fmt.Errorf("a cue ends before it starts: %s", quote(line))
	}
	c := &cue{start: start, end: end}
	if vtt {
		c.settings = cleanSettings(fields[1:])
	}
	return c, nil
}

// quote is a line for an error message, cut short.
func quote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 60 {
		s = strings.ToValidUTF8(s[:60], "") + "..."
	}
	return strconv.Quote(s)
}

// parseTime reads [h:]mm:ss.ttt, with SRT's leniency: a comma for the dot,
// one-digit fields, one to three digits of fraction.
func parseTime(s string) (int64, bool) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, false
	}
	var h int64
	if len(parts) == 3 {
		v, ok := digits(parts[0], 1, 5)
		if !ok {
			return 0, false
		}
		h = v
		parts = parts[1:]
	}
	m, ok := digits(parts[0], 1, 2)
	if !ok || m > 59 {
		return 0, false
	}
	sec, frac, found := strings.Cut(parts[1], ".")
	if !found {
		sec, frac, found = strings.Cut(parts[1], ",")
	}
	if !found {
		return 0, false
	}
	sv, ok := digits(sec, 1, 2)
	if !ok || sv > 59 {
		return 0, false
	}
	fv, ok := digits(frac, 1, 3)
	if !ok {
		return 0, false
	}
	for n := len(frac); n < 3; n++ {
		fv *= 10
	}
	return ((h*60+m)*60+sv)*1000 + fv, true
}

func digits(s string, min, max int) (int64, bool) {
	if len(s) < min || len(s) > max {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + int64(s[i]-'0')
	}
	return v, true
}

func formatTime(ms int64) string {
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3600000, ms/60000%60, ms/1000%60, ms%1000)
}

func allDigits(lines []string) bool {
	for _, l := range lines {
		if _, ok := digits(strings.TrimSpace(l), 1, 10); !ok {
			return false
		}
	}
	return true
}

// cleanSettings keeps the cue settings a browser positions by, with values
// of plain characters. region goes with the REGION blocks.
func cleanSettings(fields []string) string {
	var kept []string
	for _, f := range fields {
		name, value, ok := strings.Cut(f, ":")
		if !ok || value == "" || !plain(value, ".%,-") {
			continue
		}
		switch name {
		case "vertical", "line", "position", "size", "align":
			kept = append(kept, name+":"+value)
		}
	}
	return strings.Join(kept, " ")
}

// plain reports whether s is ASCII letters and digits and the extra bytes.
func plain(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return s != ""
}

func isWebVTTHeader(line string) bool {
	rest, ok := strings.CutPrefix(line, "WEBVTT")
	return ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t')
}

// cleanText decodes data to UTF-8 with "\n" line ends, without a byte
// order mark or control characters other than newlines (tabs become
// spaces).
func cleanText(data []byte) string {
	var s string
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		s = string(data[3:])
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		be := data[0] == 0xFE
		data = data[2:]
		u := make([]uint16, len(data)/2)
		for i := range u {
			if be {
				u[i] = uint16(data[2*i])<<8 | uint16(data[2*i+1])
			} else {
				u[i] = uint16(data[2*i+1])<<8 | uint16(data[2*i])
			}
		}
		s = string(utf16.Decode(u))
	case utf8.Valid(data):
		s = string(data)
	default:
		s = windows1252(data)
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case r == '\t':
			return ' '
		case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0, r == '\uFEFF', r == '\u2028', r == '\u2029', r == utf8.RuneError:
			return -1
		}
		return r
	}, s)
}

// cp1252 is where Windows-1252 differs from Latin-1 (0x80 to 0x9F).
var cp1252 = [32]rune{
	'€', 0, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0, 'Ž', 0,
	0, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0, 'ž', 'Ÿ',
}

func windows1252(data []byte) string {
	var b strings.Builder
	for _, c := range data {
		switch {
		case c < 0x80:
			b.WriteByte(c)
		case c < 0xa0:
			if r := cp1252[c-0x80]; r != 0 {
				b.WriteRune(r)
			}
		default:
			b.WriteRune(rune(c))
		}
	}
	return b.String()
}

// maxDepth is how deeply tags nest in a cue; deeper ones go, so that a
// closing tag's search of the open ones stays short.
const maxDepth = 16

// cueTags are WebVTT's cue text tags.
var cueTags = map[string]bool{"b": true, "i": true, "u": true, "c": true, "v": true, "lang": true, "ruby": true, "rt": true}

// sanitizeCue rebuilds cue text with WebVTT's tags only, closed in order,
// every other <, > and & escaped, and no blank line (which would end the
// cue). Its output is its own fixed point.
func sanitizeCue(text string) string {
	var b strings.Builder
	var open []string
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == '<':
			end := strings.IndexAny(text[i+1:], "<>\n")
			if end <= 0 || text[i+1+end] != '>' || text[i+1] == ' ' {
				b.WriteString("&lt;")
				break
			}
			b.WriteString(cueTag(text[i+1:i+1+end], &open))
			i += end + 2
			continue
		case c == '>':
			b.WriteString("&gt;")
		case c == '&':
			if e := entity(text[i:]); e != "" {
				b.WriteString(e)
				i += len(e)
				continue
			}
			b.WriteString("&amp;")
		default:
			b.WriteByte(c)
		}
		i++
	}
	for j := len(open) - 1; j >= 0; j-- {
		b.WriteString("</" + open[j] + ">")
	}
	var lines []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.TrimSpace(l) != "" {
			// Cannot happen (every > is a tag's or escaped, and no tag
			// ends in "--"), but a "-->" would end the cue.
			lines = append(lines, strings.ReplaceAll(l, "-->", "--&gt;"))
		}
	}
	return strings.Join(lines, "\n")
}

// visible reports whether sanitized cue text shows anything but tags and
// spaces.
func visible(text string) bool {
	for text != "" {
		i := strings.IndexByte(text, '<')
		if i < 0 {
			return strings.TrimSpace(text) != ""
		}
		if strings.TrimSpace(text[:i]) != "" {
			return true
		}
		j := strings.IndexByte(text[i:], '>')
		if j < 0 {
			return true
		}
		text = text[i+j+1:]
	}
	return false
}

// escapeText escapes <, > and every & that does not start a character
// reference.
func escapeText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '<':
			b.WriteString("&lt;")
		case c == '>':
			b.WriteString("&gt;")
		case c == '&' && entity(s[i:]) == "":
			b.WriteString("&amp;")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// entity is the WebVTT character reference s starts with, or "".
func entity(s string) string {
	for _, e := range []string{"&amp;", "&lt;", "&gt;", "&lrm;", "&rlm;", "&nbsp;"} {
		if strings.HasPrefix(s, e) {
			return e
		}
	}
	return ""
}

// cueTag rebuilds the tag whose text between < and > is t, tracking the
// open tags, or drops it ("" for <script>, a newline for SRT's <br>).
func cueTag(t string, open *[]string) string {
	if name, ok := strings.CutPrefix(t, "/"); ok {
		name = strings.ToLower(strings.TrimSpace(name))
		name, _, _ = strings.Cut(name, ".")
		for j := len(*open) - 1; j >= 0; j-- {
			if (*open)[j] == name {
				var s string
				for k := len(*open) - 1; k >= j; k-- {
					s += "</" + (*open)[k] + ">"
				}
				*open = (*open)[:j]
				return s
			}
		}
		return ""
	}
	if ms, ok := parseTime(t); ok && strings.Contains(t, ".") {
		return "<" + formatTime(ms) + ">" // a karaoke timestamp
	}
	head, annotation, _ := strings.Cut(t, " ") // cleanText made tabs spaces
	parts := strings.Split(head, ".")
	name := strings.ToLower(parts[0])
	if name == "br" || name == "br/" {
		return "\n"
	}
	if !cueTags[name] || len(*open) >= maxDepth {
		return ""
	}
	s := "<" + name
	for _, class := range parts[1:] {
		if class = strings.TrimRight(class, "-"); plain(class, "_-") {
			s += "." + class
		}
	}
	annotation = strings.TrimRight(strings.TrimSpace(annotation), "- ")
	switch name {
	case "v":
		if annotation != "" {
			s += " " + escapeText(annotation)
		}
	case "lang":
		if !plain(annotation, "-") {
			return "" // a language tag without a language
		}
		s += " " + annotation
	}
	*open = append(*open, name)
	return s + ">"
}
