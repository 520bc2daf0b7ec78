package policy

import "strings"

// FieldError is one problem found in the configuration, located by the JSON
// path of the offending value.
type FieldError struct {
	// Path is the JSON path of the value, such as `routes[2].pagination`,
	// or "" when the problem concerns the whole document.
	Path string
	// Msg describes the problem.
	Msg string
}

// Error returns Path + ": " + Msg, or Msg alone when Path is empty.
func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// ConfigError is returned by Compile for an invalid configuration. It lists
// every problem found, not just the first one: problems within values in
// document order, then problems across sections (unknown references,
// duplicate ids and hashes, name conflicts).
type ConfigError struct {
	Errors []FieldError
}

// Error joins the messages of all field errors with newlines.
func (e *ConfigError) Error() string {
	var b strings.Builder
	for i, fe := range e.Errors {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(fe.Error())
	}
	return b.String()
}
