//go:build !wasip1 || tinygo

package main

import "unsafe"

// Natively the SDK's emulator keeps the strings proxy_log is given, so
// every log line needs memory no later line writes. It is carved from a
// chunk rather than allocated per line.

// logChunk is the size of the chunks log lines are carved from: a few
// hundred lines each.
const logChunk = 64 << 10

// logArena is the chunk log lines are written into: lines up to its
// length, never written again; the rest is free. When a line does not fit,
// a new chunk replaces it, and the old one lives as long as views of its
// lines do.
var logArena []byte

// logMemory returns empty memory with room for size bytes that no line
// used before.
func logMemory(size int) []byte {
	if size > logChunk/8 {
		return make([]byte, 0, size)
	}
	if cap(logArena)-len(logArena) < size {
		logArena = make([]byte, 0, logChunk)
	}
	n := len(logArena)
	return logArena[n:n:cap(logArena)]
}

// logUsed marks line, written into logMemory's memory, as used when it
// is in the chunk (a line that outgrew its room was moved elsewhere).
func logUsed(line []byte) {
	n := len(logArena)
	if len(line) > 0 && n+len(line) <= cap(logArena) && unsafe.SliceData(line) == unsafe.SliceData(logArena[n:n+1]) {
		logArena = logArena[:n+len(line)]
	}
}
