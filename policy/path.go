package policy

import "unicode/utf8"

// Details of bad_path denials.
const (
	detailPathNotAbsolute  = "the path must start with '/'"
	detailPathBadChar      = "the path contains a character that must be percent-encoded"
	detailPathBadEscape    = "the path contains an invalid percent-encoding"
	detailPathEncodedSlash = "the path contains an encoded slash or backslash"
	detailPathEscapesRoot  = "the path escapes the root with '..'"
	detailPathDotParam     = "the path contains a dot segment with parameters"
	detailPathFragment     = "the path contains '#': a fragment is never sent to a server"
	detailPathBadUTF8      = "the path contains percent-encoded bytes that are not valid UTF-8"
)

// splitPathQuery splits a :path into the path and the query (without '?').
func splitPathQuery(s string) (path, query string, hasQuery bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '?' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// normalizePath returns the form of path used for route matching:
// percent-encoded unreserved characters decoded (other escapes kept, with
// upper-case hex), empty segments merged and "." and ".." segments resolved.
// A trailing slash is kept. When path is rejected, bad is the reason and
// norm is empty. A path that needs no change is returned as is, without
// allocating.
//
// Rejected: a path not starting with '/'; raw bytes outside visible ASCII, a
// raw backslash or '#'; invalid percent-escapes; escapes that decode to
// invalid UTF-8 (such as the overlong %C0%AE, which lenient decoders turn
// into '.'); an escaped '/' or '\'; ".." above
// the root; "." or ".." followed by ";" (parameters that some servers strip,
// which would resolve the dots behind our back).
func normalizePath(path string) (norm, bad string) {
	if len(path) == 0 || path[0] != '/' {
		return "", detailPathNotAbsolute
	}
	slow := false
	segStart := 1
	for i := 1; i <= len(path); i++ {
		if i < len(path) {
			c := path[i]
			if c < 0x21 || c > 0x7e || c == '\\' {
				return "", detailPathBadChar
			}
			if c == '#' {
				return "", detailPathFragment
			}
			if c == '%' {
				slow = true
			}
			if c != '/' {
				continue
			}
		}
		seg := path[segStart:i]
		if seg == "" && i < len(path) {
			slow = true // "//"
		} else if len(seg) > 0 && seg[0] == '.' && isDotSegment(seg) {
			slow = true
		}
		segStart = i + 1
	}
	if !slow {
		return path, ""
	}
	return normalizeSlow(path)
}

// isDotSegment reports whether seg is ".", ".." or one of them followed by
// ';' and parameters.
func isDotSegment(seg string) bool {
	for i := 0; i < len(seg); i++ {
		if seg[i] == ';' {
			seg = seg[:i]
			break
		}
	}
	return seg == "." || seg == ".."
}

// normalizeSlow is the allocating part of normalizePath.
func normalizeSlow(path string) (string, string) {
	out := make([]byte, 0, len(path))
	var startsBuf [32]int
	starts := startsBuf[:0] // start offsets of the kept segments in out
	rest := path[1:]
	for {
		raw, last := rest, true
		for i := 0; i < len(rest); i++ {
			if rest[i] == '/' {
				raw, rest, last = rest[:i], rest[i+1:], false
				break
			}
		}
		out = append(out, '/')
		start := len(out)
		var bad string
		if out, bad = appendSegment(out, raw); bad != "" {
			return "", bad
		}
		seg := string(out[start:])
		switch {
		case seg == "":
			if !last {
				out = out[:start-1] // merge "//"
			}
		case seg == ".":
			if last {
				out = out[:start] // keep the trailing slash
			} else {
				out = out[:start-1]
			}
		case seg == "..":
			if len(starts) == 0 {
				return "", detailPathEscapesRoot
			}
			prev := starts[len(starts)-1]
			starts = starts[:len(starts)-1]
			out = out[:prev]
			if !last {
				out = out[:prev-1]
			}
		case isDotSegment(seg):
			return "", detailPathDotParam
		default:
			starts = append(starts, start)
		}
		if last {
			break
		}
	}
	if len(out) == 0 {
		return "/", ""
	}
	return string(out), ""
}

// appendSegment appends the raw path segment to out with its escapes
// normalized: unreserved characters decoded, the others kept with upper-case
// hex. bad is the problem of a segment that is rejected.
func appendSegment(out []byte, raw string) (_ []byte, bad string) {
	// The bytes of a multi-byte UTF-8 sequence decoded so far: they must
	// be consecutive escapes forming one valid sequence.
	var seq [utf8.UTFMax]byte
	nseq := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '%' {
			if c < 0x21 || c > 0x7e || c == '\\' {
				return nil, detailPathBadChar
			}
			if nseq > 0 {
				return nil, detailPathBadUTF8
			}
			out = append(out, c)
			continue
		}
		if i+2 >= len(raw) || unhex(raw[i+1]) < 0 || unhex(raw[i+2]) < 0 {
			return nil, detailPathBadEscape
		}
		v := byte(unhex(raw[i+1])<<4 | unhex(raw[i+2]))
		i += 2
		if v >= utf8.RuneSelf {
			seq[nseq] = v
			nseq++
			if utf8.FullRune(seq[:nseq]) {
				if r, size := utf8.DecodeRune(seq[:nseq]); r == utf8.RuneError && size <= 1 || size != nseq {
					return nil, detailPathBadUTF8
				}
				nseq = 0
			}
		} else if nseq > 0 {
			return nil, detailPathBadUTF8
		}
		switch {
		case v == '/' || v == '\\':
			return nil, detailPathEncodedSlash
		case isUnreserved(v):
			out = append(out, v)
		default:
			out = append(out, '%', upperHex[v>>4], upperHex[v&15])
		}
	}
	if nseq > 0 {
		return nil, detailPathBadUTF8 // a sequence cut short
	}
	return out, ""
}

const upperHex = "0123456789ABCDEF"

// unhex returns the value of a hex digit, or -1.
func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// isUnreserved reports whether c is an RFC 3986 unreserved character.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
