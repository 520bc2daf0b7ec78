package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progressMin is the number of requests below which --progress auto draws
// no bar: short files are done before a bar is worth drawing.
const progressMin = 500

// progress draws a progress bar on stderr, at most every 100ms.
type progress struct {
	w     io.Writer
	label string
	on    bool
	min   int // fewest requests worth a bar
	last  time.Time
	drawn bool
}

// newProgress returns a bar for mode "auto", "on" or "off"; auto draws
// only on a terminal and for files of at least progressMin requests.
func newProgress(w io.Writer, mode, label string) *progress {
	p := &progress{w: w, on: mode == "on" || (mode == "auto" && isTerminal(w))}
	if mode == "auto" {
		p.min = progressMin
	}
	if label != "" {
		p.label = label + ": "
	}
	return p
}

// update is a replay.Options.Progress function.
func (p *progress) update(done, total int) {
	if !p.on || total < p.min || total == 0 {
		return
	}
	if p.drawn && done < total && time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	const width = 30
	filled := width * done / total
	fmt.Fprintf(p.w, "\r%sreplaying [%s%s] %d/%d", p.label,
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, total)
	p.drawn = true
}

// done clears the bar.
func (p *progress) done() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
