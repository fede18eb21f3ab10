package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/auth"
	"github.com/integrationplatform/onboarding/eventstore"
	"github.com/integrationplatform/onboarding/graph"
)

// CodeUnauthenticated is the error code of a request without a valid token.
const CodeUnauthenticated = "UNAUTHENTICATED"

// closeForbidden is the close code, 4403 Forbidden in graphql-transport-ws,
// of a WebSocket whose connection_init carried no valid token.
const closeForbidden = 4403

// closeTooManyConnections closes a WebSocket over the limit of connections
// per token.
const closeTooManyConnections = 4429

// authenticate requires a valid bearer token on every GraphQL request when
// verifier is set, and records the caller as the request's actor. WebSocket
// upgrades pass, because their token comes in connection_init.
func authenticate(next http.Handler, verifier *auth.Verifier, log zerolog.Logger) http.Handler {
	if verifier == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			next.ServeHTTP(w, r.WithContext(withConnSlot(r.Context())))
			return
		}
		if r.URL.Path != "/graphql" || r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		principal, err := verifyBearer(verifier, r.Header.Get("Authorization"))
		if err != nil {
			log.Info().Err(err).Str("request_id", graph.RequestInfoFrom(r.Context()).RequestID).Msg("request rejected: not authenticated")
			w.Header().Set("WWW-Authenticate", `Bearer realm="onboarding"`)
			writeGraphQLError(w, http.StatusUnauthorized, CodeUnauthenticated, err.Error())
			return
		}
		ctx := withPrincipal(r.Context(), principal)
		// A Server-Sent Events stream ends when its token expires.
		if !principal.Expires.IsZero() && strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, principal.Expires)
			defer cancel()
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func verifyBearer(verifier *auth.Verifier, header string) (auth.Principal, error) {
	token, ok := strings.CutPrefix(strings.TrimSpace(header), "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		return auth.Principal{}, errors.New("missing bearer token; send Authorization: Bearer <token> (the token command mints one for development)")
	}
	principal, err := verifier.Verify(strings.TrimSpace(token))
	if err != nil {
		return auth.Principal{}, errors.New("invalid bearer token: " + strings.TrimPrefix(err.Error(), auth.ErrUnauthenticated.Error()+": "))
	}
	return principal, nil
}

func withPrincipal(ctx context.Context, p auth.Principal) context.Context {
	info := graph.RequestInfoFrom(ctx)
	info.Actor = eventstore.Actor{UserID: p.Subject, Role: p.Role}
	info.CustomerID = p.CustomerID
	return graph.WithRequestInfo(ctx, info)
}

// websocketInit checks the token of a WebSocket's connection_init payload,
// sent as "Authorization": "Bearer <token>" or as "authToken", and closes
// the connection with 4403 when it is missing or invalid, and again when
// the token expires.
func websocketInit(verifier *auth.Verifier, registry *connRegistry, maxPerToken int) transport.WebsocketInitFunc {
	if verifier == nil {
		return nil
	}
	return func(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		header := payload.Authorization()
		if header == "" {
			if token, _ := payload["authToken"].(string); token != "" {
				header = "Bearer " + token
			}
		}
		if header != "" && !strings.HasPrefix(header, "Bearer ") {
			header = "Bearer " + header
		}
		principal, err := verifyBearer(verifier, header)
		if err != nil {
			ctx = transport.WithWebsocketCloseCode(ctx, closeForbidden)
			return transport.AppendCloseReason(ctx, "Forbidden"), nil, err
		}
		if !registry.countToken(ctx, header, maxPerToken) {
			ctx = transport.WithWebsocketCloseCode(ctx, closeTooManyConnections)
			return transport.AppendCloseReason(ctx, "Too many connections for this token"), nil,
				fmt.Errorf("%s: this token already has %d open connections, the limit; close one first", CodeLimitExceeded, maxPerToken)
		}
		if !principal.Expires.IsZero() {
			time.AfterFunc(time.Until(principal.Expires), func() {
				closeConnOf(ctx, closeForbidden, "token expired; connect again with a new token")
			})
		}
		return withPrincipal(ctx, principal), nil, nil
	}
}
