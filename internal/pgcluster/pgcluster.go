// Package pgcluster starts a throwaway PostgreSQL cluster for a test, one
// that the test may stop and start again to see how the server lives through
// a database outage. The shared test server must never be stopped for that.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"
)

// Cluster is a running (or stopped) throwaway cluster.
type Cluster struct {
	bindir string
	dir    string // holds data/, the unix socket and server.log
	port   int
	owner  string // the OS user that runs it when the test runs as root
}

// BinDir finds the PostgreSQL server binaries: PG_BINDIR, the newest
// /usr/lib/postgresql/*/bin, or initdb on PATH.
func BinDir() (string, error) {
	if d := os.Getenv("PG_BINDIR"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, pg_ctl) found")
}

func versionOf(bindir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bindir)))
	return n
}

// Start creates and starts a cluster on a free 127.0.0.1 port with trust
// authentication for user postgres. It is stopped and removed when t ends.
// Without PostgreSQL binaries the test fails under the project's test command
// (ITEMS_REQUIRE_POSTGRES=1 or CI) and is skipped loudly otherwise.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bindir, err := BinDir()
	if err != nil {
		if os.Getenv("ITEMS_REQUIRE_POSTGRES") == "1" || os.Getenv("CI") == "true" {
			t.Fatalf("pgcluster: %v", err)
		}
		t.Skipf("PostgreSQL SKIPPED: pgcluster: %v", err)
	}
	c := &Cluster{bindir: bindir}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root.
		c.owner = "postgres"
		if _, err := user.Lookup(c.owner); err != nil {
			t.Fatalf("pgcluster: running as root needs the OS user %q: %v", c.owner, err)
		}
	}
	// Not t.TempDir: its parents are private to root, and the cluster's
	// owner must reach the folder.
	dir, err := os.MkdirTemp("", "itemsrv-pgcluster-")
	if err != nil {
		t.Fatalf("pgcluster: %v", err)
	}
	c.dir = dir
	t.Cleanup(func() {
		c.run(context.Background(), "pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop")
		os.RemoveAll(dir)
	})
	if c.owner != "" {
		if out, err := exec.Command("chown", c.owner+":", dir).CombinedOutput(); err != nil {
			t.Fatalf("pgcluster: chown: %v: %s", err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := c.run(ctx, "initdb", "-D", c.data(), "-U", "postgres", "--auth=trust",
		"-E", "UTF8", "--locale=C.UTF-8", "--no-sync"); err != nil {
		t.Fatalf("pgcluster: initdb: %v\n%s", err, out)
	}
	conf := fmt.Sprintf("listen_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n"+
		"fsync = off\nfull_page_writes = off\nmax_connections = 50\n", dir)
	f, err := os.OpenFile(filepath.Join(c.data(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("pgcluster: %v", err)
	}
	_, err = f.WriteString(conf)
	f.Close()
	if err != nil {
		t.Fatalf("pgcluster: %v", err)
	}
	var lastErr error
	for range 5 {
		c.port, err = freePort()
		if err != nil {
			t.Fatalf("pgcluster: %v", err)
		}
		if lastErr = c.start(); lastErr == nil {
			return c
		}
	}
	t.Fatalf("pgcluster: start: %v", lastErr)
	return nil
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// URL is the cluster's maintenance database as a DATABASE_URL.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Port is the TCP port the cluster listens on, kept across restarts.
func (c *Cluster) Port() int { return c.port }

// Stop shuts the cluster down at once ("fast": sessions are ended, as in an
// outage seen from the clients), and waits until it is down.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := c.run(ctx, "pg_ctl", "-D", c.data(), "-m", "fast", "-w", "stop"); err != nil {
		t.Fatalf("pgcluster: stop: %v\n%s", err, out)
	}
}

// Restart starts the stopped cluster again on the same port.
func (c *Cluster) Restart(t testing.TB) {
	t.Helper()
	if err := c.start(); err != nil {
		t.Fatalf("pgcluster: restart: %v", err)
	}
}

func (c *Cluster) start() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := c.run(ctx, "pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "server.log"),
		"-o", fmt.Sprintf("-p %d", c.port), "-w", "-t", "60", "start")
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		return fmt.Errorf("%v\n%s\n%s", err, out, log)
	}
	return nil
}

// run runs one of the cluster's binaries, as its owner when we are root.
func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	bin := filepath.Join(c.bindir, name)
	var cmd *exec.Cmd
	if c.owner != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.owner, "--", bin}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, bin, args...)
	}
	cmd.Dir = c.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// freePort asks the kernel for a free port. Another process may take it
// before the cluster binds it; Start then tries again.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
