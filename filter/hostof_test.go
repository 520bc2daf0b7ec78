package main

import (
	"net/netip"
	"testing"
	"unsafe"
)

// TestIsDottedQuad: isDottedQuad accepts only what netip.ParseAddr accepts
// as IPv4, and the usual forms.
func TestIsDottedQuad(t *testing.T) {
	for _, s := range []string{"", "1.2.3.4", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5",
		"1..3.4", ".1.2.3", "1.2.3.", "1.2.3.4 ", "a.b.c.d", "10.0.0.1", "1.2.3.04", "100.200.250.255", "1000.1.1.1",
		"::1", "::ffff:1.2.3.4", "1.2.3.4%eth0", "192.168.001.1", "9.09.9.9", "0.1.2.3"} {
		_, err := netip.ParseAddr(s)
		a, _ := netip.ParseAddr(s)
		if got := isDottedQuad(s); got && (err != nil || !a.Is4()) {
			t.Errorf("%q: accepted, netip: %v", s, err)
		}
	}
	for _, s := range []string{"1.2.3.4", "0.0.0.0", "255.255.255.255", "10.0.0.1", "192.0.2.7"} {
		if !isDottedQuad(s) {
			t.Errorf("%q: refused", s)
		}
	}
}

// FuzzIsDottedQuad: whatever isDottedQuad accepts, netip.ParseAddr does.
func FuzzIsDottedQuad(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "01.2.3.4", "256.0.0.1", "1.2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if isDottedQuad(s) {
			if a, err := netip.ParseAddr(s); err != nil || !a.Is4() {
				t.Errorf("%q: accepted, netip: %v", s, err)
			}
		}
	})
}

// TestSameString: sameString is ==, for the same memory and for copies.
func TestSameString(t *testing.T) {
	a := "consumer/gold/billing"
	b := string([]byte(a))
	if unsafe.StringData(a) == unsafe.StringData(b) || !sameString(a, a) || !sameString(a, b) ||
		sameString(a, a[:5]) || sameString(a, "consumer/gold/billinG") || !sameString("", "") {
		t.Error("sameString differs from ==")
	}
}
