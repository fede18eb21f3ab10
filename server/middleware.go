package server

import (
	"fmt"
	"mime"
	"net/http"
	"path"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/integrationplatform/onboarding/graph"
)

// requestIDPattern accepts client request ids that are safe to log.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestInfo sets the request id (from X-Request-ID, else the trace id of
// traceparent, else a new UUID) and the locale, and echoes the id in the
// X-Request-ID response header.
func requestInfo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !requestIDPattern.MatchString(id) {
			id = traceID(r.Header.Get("traceparent"))
		}
		if id == "" {
			id = uuid.NewString()
		}
		w.Header().Set("X-Request-ID", id)
		info := graph.RequestInfo{RequestID: id, Locale: graph.LocaleFromAcceptLanguage(r.Header.Get("Accept-Language"))}
		next.ServeHTTP(w, r.WithContext(graph.WithRequestInfo(r.Context(), info)))
	})
}

// traceID returns the trace id of a W3C traceparent header, or "".
func traceID(traceparent string) string {
	parts := strings.Split(traceparent, "-")
	if len(parts) != 4 || len(parts[1]) != 32 || !requestIDPattern.MatchString(parts[1]) {
		return ""
	}
	return parts[1]
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer, which
// WebSocket upgrades and SSE flushes need.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush passes flushes through for Server-Sent Events.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func accessLog(next http.Handler, log zerolog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		log.Info().
			Str("request_id", graph.RequestInfoFrom(r.Context()).RequestID).
			Str("method", r.Method).
			Str("path", r.URL.Path).
			Int("status", rec.status).
			Int("bytes", rec.bytes).
			Float64("duration_ms", float64(time.Since(start).Microseconds())/1000).
			Str("remote_addr", r.RemoteAddr).
			Msg("request")
	})
}

func recoverPanics(next http.Handler, log zerolog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil || p == http.ErrAbortHandler {
				if p != nil {
					panic(p)
				}
				return
			}
			log.Error().Str("request_id", graph.RequestInfoFrom(r.Context()).RequestID).Str("panic", fmt.Sprint(p)).Bytes("stack", debug.Stack()).Msg("panic in handler")
			writeGraphQLError(w, http.StatusInternalServerError, graph.CodeInternal, "internal server error")
		}()
		next.ServeHTTP(w, r)
	})
}

// CodeRequestTooLarge is the error code of a request body over the limit.
const CodeRequestTooLarge = "REQUEST_TOO_LARGE"

func limitBody(next http.Handler, limit int64) http.Handler {
	if limit <= 0 {
		limit = DefaultConfig().MaxBodyBytes
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			writeGraphQLError(w, http.StatusRequestEntityTooLarge, CodeRequestTooLarge,
				fmt.Sprintf("request body of %d bytes is larger than the limit of %d bytes; send a smaller request", r.ContentLength, limit))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// requireGraphQLContentType rejects a POST whose Content-Type no transport
// reads, with a message that names the fix.
func requireGraphQLContentType(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			switch mediaType {
			case "application/json", "application/graphql-response+json", "application/graphql", "multipart/form-data", "application/x-www-form-urlencoded":
			default:
				writeGraphQLError(w, http.StatusUnsupportedMediaType, "BAD_USER_INPUT",
					fmt.Sprintf("Content-Type %q is not supported; send Content-Type: application/json", r.Header.Get("Content-Type")))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func writeGraphQLError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"message":%q,"extensions":{"code":%q}}]}`+"\n", message, code)
}

// cors answers browser preflight requests and sets CORS headers for
// origins that match one of the allowed host patterns.
func cors(next http.Handler, allowed []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && originAllowed(origin, allowed) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, X-Request-ID, traceparent, Accept-Language")
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Expose-Headers", "X-Request-ID")
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// originAllowed reports whether origin matches a pattern. A pattern with a
// scheme, such as https://app.example.com, matches the whole origin; one
// without, such as *.example.com, matches the host under any scheme.
func originAllowed(origin string, patterns []string) bool {
	origin = strings.ToLower(origin)
	host := origin
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		target := host
		if strings.Contains(p, "://") {
			target = origin
		}
		if ok, _ := path.Match(p, target); ok {
			return true
		}
	}
	return false
}

// OriginHostPatterns returns the host part of each origin pattern, as the
// WebSocket library compares hosts only.
func OriginHostPatterns(patterns []string) []string {
	hosts := make([]string, 0, len(patterns))
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if i := strings.Index(p, "://"); i >= 0 {
			p = p[i+3:]
		}
		if p != "" {
			hosts = append(hosts, p)
		}
	}
	return hosts
}
