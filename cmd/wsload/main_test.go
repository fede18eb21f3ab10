package main

import "testing"

func TestCheckLoopbackAcceptsLoopback(t *testing.T) {
	for _, url := range []string{"http://127.0.0.1:8080/graphql", "http://localhost:8080/graphql", "http://[::1]:8080/graphql", "http://127.0.0.2/graphql"} {
		if err := checkLoopback(url); err != nil {
			t.Errorf("checkLoopback(%q) = %v, want nil", url, err)
		}
	}
}

func TestCheckLoopbackRejectsOthers(t *testing.T) {
	for _, url := range []string{"http://10.0.0.1:8080/graphql", "http://example.com/graphql", "https://127.0.0.1/graphql", "http://0.0.0.0:8080/graphql", "::"} {
		if err := checkLoopback(url); err == nil {
			t.Errorf("checkLoopback(%q) = nil, want an error", url)
		}
	}
}
