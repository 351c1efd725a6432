package script

import (
	"bytes"
	"unicode/utf8"
)

// maxRecordBytes bounds one line of scripts.log. A longer line (a script printing megabytes with
// no newline) is split over several log lines, the later ones tagged as continuations, so memory
// stays bounded and the log stays line-oriented.
const maxRecordBytes = 16 << 10

// splitter cuts one output stream into records. CR, LF and CRLF all end a line: progress bars
// that redraw with CR then read as one line per update instead of one unreadable line.
type splitter struct {
	buf     []byte
	cont    bool // the next record continues a line already emitted in part
	afterCR bool // a LF right after a CR ends no new line
	emit    func(text []byte, cont bool)
}

func (s *splitter) write(p []byte) {
	for len(p) > 0 {
		if s.afterCR {
			s.afterCR = false
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			s.buf = append(s.buf, p...)
			s.cutLong()
			return
		}
		s.buf = append(s.buf, p[:i]...)
		s.afterCR = p[i] == '\r'
		p = p[i+1:]
		s.cutLong()
		s.emit(s.buf, s.cont)
		s.buf = s.buf[:0]
		s.cont = false
	}
}

// flush emits a last line that had no line ending.
func (s *splitter) flush() {
	if len(s.buf) > 0 {
		s.emit(s.buf, s.cont)
		s.buf = s.buf[:0]
		s.cont = false
	}
}

func (s *splitter) cutLong() {
	for len(s.buf) > maxRecordBytes {
		n := runeCut(s.buf[:maxRecordBytes])
		s.emit(s.buf[:n], s.cont)
		s.cont = true
		s.buf = s.buf[:copy(s.buf, s.buf[n:])]
	}
}

// runeCut returns how much of b to emit so that a multi-byte character is not split between two
// records (which would turn it into two replacement characters).
func runeCut(b []byte) int {
	for i := len(b) - 1; i > 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return len(b)
			}
			return i
		}
	}
	return len(b)
}

// tail keeps the last output of a script for the failure diagnostics: whole lines whose total
// fits in max bytes, except that the very last line is always kept, cut to its last max bytes.
// A line's continuation records are joined back to it, so "the last line" means the line the
// script printed, not the last log record.
type tail struct {
	max   int
	lines []tailLine
	size  int
}

type tailLine struct {
	stream    string
	text      []byte
	truncated bool
}

func (l tailLine) size() int {
	return len("[] \n") + len(l.stream) + len(l.text)
}

func (t *tail) add(stream string, text []byte, cont bool) {
	i := -1
	if cont {
		for j := len(t.lines) - 1; j >= 0; j-- {
			if t.lines[j].stream == stream {
				i = j
				break
			}
		}
	}
	if i < 0 {
		// A continuation whose start was already dropped is a truncated line in its own right.
		t.lines = append(t.lines, tailLine{stream: stream, truncated: cont})
		t.size += t.lines[len(t.lines)-1].size()
		i = len(t.lines) - 1
	}
	l := &t.lines[i]
	t.size -= l.size()
	l.text = append(l.text, text...)
	if len(l.text) > t.max {
		cut := len(l.text) - t.max
		for cut < len(l.text) && !utf8.RuneStart(l.text[cut]) {
			cut++
		}
		// Copy so the dropped front is not kept alive by the backing array.
		l.text = append([]byte(nil), l.text[cut:]...)
		l.truncated = true
	}
	t.size += l.size()

	drop := 0
	for t.size > t.max && drop < len(t.lines)-1 {
		t.size -= t.lines[drop].size()
		drop++
	}
	t.lines = t.lines[drop:]
}

func (t *tail) String() string {
	var b bytes.Buffer
	for _, l := range t.lines {
		b.WriteString("[" + l.stream + "] ")
		if l.truncated {
			b.WriteString("[truncated] ")
		}
		b.Write(l.text)
		b.WriteByte('\n')
	}
	return b.String()
}
