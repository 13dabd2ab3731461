// Command jsonplaceholder serves a local stand-in for the JSONPlaceholder
// REST API (posts and users), with the fault-injection control API of
// package jsonplaceholder under /__, for development, benchmarks and
// end-to-end tests without the internet.
//
// Usage:
//
//	jsonplaceholder [-addr 127.0.0.1:3001] [-latency 20ms]
//
// JSONPLACEHOLDER_ADDR and JSONPLACEHOLDER_LATENCY are the defaults of the
// flags. Point the server at it with EXTERNAL_API_URL=http://127.0.0.1:3001.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"itemsrv/jsonplaceholder"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "jsonplaceholder:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	fs := flag.NewFlagSet("jsonplaceholder", flag.ContinueOnError)
	addr := fs.String("addr", envOr("JSONPLACEHOLDER_ADDR", "127.0.0.1:3001"), "listen address")
	latencyDefault, err := time.ParseDuration(envOr("JSONPLACEHOLDER_LATENCY", "0s"))
	if err != nil {
		return fmt.Errorf("JSONPLACEHOLDER_LATENCY: %w", err)
	}
	latency := fs.Duration("latency", latencyDefault, "delay added to every data request")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *latency < 0 {
		return fmt.Errorf("-latency must not be negative, got %s", *latency)
	}

	fake := jsonplaceholder.New()
	fake.SetLatency(*latency)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("jsonplaceholder stand-in listening",
		"addr", ln.Addr().String(), "url", "http://"+ln.Addr().String(), "latency", latency.String())

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
