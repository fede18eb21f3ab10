package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// closeGoingAway is the WebSocket close code for a server that shuts down
// (RFC 6455, 1001 Going Away). Clients of both GraphQL subprotocols treat
// it as a reason to reconnect, and resume with their last cursor.
const closeGoingAway = 1001

// connRegistry tracks open WebSocket connections so that Shutdown can tell
// each client that the server is going away.
type connRegistry struct {
	// mu guards conns.
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
	// perToken counts open connections by the hash of their token.
	perToken map[string]int
}

func newConnRegistry() *connRegistry {
	return &connRegistry{conns: map[*trackedConn]struct{}{}, perToken: map[string]int{}}
}

// acquire counts one more connection for a token, unless it already has
// max; max of zero or less means no limit.
func (r *connRegistry) acquire(tokenKey string, max int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if max > 0 && r.perToken[tokenKey] >= max {
		return false
	}
	r.perToken[tokenKey]++
	return true
}

func (r *connRegistry) releaseLocked(tokenKey string) {
	if tokenKey == "" {
		return
	}
	r.perToken[tokenKey]--
	if r.perToken[tokenKey] <= 0 {
		delete(r.perToken, tokenKey)
	}
}

// connSlot carries a WebSocket connection from its upgrade to the
// connection_init check, through the request's context.
type connSlot struct {
	conn atomic.Pointer[trackedConn]
}

type connSlotKey struct{}

// withConnSlot returns a context in which Accept records the connection.
func withConnSlot(ctx context.Context) context.Context {
	return context.WithValue(ctx, connSlotKey{}, &connSlot{})
}

// countToken counts the connection recorded in ctx against a token, and
// reports false when the token already has max open connections.
func (r *connRegistry) countToken(ctx context.Context, token string, max int) bool {
	slot, _ := ctx.Value(connSlotKey{}).(*connSlot)
	c := slot.load()
	if c == nil {
		return true
	}
	sum := sha256.Sum256([]byte(token))
	key := hex.EncodeToString(sum[:])
	if !r.acquire(key, max) {
		return false
	}
	r.mu.Lock()
	c.tokenKey = key
	r.mu.Unlock()
	return true
}

func (s *connSlot) load() *trackedConn {
	if s == nil {
		return nil
	}
	return s.conn.Load()
}

// closeConnOf closes the WebSocket connection recorded in ctx, if any.
func closeConnOf(ctx context.Context, code int, reason string) {
	slot, _ := ctx.Value(connSlotKey{}).(*connSlot)
	if slot == nil {
		return
	}
	if c := slot.conn.Load(); c != nil {
		_ = c.WriteClose(code, reason)
		_ = c.Close()
	}
}

// goAway closes every open connection with 1001 Going Away.
func (r *connRegistry) goAway() {
	r.mu.Lock()
	conns := make([]*trackedConn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	for _, c := range conns {
		_ = c.WriteClose(closeGoingAway, "server shutting down; reconnect and resume with after")
		_ = c.Close()
	}
}

// trackingImplementation registers every accepted connection.
type trackingImplementation struct {
	inner    transport.WebsocketImplementation
	registry *connRegistry
}

func (t trackingImplementation) Accept(w http.ResponseWriter, r *http.Request, options transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	conn, err := t.inner.Accept(w, r, options)
	if err != nil {
		return conn, err
	}
	tracked := &trackedConn{WebsocketConn: conn, registry: t.registry}
	t.registry.mu.Lock()
	t.registry.conns[tracked] = struct{}{}
	t.registry.mu.Unlock()
	if slot, _ := r.Context().Value(connSlotKey{}).(*connSlot); slot != nil {
		slot.conn.Store(tracked)
	}
	return tracked, nil
}

// trackedConn removes itself from the registry when it closes.
type trackedConn struct {
	transport.WebsocketConn
	registry *connRegistry
	// tokenKey is the hash of the token the connection counts against;
	// guarded by the registry's mu.
	tokenKey string
}

func (c *trackedConn) Close() error {
	c.registry.mu.Lock()
	if _, open := c.registry.conns[c]; open {
		c.registry.releaseLocked(c.tokenKey)
		c.tokenKey = ""
	}
	delete(c.registry.conns, c)
	c.registry.mu.Unlock()
	return c.WebsocketConn.Close()
}
