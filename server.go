// Command itemsrv is the Items GraphQL server: settings, wiring and the HTTP
// server with graceful shutdown. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/rs/cors"

	"itemsrv/auth"
	"itemsrv/config"
	"itemsrv/db"
	"itemsrv/events"
	"itemsrv/external"
	"itemsrv/graph"
	"itemsrv/items"
	"itemsrv/metrics"
	"itemsrv/playground"
	"itemsrv/requestid"
	"itemsrv/tracing"
)

func main() {
	// The GraphQL layer allocates many short-lived objects per request; a
	// lazier collector buys a quarter more throughput for a few MiB (see
	// docs/PERFORMANCE.md). GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := config.LoadDotEnv(); err != nil {
		fmt.Fprintln(os.Stderr, "itemsrv:", err)
		os.Exit(2)
	}
	if err := run(ctx, os.Getenv, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "itemsrv:", err)
		var se settingsError
		if errors.As(err, &se) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// settingsError marks a start refused for a bad setting.
type settingsError struct{ error }

func (e settingsError) Unwrap() error { return e.error }

// run serves until ctx is done, then shuts down gracefully. ready, when not
// nil, receives the address the server listens on.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer, ready func(addr string)) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return settingsError{err}
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	// Libraries that write to the standard logger (gqlgen does, for a
	// refused WebSocket upgrade) write JSON lines through it too.
	slog.SetDefault(log)

	// Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT is set; its deferred
	// flush runs last, after everything that makes spans has stopped.
	stopTracing, tracingOn, err := tracing.Setup(ctx, "itemsrv", log)
	if err != nil {
		return settingsError{fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)}
	}
	defer func() {
		tctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(tctx); err != nil {
			log.Warn("flushing traces", "err", err)
		}
	}()
	var gqlExtensions []graphql.HandlerExtension
	var wrapUpstream func(http.RoundTripper) http.RoundTripper
	if tracingOn {
		log.Info("tracing is on: spans go to the OTLP endpoint")
		gqlExtensions = append(gqlExtensions, tracing.Extension{})
		wrapUpstream = func(rt http.RoundTripper) http.RoundTripper { return tracing.Transport(rt, nil) }
	}

	database, err := db.Open(ctx, cfg.DatabaseURL, db.Options{MaxOpenConns: cfg.DatabaseMaxConns})
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer database.Close()
	database.Log(log)
	if tracingOn {
		database.AddQueryHook(tracing.QueryHook{})
	}
	applied, err := database.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		log.Info("migrated the database", "applied", applied)
	}
	store := db.NewStore(database)
	mtr := metrics.New()
	mtr.DBStats(database.Stats)

	// Committed events reach this process's subscribers through the
	// broker: from PostgreSQL's NOTIFY (so every process sharing the
	// database sees them), or straight from the store on SQLite.
	evm := mtr.Events()
	broker := events.NewBroker(events.Options{
		Logger:              log,
		OnPublish:           evm.Published,
		OnDrop:              evm.Dropped,
		OnSubscribersChange: evm.Subscribers,
	})
	defer broker.Close()
	listenCtx, stopListening := context.WithCancel(context.WithoutCancel(ctx))
	defer stopListening()
	if database.Engine == db.Postgres {
		listener, err := database.NewListener(broker.Publish, db.ListenerOptions{
			Logger: log,
			OnListen: func(resumed bool) {
				if resumed {
					// Events committed while the listener was away are
					// lost: tell subscribers to subscribe again.
					broker.EndAll(events.ErrEventsLost)
				}
			},
		})
		if err != nil {
			return err
		}
		go listener.Run(listenCtx)
		select {
		case <-listener.Ready():
		case <-time.After(10 * time.Second):
			log.Warn("the event listener is not connected yet; subscriptions start receiving once it is")
		case <-ctx.Done():
		}
	} else {
		store.OnCommit(broker.Publish)
	}

	upstream, err := external.New(external.Config{
		BaseURL:          cfg.ExternalAPIURL,
		Timeout:          cfg.ExternalTimeout,
		MaxRetries:       cfg.ExternalMaxRetries,
		RetryWait:        cfg.ExternalRetryWait,
		RetryMaxWait:     cfg.ExternalRetryMaxWait,
		BreakerThreshold: cfg.ExternalBreakerThresh,
		BreakerCooldown:  cfg.ExternalBreakerCooldwn,
		CacheTTL:         cfg.ExternalCacheTTL,
		Logger:           log,
		OnCall:           mtr.UpstreamCall,
		OnBreakerState:   mtr.BreakerState,
		WrapTransport:    wrapUpstream,
	})
	if err != nil {
		return settingsError{fmt.Errorf("EXTERNAL_API_URL: %w", err)}
	}

	cursorKey, err := database.CursorKey(ctx)
	if err != nil {
		return err
	}
	resolver := &graph.Resolver{Store: store, Upstream: upstream, Broker: broker, Cursors: items.NewCursorCodec(cursorKey), Log: log}
	authn, err := auth.New(auth.Config{
		JWTSecret: cfg.AuthJWTSecret,
		JWKSURL:   cfg.AuthJWKSURL,
		Issuer:    cfg.AuthIssuer,
		Audience:  cfg.AuthAudience,
		Logger:    log,
	})
	if err != nil {
		return settingsError{fmt.Errorf("AUTH_JWT_SECRET/AUTH_JWKS_URL: %w", err)}
	}
	if authn.Enabled() {
		log.Info("authentication is on: every GraphQL request needs a bearer token")
	}

	live := &graph.Live{}
	gql := graph.NewHandler(resolver, graph.Options{
		WebsocketInit:   authn.GQLGenInitFunc(),
		ComplexityLimit: cfg.ComplexityLimit,
		Introspection:   cfg.Introspection,
		AllowedOrigins:  cfg.CORSAllowedOrigins,
		Observer:        mtr,
		Live:            live,
		Extensions:      gqlExtensions,
		Log:             log,
	})

	mux := http.NewServeMux()
	streams := newStreams()
	mux.Handle("/graphql", streams.track(limitTime(cfg.RequestTimeout, limitBody(cfg.MaxBodyBytes, authn.Middleware(resolver.LoadersMiddleware(gql))))))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := database.Ping(pctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "database unavailable\n")
			return
		}
		io.WriteString(w, "ok\n")
	})
	if cfg.Playground {
		page, err := playground.New("/graphql", cfg.PlaygroundAssetDir)
		if err != nil {
			return settingsError{fmt.Errorf("GRAPHQL_PLAYGROUND_ASSETS_DIR: %w", err)}
		}
		mux.Handle("GET /{$}", page)
		if cfg.PlaygroundAssetDir != "" {
			mux.Handle("GET "+playground.AssetsPath, page)
		}
	}

	stopPprof, err := servePprof(cfg.PprofAddr, log)
	if err != nil {
		return err
	}
	defer stopPprof(context.Background())
	metricsSrv := serveMetrics(mux, cfg.MetricsAddr, mtr.Handler(), log)
	metricsAddr, err := metricsSrv.listen()
	if err != nil {
		return err
	}
	var handler http.Handler = requestid.Middleware(logRequests(log, mtr.ObserveHTTP, corsHandler(cfg.CORSAllowedOrigins).Handler(mux)))
	if tracingOn {
		handler = tracing.Handler(handler, tracing.HandlerOptions{
			Routes: []string{"/", "/graphql"},
			Skip:   []string{"/healthz", "/readyz", "/metrics"},
		})
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.Port))
	if err != nil {
		return fmt.Errorf("PORT: listen: %w", err)
	}
	addr := ln.Addr().String()
	log.Info("serving", "addr", addr, "graphql", "/graphql", "playground", cfg.Playground)
	if ready != nil {
		ready(addr)
	}

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if metricsSrv != nil {
		log.Info("serving metrics", "addr", metricsAddr)
		go func() { errc <- metricsSrv.serve() }()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	// Subscriptions end cleanly: each gets its complete message, which
	// needs its socket still open, so the sockets close (through streams)
	// only once every complete is out. In-flight requests finish
	// meanwhile, so a subscriber too slow to take its complete does not
	// eat their grace period.
	broker.Close()
	streams.refuse()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	completed := make(chan struct{})
	go func() {
		defer close(completed)
		if err := live.Wait(sctx); err != nil {
			log.Warn("subscriptions did not send their complete in time", "open", live.Count(), "err", err)
		}
		streams.end()
	}()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown did not finish in time", "err", err)
		srv.Close()
	}
	metricsSrv.shutdown(sctx)
	<-completed
	if err := streams.wait(sctx); err != nil {
		log.Warn("subscriptions did not close in time", "err", err)
	}
	log.Info("stopped")
	return nil
}

func corsHandler(origins []string) *cors.Cors {
	return cors.New(cors.Options{
		AllowedOrigins:   origins,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost, http.MethodOptions},
		AllowedHeaders:   []string{"*"},
		ExposedHeaders:   []string{requestid.Header},
		AllowCredentials: false,
		MaxAge:           600,
	})
}
