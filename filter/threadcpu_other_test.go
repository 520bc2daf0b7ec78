//go:build !linux

package main

import "time"

// threadCPU is 0 where the thread's CPU clock is not read: the benchmarks
// that report it then report only wall-clock figures.
func threadCPU() time.Duration { return 0 }
