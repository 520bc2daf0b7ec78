package policy

import (
	"strings"
	"testing"
)

// BenchmarkSealBody is the native cost of sealing two cursor fields of a
// 2 KiB JSON page, and of opening one sealed cursor.
func BenchmarkSealBody(b *testing.B) {
	s := mustCompile(b, sealConfig(`{"response_fields": ["next_cursor", "paging.next"], "key": "`+testSealKey+`"}`)).CursorSeals()[0]
	body := []byte(`{"items": [` + strings.Repeat(`{"id": 1, "customer": "customer-1", "total": 1234.5, "currency": "EUR", "status": "paid", "lines": 3},`, 19) +
		`{"id": 20}], "next_cursor": "eyJpZCI6MTAyMzR9", "paging": {"next": "eyJpZCI6MTAyMzR9"}}`)
	b.Run("op=seal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, n, err := s.SealBody(body, "list", "alice", now); err != nil || n != 2 {
				b.Fatal(n, err)
			}
		}
	})
	tok, _ := s.Seal("eyJpZCI6MTAyMzR9", "list", "alice", now)
	b.Run("op=open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := s.Open(tok, "list", "alice", now); !ok {
				b.Fatal("not opened")
			}
		}
	})
}
