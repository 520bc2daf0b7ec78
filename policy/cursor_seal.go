// Sealed pagination cursors: everything about pagination.<name>.cursor_seal
// lives in this file, from reading the section to sealing a back end's
// cursor in a response and opening it again in the next request.
//
// A sealed cursor is base64url (no padding) of
//
//	version (1 byte, 1) | nonce (12 bytes) | AES-256-GCM(expiry | cursor)
//
// where expiry is the Unix second after which the cursor is refused (8
// bytes, big-endian) and the additional data binds the token to the route
// and the consumer: "apiguard-cursor-v1" 0 route 0 consumer. A client can
// neither read the back end's cursor, nor change it, nor use it on another
// route, as another consumer or after its expiry.

package policy

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// Bounds of cursor_seal's values.
const (
	minSealLifetime    = time.Second
	maxSealLifetime    = 30 * 24 * time.Hour
	defaultSealMaxBody = 1 << 20
	maxSealMaxBody     = 16 << 20
	maxSealFields      = 16
	sealVersion        = 1
	sealNonce          = 12
	sealOverhead       = 1 + sealNonce + 8 + 16 // version, nonce, expiry, tag
	sealAADPrefix      = "apiguard-cursor-v1\x00"
)

// CursorSeal is a compiled cursor_seal section: the keys and what to seal.
// It is immutable once the policy is in use (BindCursorKeys runs before).
type CursorSeal struct {
	param    string // the profile's cursor_param
	fields   []string
	link     bool
	lifetime time.Duration
	maxBody  int
	// keyEnv and previousKeyEnv name the VM environment variables of the
	// keys, at keyEnvPath and previousKeyEnvPath; inline keys are in aead
	// directly.
	keyEnv, previousKeyEnv         string
	keyEnvPath, previousKeyEnvPath jsonPath
	// aead[0] seals and opens; aead[1], during a rotation, only opens.
	aead [2]cipher.AEAD
	// detail is the bad_pagination detail of a cursor that does not open.
	detail string
}

// MaxBody is the largest response body the filter buffers to seal.
func (s *CursorSeal) MaxBody() int { return s.maxBody }

// SealsBody reports whether response_fields lists any field.
func (s *CursorSeal) SealsBody() bool { return len(s.fields) > 0 }

// SealsLink reports whether link_header is on.
func (s *CursorSeal) SealsLink() bool { return s.link }

// Param is the cursor parameter.
func (s *CursorSeal) Param() string { return s.param }

// sealParse is cursor_seal being read, with the paths its checks name.
type sealParse struct {
	s                                *CursorSeal
	keyPath, prevKeyPath, fieldsPath jsonPath
	inline, inlinePrev               []byte
	hasFields, emptyFields           bool
}

// cursorSealFields are pagination.<name>.cursor_seal's.
var cursorSealFields = schema[sealParse]{docPath: "pagination.<name>.cursor_seal.", docPage: "configuration.md", fields: []field[sealParse]{
	{name: "response_fields", read: func(ps *parser, p jsonPath, v gjson.Result, sp *sealParse) bool {
		sp.hasFields, sp.fieldsPath = true, p
		sp.emptyFields = v.IsArray() && len(v.Array()) == 0
		sp.s.fields, _ = ps.strList(p, v, ps.checkSealField)
		if len(sp.s.fields) > maxSealFields {
			ps.add(p, "must list at most "+strconv.Itoa(maxSealFields)+" fields")
		}
		return true
	}, doc: "the fields of a JSON response whose values are cursors"},
	{name: "link_header", read: readBool(func(sp *sealParse) *bool { return &sp.s.link }), def: "false",
		doc: "also seal the cursors of the Link header"},
	{name: "lifetime", read: func(ps *parser, p jsonPath, v gjson.Result, sp *sealParse) bool {
		if str, ok := ps.str(p, v); ok {
			d, err := time.ParseDuration(str)
			if err != nil || d < minSealLifetime || d > maxSealLifetime {
				ps.add(p, "must be a duration between 1s and 720h such as \"1h\", got "+quote(str))
			} else {
				sp.s.lifetime = d
			}
		}
		return true
	}, def: `"1h"`, doc: "how long a sealed cursor opens"},
	{name: "key_env", read: readSealKeyEnv(0), doc: "the VM environment variable holding the key"},
	{name: "previous_key_env", read: readSealKeyEnv(1), doc: "the variable holding the previous key, during a rotation"},
	{name: "key", read: readSealKey(0), doc: "the key inline, for tests"},
	{name: "previous_key", read: readSealKey(1), doc: "the previous key inline, for tests"},
	{name: "max_body", read: func(ps *parser, p jsonPath, v gjson.Result, sp *sealParse) bool {
		if n, ok := ps.integer(p, v, 1, maxSealMaxBody); ok {
			sp.s.maxBody = int(n)
		}
		return true
	}, def: strconv.Itoa(defaultSealMaxBody), doc: "the largest response body buffered to seal"},
}}

// readSealKeyEnv reads key_env (slot 0) or previous_key_env (slot 1).
func readSealKeyEnv(slot int) func(ps *parser, p jsonPath, v gjson.Result, sp *sealParse) bool {
	return func(ps *parser, p jsonPath, v gjson.Result, sp *sealParse) bool {
		if str, ok := ps.str(p, v); ok {
			if !isEnvName(str) {
				ps.add(p, "must be an environment variable name (letters, digits and _, not starting with a digit), got "+quote(str))
			}
			if slot == 0 {
				sp.s.keyEnv, sp.s.keyEnvPath = ps.keep(str), p
			} else {
				sp.s.previousKeyEnv, sp.s.previousKeyEnvPath = ps.keep(str), p
			}
		}
		return true
	}
}

// readSealKey reads key (slot 0) or previous_key (slot 1).
func readSealKey(slot int) func(ps *parser, p jsonPath, v gjson.Result, sp *sealParse) bool {
	env := [2]string{"key_env", "previous_key_env"}[slot]
	return func(ps *parser, p jsonPath, v gjson.Result, sp *sealParse) bool {
		if str, ok := ps.str(p, v); ok {
			k, ok := decodeSealKey(str)
			if !ok {
				ps.add(p, "must be a 256-bit key: 64 hex digits or 43 base64url characters")
			}
			ps.warn(p, "the cursor key is inline in the configuration: for tests only; give it through the VM environment ("+env+")")
			if slot == 0 {
				sp.inline, sp.keyPath = k, p
			} else {
				sp.inlinePrev, sp.prevKeyPath = k, p
			}
		}
		return true
	}
}

// parseCursorSeal reads pagination.<name>.cursor_seal.
func (ps *parser) parseCursorSeal(path jsonPath, v gjson.Result) *CursorSeal {
	sp := sealParse{s: &CursorSeal{}}
	if !readObject(ps, &cursorSealFields, path, v, &sp) {
		return nil
	}
	s := sp.s
	switch {
	case !sp.hasFields && !s.link:
		ps.add(path, "must seal something: response_fields, link_header or both")
	case sp.emptyFields && !s.link:
		ps.add(sp.fieldsPath, "must list at least one field (or set link_header)")
	}
	switch {
	case sp.keyPath.isZero() && s.keyEnv == "":
		ps.add(path.member("key_env"), "is required (or key, for tests)")
	case !sp.keyPath.isZero() && s.keyEnv != "":
		ps.add(sp.keyPath, "must not be given with key_env")
	}
	if !sp.prevKeyPath.isZero() && s.previousKeyEnv != "" {
		ps.add(sp.prevKeyPath, "must not be given with previous_key_env")
	}
	if sp.inline != nil {
		s.aead[0] = newSealAEAD(sp.inline)
	}
	if sp.inlinePrev != nil {
		s.aead[1] = newSealAEAD(sp.inlinePrev)
	}
	// The filter compiles with the VM's environment (CompileWith): a key
	// missing from it or malformed fails the start with the rest.
	if ps.lookupEnv != nil {
		ps.bindSealKey(s, ps.lookupEnv, s.keyEnv, s.keyEnvPath, 0)
		ps.bindSealKey(s, ps.lookupEnv, s.previousKeyEnv, s.previousKeyEnvPath, 1)
	}
	return s
}

// bindSealKey reads the key in the environment variable name (none when
// "") into slot of s, or reports the problem at path.
func (ps *parser) bindSealKey(s *CursorSeal, getenv func(string) (string, bool), name string, path jsonPath, slot int) {
	if name == "" || !isEnvName(name) {
		return
	}
	v, ok := getenv(name)
	if !ok || v == "" {
		ps.add(path, "environment variable "+strconv.Quote(name)+" is not set in the VM (Envoy: vm_config.environment_variables)")
		return
	}
	k, ok := decodeSealKey(v)
	if !ok {
		ps.add(path, "environment variable "+strconv.Quote(name)+" does not hold a 256-bit key (64 hex digits or 43 base64url characters)")
		return
	}
	s.aead[slot] = newSealAEAD(k)
}

// checkSealField accepts a gjson path made of object keys and array
// indexes only (no wildcards, queries, modifiers or multipaths), so that
// each names one place of a document.
func (ps *parser) checkSealField(path jsonPath, s string) bool {
	bad := s == ""
	for i := 0; i < len(s) && !bad; i++ {
		switch c := s[i]; c {
		case '\\':
			i++ // an escaped character
		case '*', '?', '#', '@', '|', '!', '=', '<', '>', '%', '(', ')', '[', ']', '{', '}', ',', '"':
			bad = true
		default:
			bad = c < 0x20 || c > 0x7e
		}
	}
	if bad || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		ps.add(path, "must be a field path such as \"next_cursor\" or \"paging.next\" (dots between names, no wildcards or queries), got "+quote(s))
		return false
	}
	return true
}

// decodeSealKey decodes a 256-bit key: 64 hex digits, or base64 (standard
// or URL alphabet, with or without padding).
func decodeSealKey(s string) ([]byte, bool) {
	s = strings.TrimSpace(s)
	if len(s) == 64 {
		if k, err := hex.DecodeString(s); err == nil {
			return k, true
		}
	}
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == 32 {
			return k, true
		}
	}
	return nil, false
}

func newSealAEAD(key []byte) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic("policy: AES-256 with a 32-byte key: " + err.Error()) // unreachable: the key is 32 bytes
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic("policy: GCM: " + err.Error())
	}
	return g
}

// checkCursorSeal reports a cursor_seal on a profile without cursor_param.
func (ps *parser) checkCursorSeal(pr *profile, sealPath jsonPath) {
	if pr.seal == nil {
		return
	}
	if pr.cursorParam == "" {
		ps.add(sealPath, "needs cursor_param")
		return
	}
	pr.seal.param = pr.cursorParam
	pr.seal.detail = "parameter " + strconv.Quote(pr.cursorParam) + " is not a cursor this API issued for this route, or it has expired"
	// A sealed cursor is longer than the back end's: warn when
	// max_cursor_length leaves no room for any.
	if pr.maxCursorLength > 0 && pr.maxCursorLength < base64.RawURLEncoding.EncodedLen(sealOverhead+1) {
		ps.warn(sealPath, "max_cursor_length ("+strconv.Itoa(pr.maxCursorLength)+") is shorter than any sealed cursor ("+
			strconv.Itoa(base64.RawURLEncoding.EncodedLen(sealOverhead+1))+" characters for a 1-byte cursor): raise it to about 4/3 of the back end's longest cursor plus 50")
	}
}

// CursorSeals returns the cursor_seal sections of the policy's profiles.
func (p *Policy) CursorSeals() []*CursorSeal { return p.seals }

// BindCursorKeys reads the keys named by key_env and previous_key_env with
// getenv and returns every problem with its path, as a *ConfigError, for a
// policy compiled without Options.LookupEnv. CompileWith with LookupEnv
// (the filter) binds them while compiling. Call it before the policy
// serves any request.
func (p *Policy) BindCursorKeys(getenv func(string) (string, bool)) error {
	ps := &parser{}
	for _, s := range p.seals {
		ps.bindSealKey(s, getenv, s.keyEnv, s.keyEnvPath, 0)
		ps.bindSealKey(s, getenv, s.previousKeyEnv, s.previousKeyEnvPath, 1)
	}
	if len(ps.errs) > 0 {
		return &ConfigError{Errors: ps.errs}
	}
	return nil
}

// additional returns the additional data binding a token to route and
// consumer, appended to b.
func sealAAD(b []byte, route, consumer string) []byte {
	b = append(b, sealAADPrefix...)
	b = append(b, route...)
	b = append(b, 0)
	return append(b, consumer...)
}

// ErrNoCursorKey is Seal's error when no key was bound.
var ErrNoCursorKey = errors.New("no cursor key")

// Seal returns the sealed token of the back end's cursor for consumer on
// route, valid until now + lifetime.
func (s *CursorSeal) Seal(cursor, route, consumer string, now time.Time) (string, error) {
	a := s.aead[0]
	if a == nil {
		return "", ErrNoCursorKey
	}
	buf := make([]byte, 1+sealNonce, sealOverhead+len(cursor))
	buf[0] = sealVersion
	if _, err := rand.Read(buf[1 : 1+sealNonce]); err != nil {
		return "", err
	}
	plain := make([]byte, 8, 8+len(cursor))
	binary.BigEndian.PutUint64(plain, uint64(now.Add(s.lifetime).Unix()))
	plain = append(plain, cursor...)
	var aadBuf [128]byte
	out := a.Seal(buf, buf[1:1+sealNonce], plain, sealAAD(aadBuf[:0], route, consumer))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// Open returns the back end's cursor sealed in token, when token was
// sealed by one of the keys for consumer on route and is valid at now.
func (s *CursorSeal) Open(token, route, consumer string, now time.Time) (string, bool) {
	if len(token) < base64.RawURLEncoding.EncodedLen(sealOverhead) {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < sealOverhead || raw[0] != sealVersion {
		return "", false
	}
	var aadBuf [128]byte
	aad := sealAAD(aadBuf[:0], route, consumer)
	nonce, box := raw[1:1+sealNonce], raw[1+sealNonce:]
	for _, a := range s.aead {
		if a == nil {
			continue
		}
		plain, err := a.Open(nil, nonce, box, aad)
		if err != nil {
			continue
		}
		if exp := int64(binary.BigEndian.Uint64(plain)); now.Unix() >= exp {
			return "", false
		}
		return string(plain[8:]), true
	}
	return "", false
}

// SealBody returns the JSON body with every response field that holds a
// string replaced by its sealed token. A field that is absent or null is
// left as it is (the last page); a body that is not JSON, or a field of
// another type, is an error, and nothing may then reach the client.
func (s *CursorSeal) SealBody(body []byte, route, consumer string, now time.Time) ([]byte, int, error) {
	if !gjson.ValidBytes(body) {
		return nil, 0, errors.New("the response body is not valid JSON")
	}
	type edit struct {
		at, end int
		token   string
	}
	var edits []edit
	for _, f := range s.fields {
		r := gjson.GetBytes(body, f)
		switch {
		case !r.Exists() || r.Type == gjson.Null:
			continue
		case r.Type != gjson.String:
			return nil, 0, errors.New("response field " + strconv.Quote(f) + " is not a string")
		case r.Index <= 0 || r.Index+len(r.Raw) > len(body):
			return nil, 0, errors.New("response field " + strconv.Quote(f) + " could not be located")
		}
		tok, err := s.Seal(r.Str, route, consumer, now)
		if err != nil {
			return nil, 0, err
		}
		edits = append(edits, edit{r.Index, r.Index + len(r.Raw), tok})
	}
	if len(edits) == 0 {
		return body, 0, nil
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].at < edits[j].at })
	size := len(body)
	for i, e := range edits {
		if i > 0 && e.at < edits[i-1].end {
			return nil, 0, errors.New("response fields overlap")
		}
		size += len(e.token) + 2 - (e.end - e.at)
	}
	out := make([]byte, 0, size)
	last := 0
	for _, e := range edits {
		out = append(out, body[last:e.at]...)
		out = append(out, '"')
		out = append(out, e.token...)
		out = append(out, '"')
		last = e.end
	}
	return append(out, body[last:]...), len(edits), nil
}

// SealLink returns the Link header value with the cursor parameter of
// every target URL sealed (next, prev, first, last alike: each carries a
// back-end cursor), and how many were sealed.
func (s *CursorSeal) SealLink(value, route, consumer string, now time.Time) (string, int, error) {
	var b strings.Builder
	n := 0
	for rest := value; ; {
		open := strings.IndexByte(rest, '<')
		if open < 0 {
			b.WriteString(rest)
			break
		}
		end := strings.IndexByte(rest[open:], '>')
		if end < 0 {
			b.WriteString(rest)
			break
		}
		end += open
		b.WriteString(rest[:open+1])
		target, k, err := s.sealURL(rest[open+1:end], route, consumer, now)
		if err != nil {
			return "", 0, err
		}
		n += k
		b.WriteString(target)
		rest = rest[end:]
	}
	return b.String(), n, nil
}

// sealURL seals the cursor parameter of the query of target.
func (s *CursorSeal) sealURL(target, route, consumer string, now time.Time) (string, int, error) {
	q := strings.IndexByte(target, '?')
	if q < 0 {
		return target, 0, nil
	}
	query, frag := target[q+1:], ""
	if h := strings.IndexByte(query, '#'); h >= 0 {
		query, frag = query[:h], query[h:]
	}
	var b strings.Builder
	b.WriteString(target[:q+1])
	n := 0
	for rest, more := query, query != ""; more; {
		var pair, key, value string
		src := rest
		pair, key, value, rest, more = nextPair(rest)
		if keyNames(key, s.param) {
			raw, ok := decodeComponent(value)
			if !ok {
				return "", 0, errors.New("the Link header's cursor parameter is not well-formed")
			}
			tok, err := s.Seal(raw, route, consumer, now)
			if err != nil {
				return "", 0, err
			}
			b.WriteString(key)
			b.WriteByte('=')
			b.WriteString(tok)
			n++
		} else {
			b.WriteString(pair)
		}
		if more {
			b.WriteByte(src[len(pair)])
		}
	}
	b.WriteString(frag)
	return b.String(), n, nil
}
