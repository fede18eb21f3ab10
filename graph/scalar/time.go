// Package scalar marshals the API's custom GraphQL scalars.
package scalar

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/integrationplatform/onboarding/domain"
)

// MarshalTime writes t as an RFC 3339 time with nanoseconds, in UTC.
func MarshalTime(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(t.UTC().Format(time.RFC3339Nano)))
	})
}

// UnmarshalTime reads an RFC 3339 time. A malformed value is a
// domain.Error of kind invalid, which the API reports as BAD_USER_INPUT.
func UnmarshalTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, &domain.Error{Kind: domain.KindInvalid, Message: fmt.Sprintf("time %v is not a string; send an RFC 3339 time such as \"2026-12-01T12:00:00Z\"", v)}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, &domain.Error{Kind: domain.KindInvalid, Message: fmt.Sprintf("time %q is not an RFC 3339 time; send one such as \"2026-12-01T12:00:00Z\"", s)}
	}
	return t, nil
}
