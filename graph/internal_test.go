package graph

import "testing"

func TestWithoutMembers(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"test notes", `{"stepId":"order-testing","testId":"joint-test-run","passed":false,"notes":"VAT wrong"}`, `{"passed":false,"stepId":"order-testing","testId":"joint-test-run"}`},
		{"time description", `{"minutes":90,"description":"configuration"}`, `{"minutes":90}`},
		{"nothing internal", `{"stepId":"flows"}`, `{"stepId":"flows"}`},
		{"null", `null`, `null`},
		{"not an object", `[1]`, `{}`},
		{"invalid", `{"notes":`, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := withoutMembers(tt.data, internalDataMembers); got != tt.want {
				t.Errorf("withoutMembers(%s) = %s, want %s", tt.data, got, tt.want)
			}
		})
	}
}
