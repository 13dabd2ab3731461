package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"itemsrv/graph"
	"itemsrv/requestid"
)

// limitBody refuses a request body over max bytes with 413: at once when the
// declared length is over, else as soon as the body passes the limit.
func limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			tooLarge(w, max)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
			if err != nil {
				http.Error(w, `{"errors":[{"message":"could not read the request body","extensions":{"code":"BAD_REQUEST"}}]}`, http.StatusBadRequest)
				return
			}
			if int64(len(body)) > max {
				tooLarge(w, max)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(w, r)
	})
}

func tooLarge(w http.ResponseWriter, max int64) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	io.WriteString(w, `{"errors":[{"message":"the request body is larger than the limit","extensions":{"code":"PAYLOAD_TOO_LARGE"}}]}`)
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (WebSocket
// upgrades, SSE flushes).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// logRequests writes one JSON line per request: its id, method, path,
// status, size and duration and, for GraphQL, the operation names and the
// error codes answered. observe, when not nil, is told every request's
// method and status.
func logRequests(log *slog.Logger, observe func(method string, status int), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		ctx, info := graph.WithRequestInfo(r.Context())
		next.ServeHTTP(sw, r.WithContext(ctx))
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		attrs := []slog.Attr{
			slog.String("requestId", requestid.From(r.Context())),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Int64("bytes", sw.bytes),
			slog.Duration("duration", time.Since(start)),
		}
		if ops := info.Operations(); len(ops) > 0 {
			attrs = append(attrs, slog.Any("operations", ops))
		}
		if codes := info.ErrorCodes(); len(codes) > 0 {
			attrs = append(attrs, slog.Any("errorCodes", codes))
		}
		log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
		if observe != nil {
			observe(r.Method, sw.status)
		}
	})
}

// isStream reports whether r opens a subscription: a WebSocket upgrade or
// a Server-Sent Events stream, which live as long as the client wants.
func isStream(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") ||
		strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// limitTime bounds every request but subscriptions by d: its context ends
// then, and the connection's read and write deadlines follow, with a little
// grace to write the answer. The server itself sets no read or write
// timeout, since one would cut every WebSocket and SSE subscription.
func limitTime(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d <= 0 || isStream(r) {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(d))
		_ = rc.SetWriteDeadline(time.Now().Add(d + 5*time.Second))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Hijack hands a WebSocket upgrade the connection.
func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if s.status == 0 {
		s.status = http.StatusSwitchingProtocols
	}
	return http.NewResponseController(s.ResponseWriter).Hijack()
}

// metricsServer serves /metrics on its own address (METRICS_ADDR).
type metricsServer struct {
	srv *http.Server
	ln  net.Listener
}

// serveMetrics puts /metrics on mux when addr is empty and returns nil;
// otherwise it listens on addr and returns the server to run there, so
// that the main port does not show the metrics.
func serveMetrics(mux *http.ServeMux, addr string, h http.Handler, log *slog.Logger) *metricsServer {
	if addr == "" {
		mux.Handle("GET /metrics", h)
		return nil
	}
	m := http.NewServeMux()
	m.Handle("GET /metrics", h)
	return &metricsServer{srv: &http.Server{
		Addr:              addr,
		Handler:           m,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
}

// listen opens the metrics address before the server says it is ready.
func (m *metricsServer) listen() (string, error) {
	if m == nil {
		return "", nil
	}
	ln, err := net.Listen("tcp", m.srv.Addr)
	if err != nil {
		return "", fmt.Errorf("METRICS_ADDR: listen: %w", err)
	}
	m.ln = ln
	return ln.Addr().String(), nil
}

func (m *metricsServer) serve() error {
	if err := m.srv.Serve(m.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

func (m *metricsServer) shutdown(ctx context.Context) {
	if m != nil {
		if err := m.srv.Shutdown(ctx); err != nil {
			m.srv.Close()
		}
	}
}
