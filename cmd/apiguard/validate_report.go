package main

import (
	"fmt"
	"io"
	"time"

	"github.com/apiguard/apiguard/internal/configcheck"
	"github.com/apiguard/apiguard/policy/keysnap"
)

// validateJSON is validate's -o json output (docs/cli.md).
type validateJSON struct {
	// Valid is false when any file has an error, or (with --strict) a
	// warning: the exit status is then 1 (2 when a file cannot be read).
	Valid  bool `json:"valid"`
	Strict bool `json:"strict"`
	// Errors and Warnings count the problems of every file.
	Errors   int            `json:"errors"`
	Warnings int            `json:"warnings"`
	Files    []validateFile `json:"files"`
}

// validateFile is the result of one FILE argument.
type validateFile struct {
	File  string `json:"file"`
	Valid bool   `json:"valid"`
	// Error says why the file was not checked (unreadable; a snapshot
	// without --config); Documents is then empty.
	Error     string        `json:"error,omitempty"`
	Documents []validateDoc `json:"documents"`
	// noneChecked: a file of several documents none of which is an
	// apiguard file (text output only; Valid is false).
	noneChecked bool
}

// validateDoc is one document of a file (a YAML stream has several).
type validateDoc struct {
	Index int    `json:"index"` // 1-based
	Line  int    `json:"line"`  // line of the file the document starts on
	Kind  string `json:"kind"`  // "apiguard plugin configuration", "Envoy bootstrap", "Istio WasmPlugin", "key snapshot", ...
	// Skipped says why the document was not checked (another Kubernetes
	// kind); it has no problems then.
	Skipped string `json:"skipped,omitempty"`
	Valid   bool   `json:"valid"`
	// Detail is a one-line summary of what was checked (key snapshots:
	// generation and counts).
	Detail   string        `json:"detail,omitempty"`
	Problems []problemJSON `json:"problems"`
}

// problemJSON is one problem.
type problemJSON struct {
	Severity string `json:"severity"`         // "error" or "warning"
	Line     int    `json:"line,omitempty"`   // 1-based line in the file; 0/absent when unknown
	Column   int    `json:"column,omitempty"` // 1-based column, when known (JSON syntax errors)
	Path     string `json:"path,omitempty"`   // JSON/YAML path in the file's own spelling
	Message  string `json:"message"`
}

func problemOf(p configcheck.Problem) problemJSON {
	sev := "error"
	if p.Warning {
		sev = "warning"
	}
	return problemJSON{Severity: sev, Line: p.Line, Column: p.Column, Path: p.Path, Message: p.Msg}
}

// count returns the errors and warnings of d.
func (d validateDoc) count() (errs, warns int) {
	for _, p := range d.Problems {
		if p.Severity == "warning" {
			warns++
		} else {
			errs++
		}
	}
	return errs, warns
}

// fileOfDocuments turns configcheck's documents of the file name into a
// validateFile. A file of several documents of which none is an apiguard
// file is invalid: nothing was checked.
func fileOfDocuments(name string, docs []configcheck.Document) validateFile {
	f := validateFile{File: name, Valid: true}
	checked := 0
	for _, d := range docs {
		vd := validateDoc{Index: d.Index, Line: d.Line, Kind: d.Kind.String(), Skipped: d.Skip, Valid: true, Problems: []problemJSON{}}
		if d.Skip == "" {
			checked++
			for _, p := range d.Problems {
				vd.Problems = append(vd.Problems, problemOf(p))
			}
			if errs, _ := vd.count(); errs > 0 {
				vd.Valid, f.Valid = false, false
			}
		}
		f.Documents = append(f.Documents, vd)
	}
	if checked == 0 {
		f.Valid, f.noneChecked = false, true
	}
	return f
}

// writeValidateText prints the result of one file as validate always has:
// "NAME: ok (KIND)" or "NAME: N problem(s) (KIND)", then a line per problem;
// in a file of several documents each has its own "NAME: document N (line
// L): ..." line. A problem with a column (a JSON syntax error) prints as
// NAME:LINE:COL: message, the form editors jump to.
func writeValidateText(w io.Writer, f validateFile) {
	if f.Error != "" {
		return // printed on stderr
	}
	for _, d := range f.Documents {
		label := f.File
		if len(f.Documents) > 1 {
			label = fmt.Sprintf("%s: document %d (line %d)", f.File, d.Index, d.Line)
		}
		if d.Skipped != "" {
			fmt.Fprintf(w, "%s: skipped: %s\n", label, d.Skipped)
			continue
		}
		errs, _ := d.count()
		switch {
		case errs > 0:
			fmt.Fprintf(w, "%s: %d problem(s) (%s)\n", label, errs, d.Kind)
		case d.Detail != "":
			fmt.Fprintf(w, "%s: ok (%s, %s)\n", label, d.Kind, d.Detail)
		default:
			fmt.Fprintf(w, "%s: ok (%s)\n", label, d.Kind)
		}
		for _, p := range d.Problems {
			fmt.Fprintf(w, "%s\n", problemLine(f.File, p))
		}
	}
	if f.noneChecked {
		fmt.Fprintf(w, "%s: no apiguard plugin configuration, Envoy bootstrap or Istio WasmPlugin among %d documents\n", f.File, len(f.Documents))
	}
}

// problemLine formats a problem of the file name.
func problemLine(name string, p problemJSON) string {
	if p.Column > 0 && p.Line > 0 {
		prefix := ""
		if p.Severity == "warning" {
			prefix = "warning: "
		}
		return fmt.Sprintf("%s:%d:%d: %s%s", name, p.Line, p.Column, prefix, p.Message)
	}
	cp := configcheck.Problem{Path: p.Path, Line: p.Line, Msg: p.Message, Warning: p.Severity == "warning"}
	return name + ": " + cp.String()
}

// snapshotKey is one key of a snapshot, for the validity warnings.
type snapshotKey struct {
	consumer, id        string
	notBefore, notAfter int64 // Unix nanoseconds; keysnap.NoLowerBound / NoUpperBound when absent
}

// keyValidityWarnings warns about keys that have already expired or are
// not valid yet at now, as validate warns about inline keys: they are valid
// in a snapshot but deny every request with them (401 expired,
// 401 not_yet_valid). path names a key in the messages.
func keyValidityWarnings(keys []snapshotKey, now time.Time, path func(i int) string) []problemJSON {
	var out []problemJSON
	n := now.UnixNano()
	for i, k := range keys {
		switch {
		case k.notAfter != keysnap.NoUpperBound && k.notAfter <= n:
			out = append(out, problemJSON{Severity: "warning", Path: path(i), Message: fmt.Sprintf(
				"key %q of consumer %q has already expired (not_after %s): every request with it is denied "+
					"(401 expired); remove it once its use has stopped showing in the logs",
				k.id, k.consumer, time.Unix(0, k.notAfter).UTC().Format(time.RFC3339))})
		case k.notBefore != keysnap.NoLowerBound && k.notBefore > n:
			out = append(out, problemJSON{Severity: "warning", Path: path(i), Message: fmt.Sprintf(
				"key %q of consumer %q is not valid yet (not_before %s): requests with it are denied "+
					"(401 not_yet_valid) until then",
				k.id, k.consumer, time.Unix(0, k.notBefore).UTC().Format(time.RFC3339))})
		}
	}
	return out
}

// snapshotKeys reads the consumer and validity window of every key of a
// snapshot whose integrity was checked (policy.LoadSnapshot accepted it).
func snapshotKeys(data []byte) ([]snapshotKey, error) {
	h, err := keysnap.ParseHeader(data)
	if err != nil {
		return nil, err
	}
	body := keysnap.Sections(data, &h)
	var consumers []string
	r := keysnap.NewConsumerReader(body.Consumers, h.Version, func(b []byte) string { return string(b) })
	var c keysnap.Consumer
	for r.Remaining() > 0 {
		if err := r.Next(&c); err != nil {
			return nil, err
		}
		consumers = append(consumers, c.ID)
	}
	keys := make([]snapshotKey, 0, h.Keys)
	ids := body.IDs
	for i := 0; i < int(h.Keys); i++ {
		_, ci, _, idLen, window := keysnap.Record(body.Records, i)
		if idLen > len(ids) || int(ci) >= len(consumers) {
			return nil, fmt.Errorf("key record %d is out of range", i)
		}
		k := snapshotKey{consumer: consumers[ci], id: string(ids[:idLen]), notBefore: keysnap.NoLowerBound, notAfter: keysnap.NoUpperBound}
		ids = ids[idLen:]
		if window > 0 {
			if int(window)*keysnap.WindowSize > len(body.Windows) {
				return nil, fmt.Errorf("key record %d names a missing validity window", i)
			}
			k.notBefore, k.notAfter = keysnap.Window(body.Windows, int(window-1))
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// keyRefPaths names key i of keys as the consumers file spells it:
// consumers[C].keys[K], counting keys per consumer in file order.
func keyRefPaths(keys []snapshotKey, consumerIndex func(i int) int) func(i int) string {
	perConsumer := map[int]int{}
	paths := make([]string, len(keys))
	for i := range keys {
		ci := consumerIndex(i)
		paths[i] = fmt.Sprintf("consumers[%d].keys[%d]", ci, perConsumer[ci])
		perConsumer[ci]++
	}
	return func(i int) string { return paths[i] }
}
