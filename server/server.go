// Package server serves the GraphQL API over HTTP, WebSocket and
// Server-Sent Events, with health endpoints, an access log and graceful
// shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/coder/websocket"
	"github.com/rs/zerolog"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/integrationplatform/onboarding/auth"
	"github.com/integrationplatform/onboarding/graph"
	"github.com/integrationplatform/onboarding/graph/generated"
)

// Config sets the server's limits and behaviour. Zero values take the
// defaults of DefaultConfig.
type Config struct {
	// MaxBodyBytes is the largest request body accepted.
	MaxBodyBytes int64
	// MaxComplexity is the largest query complexity accepted, where each
	// field counts one.
	MaxComplexity int
	// MaxDepth is the deepest nesting of fields accepted.
	MaxDepth int
	// Introspection enables the schema introspection queries.
	Introspection bool
	// QueryCacheSize is the number of parsed queries kept.
	QueryCacheSize int
	// KeepAlive is the interval of WebSocket keepalive messages.
	KeepAlive time.Duration
	// InitTimeout is how long a WebSocket client has to send
	// connection_init before the server closes the connection.
	InitTimeout time.Duration
	// MaxAliases is the largest number of aliased fields in one operation.
	MaxAliases int
	// MaxSubscriptionsPerConnection limits the subscriptions running on
	// one graphql-transport-ws connection.
	MaxSubscriptionsPerConnection int
	// MaxConnectionsPerToken limits the WebSocket connections open at once
	// with one bearer token.
	MaxConnectionsPerToken int
	// Verifier checks bearer tokens; nil turns authentication off.
	Verifier *auth.Verifier
	// AllowedOrigins are host patterns (as path.Match takes them) of browser
	// origins allowed for CORS and WebSocket, beyond the server's own host.
	AllowedOrigins []string
}

// DefaultConfig returns the default limits.
func DefaultConfig() Config {
	return Config{
		MaxBodyBytes:  1 << 20,
		MaxComplexity: 5000,
		MaxDepth:      12,
		MaxAliases:    30,

		MaxSubscriptionsPerConnection: 100,
		MaxConnectionsPerToken:        20,
		Introspection:                 true,
		QueryCacheSize:                1000,
		KeepAlive:                     10 * time.Second,
		InitTimeout:                   10 * time.Second,
	}
}

// Ready reports whether the server can respond with current data.
type Ready func() bool

// Server is the HTTP server of the API.
type Server struct {
	http      *http.Server
	log       zerolog.Logger
	stopBase  context.CancelFunc
	listener  net.Listener
	onStop    func()
	stopped   chan struct{}
	serveDone chan error
	// subscriptions counts running GraphQL subscriptions, so that Shutdown
	// can let SSE subscriptions send their complete messages.
	subscriptions sync.WaitGroup
	// websockets lets Shutdown tell WebSocket clients to reconnect.
	websockets *connRegistry
}

// New returns a server for resolver. onStop runs first during Shutdown; it
// should end the subscriptions.
func New(cfg Config, resolver *graph.Resolver, ready Ready, onStop func(), log zerolog.Logger) *Server {
	baseCtx, stopBase := context.WithCancel(context.Background())
	s := &Server{log: log, stopBase: stopBase, onStop: onStop, stopped: make(chan struct{}), serveDone: make(chan error, 1)}

	mux := http.NewServeMux()
	s.websockets = newConnRegistry()
	gql := newGraphQLHandler(cfg, resolver, s.websockets, log)
	gql.AroundOperations(s.countSubscriptions)
	mux.Handle("/graphql", requireGraphQLContentType(gql))
	mux.Handle("GET /{$}", playground.Handler("Onboarding API", "/graphql"))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ready() {
			writeText(w, http.StatusServiceUnavailable, "not ready: read models are catching up with the event store\n")
			return
		}
		writeText(w, http.StatusOK, "ready\n")
	})

	var h http.Handler = mux
	h = authenticate(h, cfg.Verifier, log)
	h = limitBody(h, cfg.MaxBodyBytes)
	h = cors(h, cfg.AllowedOrigins)
	h = recoverPanics(h, log)
	h = accessLog(h, log)
	h = requestInfo(h)
	s.http = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          nil,
	}
	return s
}

func newGraphQLHandler(cfg Config, resolver *graph.Resolver, registry *connRegistry, log zerolog.Logger) *handler.Server {
	defaults := DefaultConfig()
	if cfg.MaxComplexity <= 0 {
		cfg.MaxComplexity = defaults.MaxComplexity
	}
	if cfg.MaxDepth <= 0 {
		cfg.MaxDepth = defaults.MaxDepth
	}
	if cfg.QueryCacheSize <= 0 {
		cfg.QueryCacheSize = defaults.QueryCacheSize
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = defaults.KeepAlive
	}
	if cfg.InitTimeout <= 0 {
		cfg.InitTimeout = defaults.InitTimeout
	}
	srv := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: resolver}))
	srv.AddTransport(transport.Websocket{
		Implementation: trackingImplementation{registry: registry, inner: protocolCloseImplementation{maxSubscriptions: cfg.MaxSubscriptionsPerConnection, inner: transport.CoderWebsocketImplementation{
			AcceptOptions: websocket.AcceptOptions{OriginPatterns: OriginHostPatterns(cfg.AllowedOrigins)},
		}}},
		KeepAlivePingInterval: cfg.KeepAlive,
		PingPongInterval:      cfg.KeepAlive,
		InitTimeout:           cfg.InitTimeout,
		InitFunc:              websocketInit(cfg.Verifier, registry, cfg.MaxConnectionsPerToken),
		ErrorFunc: func(ctx context.Context, err error) {
			log.Info().Err(err).Str("request_id", graph.RequestInfoFrom(ctx).RequestID).Msg("websocket closed with error")
		},
	})
	srv.AddTransport(transport.SSE{})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](cfg.QueryCacheSize))
	if cfg.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](cfg.QueryCacheSize)})
	srv.Use(extension.FixedComplexityLimit(cfg.MaxComplexity))
	srv.Use(graph.DepthLimit{Max: cfg.MaxDepth})
	if cfg.MaxAliases <= 0 {
		cfg.MaxAliases = defaults.MaxAliases
	}
	srv.Use(graph.AliasLimit{Max: cfg.MaxAliases})
	srv.AroundFields(resolver.Authorize)
	srv.SetErrorPresenter(graph.ErrorPresenter(log))
	srv.SetRecoverFunc(graph.Recover(log))
	return srv
}

// countSubscriptions tracks each subscription until its last response.
func (s *Server) countSubscriptions(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil || oc.Operation.Operation != ast.Subscription {
		return next(ctx)
	}
	s.subscriptions.Add(1)
	responses := next(ctx)
	var done sync.Once
	return func(ctx context.Context) *graphql.Response {
		r := responses(ctx)
		if r == nil {
			done.Do(s.subscriptions.Done)
		}
		return r
	}
}

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// Serve starts serving on ln in the background.
func (s *Server) Serve(ln net.Listener) {
	s.listener = ln
	go func() {
		err := s.http.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.serveDone <- err
	}()
	s.log.Info().Str("addr", ln.Addr().String()).Msg("server listening")
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string {
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// Shutdown closes WebSocket connections with 1001 Going Away, stops
// accepting connections, ends every subscription, and waits for running
// requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	// WebSocket clients get 1001 Going Away first, so they reconnect to
	// another replica and resume with their cursor; SSE streams then end
	// with the subscriptions.
	s.websockets.goAway()
	if s.onStop != nil {
		s.onStop()
	}
	ended := make(chan struct{})
	go func() {
		s.subscriptions.Wait()
		close(ended)
	}()
	err := s.http.Shutdown(ctx)
	select {
	case <-ended:
		// NOTE: gqlgen writes a subscription's complete message just after
		// its last response returns, with no hook to wait for, so sockets get
		// this short grace period before they close.
		time.Sleep(completeGrace)
	case <-ctx.Done():
	}
	s.stopBase()
	if err != nil {
		_ = s.http.Close()
		return fmt.Errorf("shut down http server: %w", err)
	}
	if s.listener != nil {
		return <-s.serveDone
	}
	return nil
}

// completeGrace is how long Shutdown lets subscriptions that ended write
// their complete messages.
const completeGrace = 50 * time.Millisecond
