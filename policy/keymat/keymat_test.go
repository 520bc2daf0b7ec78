package keymat

import (
	"bytes"
	"crypto/rand"
	"errors"
	"hash/crc32"
	"io"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		k, err := Generate("agk_", rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(k) != 4+32+6 || !strings.HasPrefix(k, "agk_") || seen[k] {
			t.Fatalf("bad or repeated key %q", k)
		}
		seen[k] = true
		if err := CheckFormat("agk_", k); err != nil {
			t.Fatalf("CheckFormat(%q) = %v", k, err)
		}
	}
	// Deterministic for a given random stream; bytes >= 248 are skipped.
	stream := append(bytes.Repeat([]byte{255}, 10), bytes.Repeat([]byte{0, 61, 62}, 40)...)
	k, err := Generate("", bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k, "0z00z00z00z00z00z00z00z00z00z00z") || CheckFormat("", k) != nil {
		t.Errorf("key %q", k)
	}
}

func TestGenerateErrors(t *testing.T) {
	if _, err := Generate("a b", rand.Reader); !errors.Is(err, ErrBadPrefix) {
		t.Errorf("space in prefix: %v", err)
	}
	if _, err := Generate(strings.Repeat("a", 65), rand.Reader); !errors.Is(err, ErrBadPrefix) {
		t.Errorf("long prefix: %v", err)
	}
	if _, err := Generate("a", nil); !errors.Is(err, ErrRandom) {
		t.Errorf("nil reader: %v", err)
	}
	if _, err := Generate("a", strings.NewReader("short")); !errors.Is(err, ErrRandom) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short reader: %v", err)
	}
	if _, err := Generate("a", bytes.NewReader(bytes.Repeat([]byte{250}, 10000))); !errors.Is(err, ErrRandom) {
		t.Errorf("biased reader: %v", err)
	}
}

func TestCheckFormat(t *testing.T) {
	key, err := Generate("agk_", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(c byte) string {
		if c == 'a' {
			return "b"
		}
		return "a"
	}
	tests := []struct {
		name, prefix, key string
		want              error
	}{
		{"ok", "agk_", key, nil},
		{"prefix", "agk-", key, ErrPrefix},
		{"short", "agk_", key[:len(key)-1], ErrLength},
		{"long", "agk_", key + "0", ErrLength},
		{"charset", "agk_", key[:10] + "_" + key[11:], ErrCharset},
		{"random changed", "agk_", key[:10] + flip(key[10]) + key[11:], ErrChecksum},
		{"checksum changed", "agk_", key[:len(key)-1] + flip(key[len(key)-1]), ErrChecksum},
		{"empty", "agk_", "", ErrPrefix},
	}
	for _, tt := range tests {
		if err := CheckFormat(tt.prefix, tt.key); err != tt.want {
			t.Errorf("%s: CheckKeyFormat = %v, want %v", tt.name, err, tt.want)
		}
	}
	long := strings.Repeat("a", 600)
	if err := Check(long, long+strings.Repeat("0", 38), true); err != ErrChecksum {
		t.Errorf("long key: %v", err)
	}
}

func TestHash(t *testing.T) {
	if got := Hash("secret"); got != "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b" {
		t.Errorf("HashKey = %s", got)
	}
}

func TestCRC32String(t *testing.T) {
	for n := 0; n < 70; n++ {
		s := strings.Repeat("agk_Zz09", 10)[:n]
		if got, want := crc32String(s), crc32.ChecksumIEEE([]byte(s)); got != want {
			t.Errorf("crc32String(%q) = %08x, want %08x", s, got, want)
		}
	}
}
