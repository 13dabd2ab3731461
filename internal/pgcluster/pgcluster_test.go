package pgcluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"itemsrv/internal/pgcluster"
)

func TestStopAndRestart(t *testing.T) {
	c := pgcluster.Start(t)
	ping := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, c.URL())
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		return conn.Ping(ctx)
	}
	if err := ping(); err != nil {
		t.Fatalf("a started cluster does not answer: %v", err)
	}
	c.Stop(t)
	if err := ping(); err == nil {
		t.Fatal("a stopped cluster still answers")
	}
	c.Restart(t)
	if err := ping(); err != nil {
		t.Fatalf("a restarted cluster does not answer: %v", err)
	}
}
