package policy

import (
	"bytes"
	"crypto/rand"
	"errors"
	"hash/crc32"
	"io"
	"strings"
	"testing"
)

func TestGenerateKey(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		k, err := GenerateKey("agk_", rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if len(k) != 4+32+6 || !strings.HasPrefix(k, "agk_") || seen[k] {
			t.Fatalf("bad or repeated key %q", k)
		}
		seen[k] = true
		if err := CheckKeyFormat("agk_", k); err != nil {
			t.Fatalf("CheckKeyFormat(%q) = %v", k, err)
		}
	}
	// Deterministic for a given random stream; bytes >= 248 are skipped.
	stream := append(bytes.Repeat([]byte{255}, 10), bytes.Repeat([]byte{0, 61, 62}, 40)...)
	k, err := GenerateKey("", bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k, "0z00z00z00z00z00z00z00z00z00z00z") || CheckKeyFormat("", k) != nil {
		t.Errorf("key %q", k)
	}
}

func TestGenerateKeyErrors(t *testing.T) {
	if _, err := GenerateKey("a b", rand.Reader); !errors.Is(err, ErrBadPrefix) {
		t.Errorf("space in prefix: %v", err)
	}
	if _, err := GenerateKey(strings.Repeat("a", 65), rand.Reader); !errors.Is(err, ErrBadPrefix) {
		t.Errorf("long prefix: %v", err)
	}
	if _, err := GenerateKey("a", nil); !errors.Is(err, ErrRandom) {
		t.Errorf("nil reader: %v", err)
	}
	if _, err := GenerateKey("a", strings.NewReader("short")); !errors.Is(err, ErrRandom) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short reader: %v", err)
	}
	if _, err := GenerateKey("a", bytes.NewReader(bytes.Repeat([]byte{250}, 10000))); !errors.Is(err, ErrRandom) {
		t.Errorf("biased reader: %v", err)
	}
}

func TestCheckKeyFormat(t *testing.T) {
	key, err := GenerateKey("agk_", rand.Reader)
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
		{"prefix", "agk-", key, ErrKeyPrefix},
		{"short", "agk_", key[:len(key)-1], ErrKeyLength},
		{"long", "agk_", key + "0", ErrKeyLength},
		{"charset", "agk_", key[:10] + "_" + key[11:], ErrKeyCharset},
		{"random changed", "agk_", key[:10] + flip(key[10]) + key[11:], ErrKeyChecksum},
		{"checksum changed", "agk_", key[:len(key)-1] + flip(key[len(key)-1]), ErrKeyChecksum},
		{"empty", "agk_", "", ErrKeyPrefix},
	}
	for _, tt := range tests {
		if err := CheckKeyFormat(tt.prefix, tt.key); err != tt.want {
			t.Errorf("%s: CheckKeyFormat = %v, want %v", tt.name, err, tt.want)
		}
	}
	long := strings.Repeat("a", 600)
	if err := checkKey(long, long+strings.Repeat("0", 38), true); err != ErrKeyChecksum {
		t.Errorf("long key: %v", err)
	}
}

func TestHashKey(t *testing.T) {
	if got := HashKey("secret"); got != "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b" {
		t.Errorf("HashKey = %s", got)
	}
}

func TestReasons(t *testing.T) {
	rs := Reasons()
	if len(rs) != len(reasonTable) || len(reasonInfo) != len(reasonTable) {
		t.Fatalf("%d reasons, %d infos: a reason is listed twice in reasonTable", len(rs), len(reasonInfo))
	}
	for _, r := range rs {
		info, ok := reasonInfo[r]
		if !ok || info.status == 0 || info.title == "" || info.typ != ProblemTypeBase+string(r) {
			t.Errorf("reason %s: %+v", r, info)
		}
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
