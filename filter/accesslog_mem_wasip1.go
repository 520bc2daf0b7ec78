//go:build wasip1 && !tinygo

package main

// In the module every log line is written into one buffer: the host has
// written a line out, or copied it, before proxy_log returns (see
// logDecision), so the next line may use the same memory and a denial
// allocates nothing. Without this, a 64 KiB chunk became garbage every few
// hundred denials, and under steady denials a collection ran every few
// tens of thousands of requests, its marking spread over hundreds of them
// (docs/performance.md, "Fifth round").

// lineBuf is the memory of the log lines.
var lineBuf = make([]byte, 0, 1024)

// logMemory returns the line buffer emptied, with room for size bytes.
func logMemory(size int) []byte {
	if cap(lineBuf) < size {
		lineBuf = make([]byte, 0, size)
	}
	return lineBuf[:0]
}

// logUsed keeps the memory of line when it outgrew the buffer, for the
// next line.
func logUsed(line []byte) {
	if cap(line) > cap(lineBuf) {
		lineBuf = line[:0]
	}
}
