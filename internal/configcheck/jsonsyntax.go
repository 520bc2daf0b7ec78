package configcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode/utf8"
)

// LooksJSON reports whether data is meant as JSON: its first character
// other than white space is '{' or '[' (or it starts with a UTF-8 byte order
// mark, which only a JSON editor writes and JSON does not allow).
func LooksJSON(data []byte) bool {
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		return true
	}
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

// JSONSyntax returns the first syntax error of the JSON text data as a
// Problem at its line and column (1-based; the column counts characters),
// and false when data is one well-formed JSON value. The message starts
// with "not valid JSON: ", never with YAML's: JSON text is judged as JSON.
func JSONSyntax(data []byte) (Problem, bool) {
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		return Problem{Line: 1, Column: 1, Msg: "not valid JSON: the file starts with a UTF-8 byte order mark, which JSON does not allow"}, true
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var v any
	err := dec.Decode(&v)
	if err == nil {
		// One value, then nothing but white space.
		if start := firstNonSpace(data, int(dec.InputOffset())); start < len(data) {
			line, col := lineCol(data, start)
			return Problem{Line: line, Column: col, Msg: "not valid JSON: more than one value; expected one object"}, true
		}
		return Problem{}, false
	}
	var se *json.SyntaxError
	var off int64
	msg := err.Error()
	switch {
	case errors.As(err, &se):
		// Offset counts the bytes read, the bad one included.
		off = max(se.Offset-1, 0)
		msg = se.Error()
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		off = int64(len(bytes.TrimRight(data, " \t\r\n")))
		msg = "unexpected end of the file (an object or list is not closed)"
	}
	line, col := lineCol(data, int(off))
	return Problem{Line: line, Column: col, Msg: "not valid JSON: " + strings.TrimPrefix(msg, "json: ")}, true
}

func firstNonSpace(data []byte, from int) int {
	for from < len(data) && strings.IndexByte(" \t\r\n", data[from]) >= 0 {
		from++
	}
	return from
}

// lineCol returns the 1-based line and column (in characters) of byte
// offset off of data.
func lineCol(data []byte, off int) (line, col int) {
	off = min(off, len(data))
	before := data[:off]
	line = 1 + bytes.Count(before, []byte("\n"))
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCount(before[lineStart:]) + 1
}

// jsonSyntaxProblems returns the syntax error of data when it is JSON text
// that does not parse, else nil.
func jsonSyntaxProblems(data []byte) []Problem {
	if !LooksJSON(data) {
		return nil
	}
	if p, bad := JSONSyntax(data); bad {
		return []Problem{p}
	}
	return nil
}
