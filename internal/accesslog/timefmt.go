package accesslog

import "time"

// appendTime appends t in UTC as time.RFC3339Nano does (fraction without
// trailing zeros, none when zero, "Z"). Go's layout-driven formatting is
// several times slower in the filter's module, where every decision log
// line writes a time; years outside 0 to 9999, which RFC 3339 cannot
// write in four digits, go through it.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	hour, minute, sec := t.Clock()
	b = append(b, digit(year/1000), digit(year/100), digit(year/10), digit(year), '-',
		digit(int(month)/10), digit(int(month)), '-', digit(day/10), digit(day), 'T',
		digit(hour/10), digit(hour), ':', digit(minute/10), digit(minute), ':', digit(sec/10), digit(sec))
	return appendFraction(b, t.Nanosecond())
}

// appendFraction appends the fraction of a second ns as time.RFC3339Nano
// writes it (without trailing zeros, none when zero), and the "Z".
func appendFraction(b []byte, ns int) []byte {
	if ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = digit(ns)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, 'Z')
}

// digit is the last decimal digit of v (v >= 0).
func digit(v int) byte { return byte('0' + v%10) }
