//go:build !wasip1 || tinygo

package main

import (
	"strings"
	"testing"
)

// TestLogMemoryNeverReused: each line's memory is fresh, so that the
// views of earlier lines a host keeps never change.
func TestLogMemoryNeverReused(t *testing.T) {
	var lines [][]byte
	var want []string
	for i := range 3000 {
		line := strings.Repeat(string(rune('a'+i%26)), 50+i%200)
		b := append(logMemory(len(line)), line...)
		logUsed(b)
		lines, want = append(lines, b), append(want, line)
	}
	for i := range lines {
		if string(lines[i]) != want[i] {
			t.Fatalf("line %d changed to %q", i, lines[i])
		}
	}
	// A line that outgrows the chunk's room moves out of it and leaves
	// the room as it was.
	room := cap(logArena) - len(logArena)
	b := append(logMemory(1), strings.Repeat("x", room+1)...)
	logUsed(b)
	if cap(logArena)-len(logArena) != room {
		t.Errorf("room %d after a moved line, want %d", cap(logArena)-len(logArena), room)
	}
}
