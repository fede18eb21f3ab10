package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// Close codes of the graphql-transport-ws protocol, as its PROTOCOL.md in
// github.com/enisdenjo/graphql-ws defines them.
const (
	closeBadRequest          = 4400
	closeUnauthorized        = 4401
	closeInitTimeout         = 4408
	closeSubscriberExists    = 4409
	closeTooManyInitRequests = 4429
)

const transportWSSubprotocol = "graphql-transport-ws"

// CodeLimitExceeded is the error code of a request over a configured limit:
// aliases, subscriptions per connection or connections per token.
const CodeLimitExceeded = "LIMIT_EXCEEDED"

// protocolCloseImplementation accepts WebSocket connections with inner and
// makes graphql-transport-ws connections close with the protocol's codes.
//
// gqlgen v0.17.98 closes with 1002 when connection_init times out, when a
// message comes before connection_init or a second connection_init comes,
// and when a message cannot be decoded before connection_init. An invalid
// message after connection_init ends the connection with 1000, and a
// subscribe with an id already in use starts a second operation under that
// id. The connection returned here checks each message before gqlgen reads
// it, closes with 4400, 4401, 4409 or 4429 itself, and turns gqlgen's 1002
// before connection_init into 4408. It also replies with pong to a ping
// before connection_init, which the protocol allows and gqlgen closes with
// 1002.
// Connections of the legacy graphql-ws subprotocol pass through unchanged.
type protocolCloseImplementation struct {
	inner transport.WebsocketImplementation
	// maxSubscriptions limits the subscriptions running on one connection;
	// zero means no limit.
	maxSubscriptions int
}

func (p protocolCloseImplementation) Accept(w http.ResponseWriter, r *http.Request, options transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	conn, err := p.inner.Accept(w, r, options)
	if err != nil || conn.Subprotocol() != transportWSSubprotocol {
		return conn, err
	}
	return &protocolCloseConn{WebsocketConn: conn, active: map[string]bool{}, maxSubscriptions: p.maxSubscriptions}, nil
}

// protocolCloseConn is a graphql-transport-ws connection that enforces the
// protocol's close codes. gqlgen reads from one goroutine but writes from
// many, so the state is guarded by mu.
type protocolCloseConn struct {
	transport.WebsocketConn

	maxSubscriptions int

	mu          sync.Mutex
	initialized bool
	closing     bool
	// active holds the ids of subscriptions the client started and the
	// server has not yet ended with complete or error.
	active map[string]bool
}

// clientMessage is the part of a graphql-transport-ws message that the
// checks read.
type clientMessage struct {
	Type    *string         `json:"type"`
	ID      *string         `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

// errConnectionClosed ends gqlgen's read loop after this connection has
// started a close handshake with a protocol code.
var errConnectionClosed = fmt.Errorf("graphql-transport-ws connection closed by protocol check: %w", transport.ErrWebsocketClosed)

// NextReader returns the next message that passes the protocol checks. A
// message that breaks the protocol closes the connection with its code and
// returns an error wrapping transport.ErrWebsocketClosed.
func (c *protocolCloseConn) NextReader() (int, io.Reader, error) {
	for {
		kind, r, err := c.WebsocketConn.NextReader()
		if err != nil {
			return kind, r, err
		}
		data, err := io.ReadAll(r)
		if err != nil {
			return kind, nil, err
		}
		pass, code, reason := c.check(data)
		if code != 0 {
			c.closeWith(code, reason)
			return kind, nil, errConnectionClosed
		}
		if pass {
			return kind, bytes.NewReader(data), nil
		}
	}
}

// check applies the protocol's rules to one client message. It returns
// whether gqlgen should read the message, or a close code and reason when
// the message breaks the protocol. A ping before connection_init gets its
// pong here, because gqlgen would close the connection.
func (c *protocolCloseConn) check(data []byte) (pass bool, code int, reason string) {
	var msg clientMessage
	if err := json.Unmarshal(data, &msg); err != nil {
		return false, closeBadRequest, "Invalid message received: not a JSON object"
	}
	if msg.Type == nil {
		return false, closeBadRequest, `Invalid message received: missing "type"`
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	switch *msg.Type {
	case "connection_init":
		if c.initialized {
			return false, closeTooManyInitRequests, "Too many initialisation requests"
		}
		if len(msg.Payload) > 0 && !isJSONObjectOrNull(msg.Payload) {
			return false, closeBadRequest, "Invalid message received: connection_init payload is not an object"
		}
		c.initialized = true
		return true, 0, ""
	case "ping", "pong":
		if !c.initialized {
			if *msg.Type == "ping" {
				_ = c.WebsocketConn.WriteJSON(json.RawMessage(`{"type":"pong"}`))
			}
			return false, 0, ""
		}
		return true, 0, ""
	case "subscribe":
		if msg.ID == nil || *msg.ID == "" {
			return false, closeBadRequest, `Invalid message received: subscribe without "id"`
		}
		if !isJSONObject(msg.Payload) {
			return false, closeBadRequest, "Invalid message received: subscribe payload is not an object"
		}
		if !c.initialized {
			return false, closeUnauthorized, "Unauthorized"
		}
		if c.active[*msg.ID] {
			return false, closeSubscriberExists, "Subscriber for " + *msg.ID + " already exists"
		}
		if c.maxSubscriptions > 0 && len(c.active) >= c.maxSubscriptions {
			// The subscription is refused with an error message; the others
			// on the connection go on.
			refusal, _ := json.Marshal(map[string]any{"id": *msg.ID, "type": "error", "payload": []map[string]any{{
				"message":    fmt.Sprintf("this connection already runs %d subscriptions, the limit; complete one before starting another", c.maxSubscriptions),
				"extensions": map[string]any{"code": CodeLimitExceeded, "limit": c.maxSubscriptions},
			}}})
			_ = c.WebsocketConn.WriteJSON(json.RawMessage(refusal))
			return false, 0, ""
		}
		c.active[*msg.ID] = true
		return true, 0, ""
	case "complete":
		if msg.ID == nil || *msg.ID == "" {
			return false, closeBadRequest, `Invalid message received: complete without "id"`
		}
		if !c.initialized {
			return false, closeUnauthorized, "Unauthorized"
		}
		// NOTE: gqlgen sends complete when the stopped operation ends, and
		// WriteJSON then frees the id again, so a new subscription that
		// reuses the id at once is not guarded against a later duplicate.
		delete(c.active, *msg.ID)
		return true, 0, ""
	default:
		return false, closeBadRequest, fmt.Sprintf("Invalid message received: unexpected type %q", *msg.Type)
	}
}

func isJSONObject(raw json.RawMessage) bool {
	var object map[string]json.RawMessage
	return json.Unmarshal(raw, &object) == nil && object != nil
}

func isJSONObjectOrNull(raw json.RawMessage) bool {
	var object map[string]json.RawMessage
	return json.Unmarshal(raw, &object) == nil
}

// WriteJSON sends v and frees the id of a subscription that v ends.
func (c *protocolCloseConn) WriteJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	// Only complete and error end a subscription, so other messages skip
	// the second decoding.
	if bytes.Contains(data, []byte(`"type":"complete"`)) || bytes.Contains(data, []byte(`"type":"error"`)) {
		var msg clientMessage
		if json.Unmarshal(data, &msg) == nil && msg.ID != nil && msg.Type != nil && (*msg.Type == "complete" || *msg.Type == "error") {
			c.mu.Lock()
			delete(c.active, *msg.ID)
			c.mu.Unlock()
		}
	}
	return c.WebsocketConn.WriteJSON(json.RawMessage(data))
}

// WriteClose starts the close handshake. gqlgen closes with 1002 before
// connection_init only when the init timeout passes, because check closes
// the connection itself for every bad message, so that close becomes 4408.
func (c *protocolCloseConn) WriteClose(code int, reason string) error {
	c.mu.Lock()
	if code == transport.WebsocketCloseProtocolError && !c.initialized {
		code, reason = closeInitTimeout, "Connection initialisation timeout"
	}
	c.mu.Unlock()
	return c.closeWith(code, reason)
}

// closeWith sends only the first close frame, so that gqlgen's own close
// after a protocol check keeps the protocol's code.
func (c *protocolCloseConn) closeWith(code int, reason string) error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	c.mu.Unlock()
	return c.WebsocketConn.WriteClose(code, reason)
}

// SetReadLimit passes gqlgen's payload read limit on to the inner connection.
func (c *protocolCloseConn) SetReadLimit(limit int64) {
	if limiter, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		limiter.SetReadLimit(limit)
	}
}

// SetReadDeadline passes gqlgen's pong deadline on to the inner connection.
func (c *protocolCloseConn) SetReadDeadline(t time.Time) error {
	if deadliner, ok := c.WebsocketConn.(transport.WebsocketReadDeadliner); ok {
		return deadliner.SetReadDeadline(t)
	}
	return nil
}
