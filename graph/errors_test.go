package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/command"
	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
)

func TestErrorPresenterCodes(t *testing.T) {
	cases := []struct {
		name string
		err  error
		code string
	}{
		{"invalid", &domain.Error{Kind: domain.KindInvalid, Message: "bad"}, CodeBadUserInput},
		{"not found", &domain.Error{Kind: domain.KindNotFound, Message: "gone"}, CodeNotFound},
		{"rule", fmt.Errorf("wrapped: %w", &domain.Error{Kind: domain.KindRuleViolation, Rule: domain.RuleStepIncomplete, Missing: []string{"test:x"}}), CodeRuleViolation},
		{"conflict", &command.ConflictError{ProjectID: "p", Expected: 1, Current: 2}, CodeVersionConflict},
		{"store down", fmt.Errorf("append: %w", eventstore.ErrUnavailable), CodeStoreUnavailable},
		{"internal", errors.New("bolt: page 42 corrupt"), CodeInternal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			ctx := WithRequestInfo(context.Background(), RequestInfo{RequestID: "req-7"})
			got := ErrorPresenter(zerolog.New(&logs))(ctx, tc.err)
			if got.Extensions["code"] != tc.code {
				t.Errorf("code = %v, want %s", got.Extensions["code"], tc.code)
			}
		})
	}
}

func TestInternalErrorIsGeneric(t *testing.T) {
	var logs bytes.Buffer
	ctx := WithRequestInfo(context.Background(), RequestInfo{RequestID: "req-7"})
	got := ErrorPresenter(zerolog.New(&logs))(ctx, errors.New("bolt: page 42 corrupt"))

	if strings.Contains(got.Message, "bolt") {
		t.Errorf("message %q leaks the internal error", got.Message)
	}
	if !strings.Contains(got.Message, "req-7") {
		t.Errorf("message %q does not name the request id", got.Message)
	}
	if n := strings.Count(logs.String(), "page 42 corrupt"); n != 1 {
		t.Errorf("internal error logged %d times, want once: %s", n, logs.String())
	}
	if !strings.Contains(logs.String(), `"request_id":"req-7"`) {
		t.Errorf("log line lacks the request id: %s", logs.String())
	}
}

func TestPanicLoggedOnce(t *testing.T) {
	var logs bytes.Buffer
	log := zerolog.New(&logs)
	ctx := WithRequestInfo(context.Background(), RequestInfo{RequestID: "req-8"})

	err := Recover(log)(ctx, "index out of range")
	got := ErrorPresenter(log)(ctx, err)

	if got.Extensions["code"] != CodeInternal {
		t.Errorf("code = %v, want %s", got.Extensions["code"], CodeInternal)
	}
	if strings.Contains(got.Message, "index out of range") {
		t.Errorf("message %q leaks the panic", got.Message)
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Errorf("panic logged in %d lines, want 1: %s", n, logs.String())
	}
}

func TestRuleViolationExtensions(t *testing.T) {
	err := &domain.Error{Kind: domain.KindRuleViolation, Message: "step flows is not ready", Rule: domain.RuleStepIncomplete, Missing: []string{"answer:stock-master"}}
	got := ErrorPresenter(zerolog.Nop())(context.Background(), err)

	if got.Message != "step flows is not ready (missing: answer:stock-master)" {
		t.Errorf("message = %q", got.Message)
	}
	if got.Extensions["rule"] != domain.RuleStepIncomplete {
		t.Errorf("rule = %v", got.Extensions["rule"])
	}
	if missing, _ := got.Extensions["missing"].([]string); len(missing) != 1 || missing[0] != "answer:stock-master" {
		t.Errorf("missing = %v", got.Extensions["missing"])
	}
}

func TestLocaleFromAcceptLanguage(t *testing.T) {
	cases := map[string]string{
		"":                       "en",
		"sv":                     "sv",
		"sv-SE,sv;q=0.9,en;q=.8": "sv",
		"en-GB,sv;q=0.5":         "en",
		"de-DE,sv;q=0.5":         "sv",
		"fi":                     "en",
	}
	for header, want := range cases {
		if got := LocaleFromAcceptLanguage(header); got != want {
			t.Errorf("LocaleFromAcceptLanguage(%q) = %q, want %q", header, got, want)
		}
	}
}
