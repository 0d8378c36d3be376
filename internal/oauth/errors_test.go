package oauth

import "testing"

func TestDescriptionText(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "",
		"scope x is not allowed":       "scope x is not allowed",
		`client "web" is unknown`:      "client _web_ is unknown",
		`a\b`:                          "a_b",
		"line\nbreak\ttab":             "line_break_tab",
		"caf\u00e9":                    "caf__",
		"~ and ! and # and [ and ]ok ": "~ and ! and # and [ and ]ok ",
	} {
		if got := DescriptionText(in); got != want {
			t.Errorf("DescriptionText(%q) = %q, want %q", in, got, want)
		}
	}
}
