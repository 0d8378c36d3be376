package sqlstore

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestDecodePlainListAgreesWithJSON checks the reflection-free decoder
// against encoding/json: wherever it answers, it answers the same, and it
// answers for every list encodeList writes of plain strings.
func TestDecodePlainListAgreesWithJSON(t *testing.T) {
	plain := [][]string{nil, {""}, {"openid"}, {"openid", "profile", "email"}, {"https://api.example/v1", "a,b", "é"}}
	for _, l := range plain {
		enc := encodeList(l)
		got, ok := decodePlainList(enc)
		if !ok {
			t.Errorf("decodePlainList(%s) declined a plain list", enc)
		}
		if !slices.Equal(got, l) {
			t.Errorf("decodePlainList(%s) = %q, want %q", enc, got, l)
		}
	}
	// Lists with escapes, other spacing or other JSON go to encoding/json.
	for _, s := range []string{`null`, `["a\"b"]`, `["<\u003e"]`, `[ "a" ]`, `["a", "b"]`, `["a",1]`, `["]`,
		`["a""b"]`, "[\"a\x01\"]", "[\"\xff\"]", `{"a":"b"}`, `["a","b"`} {
		if got, ok := decodePlainList(s); ok {
			t.Errorf("decodePlainList(%q) = %q, want it declined", s, got)
		}
	}
	for _, l := range [][]string{{`a"b`}, {"<&>"}, {"tab\there"}} {
		got, err := decodeList(encodeList(l))
		if err != nil || !slices.Equal(got, l) {
			t.Errorf("decodeList(encodeList(%q)) = %q, %v", l, got, err)
		}
	}
}

func FuzzDecodePlainList(f *testing.F) {
	for _, s := range []string{`[]`, `[""]`, `["a","b"]`, `["a\"b"]`, `["a","`, `[","]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := decodePlainList(s)
		if !ok {
			return
		}
		var want []string
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatalf("decodePlainList(%q) = %q, but encoding/json refuses it: %v", s, got, err)
		}
		if len(want) == 0 {
			want = nil
		}
		if !slices.Equal(got, want) {
			t.Fatalf("decodePlainList(%q) = %q, encoding/json %q", s, got, want)
		}
	})
}
