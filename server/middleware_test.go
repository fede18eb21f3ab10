package server

import "testing"

func TestOriginAllowed(t *testing.T) {
	patterns := []string{"https://app.example.com", "*.example.org", "localhost:5173"}
	cases := map[string]bool{
		"https://app.example.com": true,
		"http://app.example.com":  false,
		"https://a.example.org":   true,
		"http://a.example.org":    true,
		"http://localhost:5173":   true,
		"https://evil.example":    false,
		"https://APP.example.com": true,
	}
	for origin, want := range cases {
		if got := originAllowed(origin, patterns); got != want {
			t.Errorf("originAllowed(%q) = %v, want %v", origin, got, want)
		}
	}
	hosts := OriginHostPatterns(patterns)
	if len(hosts) != 3 || hosts[0] != "app.example.com" {
		t.Errorf("host patterns = %q, want the hosts of the origins", hosts)
	}
}
