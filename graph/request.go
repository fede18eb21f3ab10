package graph

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/integrationplatform/onboarding/domain"
	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/graph/model"
)

// RequestInfo is the transport's information about the caller of a request.
type RequestInfo struct {
	// RequestID correlates the events a request causes with its log lines.
	RequestID string
	Actor     eventstore.Actor
	// CustomerID binds a caller with the customer role to one customer.
	CustomerID string
	// Locale is "en" or "sv", from Accept-Language.
	Locale string
}

type requestInfoKey struct{}

// WithRequestInfo returns a context that carries info.
func WithRequestInfo(ctx context.Context, info RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

// RequestInfoFrom returns the request info of ctx, with an anonymous actor
// when there is none.
func RequestInfoFrom(ctx context.Context) RequestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(RequestInfo)
	if info.Actor.UserID == "" {
		info.Actor.UserID = "anonymous"
	}
	return info
}

// LocaleFromAcceptLanguage picks "sv" when Swedish comes before English in
// an Accept-Language header, and "en" otherwise. Quality values are ignored
// because browsers list languages in order of preference.
func LocaleFromAcceptLanguage(header string) string {
	for _, part := range strings.Split(header, ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case tag == "sv" || strings.HasPrefix(tag, "sv-"):
			return "sv"
		case tag == "en" || strings.HasPrefix(tag, "en-"):
			return "en"
		}
	}
	return "en"
}

// localeOf returns the locale for a text: the nearest locale argument of
// the field or its parents, else the request's locale.
func localeOf(ctx context.Context, arg *model.Locale) string {
	if arg != nil {
		return strings.ToLower(string(*arg))
	}
	for fc := graphql.GetFieldContext(ctx); fc != nil; fc = fc.Parent {
		if l, ok := fc.Args["locale"].(*model.Locale); ok && l != nil {
			return strings.ToLower(string(*l))
		}
	}
	return RequestInfoFrom(ctx).Locale
}

func localized(ctx context.Context, t *domain.Text, arg *model.Locale) string {
	return t.In(localeOf(ctx, arg))
}
