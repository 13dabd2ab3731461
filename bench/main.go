// Command bench is the load benchmark of the server against a raw baseline.
//
// From the repository root:
//
//	go run ./bench                  # 2 s warm-up, 10 s per case, 2 repeats
//	go run ./bench -duration 3s -repeat 1   # a quick run
//
// It builds the server, the baseline (bench/baseline: net/http + pgx, plain
// JSON) and the JSONPlaceholder stand-in into a temporary folder; creates a
// throwaway PostgreSQL database on the server of -db (TEST_DATABASE_URL, else
// the local 127.0.0.1:5432) and seeds it with 10,000 items; then drives every
// case with the closed-loop generator of bench/load at each concurrency,
// first against the server and, for the three cases the baseline serves,
// against the baseline with the same pool size. It measures the server's
// start-to-ready time on SQLite last. The report goes to stdout as markdown
// and, with the raw numbers, to bench/results/ (git-ignored). The database
// is dropped at the end.
package main

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"itemsrv/bench/load"
)

type options struct {
	duration, warmup time.Duration
	repeat           int
	concurrency      []int
	seed             int
	pool             int
	enrichPool       int
	upstreamLatency  time.Duration
	adminURL         string
	out              string
	cases            map[string]bool
	logLevel         string
	readyStarts      int
	// profile writes a CPU profile of the server for each measured run.
	profile bool
	// stamp names this run's files in out.
	stamp string
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags() (*options, error) {
	o := &options{}
	defAdmin := os.Getenv("TEST_DATABASE_URL")
	if defAdmin == "" {
		defAdmin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per case, concurrency and repeat")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each measured run")
	flag.IntVar(&o.repeat, "repeat", 2, "measured runs per case and concurrency, so that the noise shows")
	conc := flag.String("concurrency", "1,32", "comma-separated closed-loop concurrencies")
	flag.IntVar(&o.seed, "seed", 10000, "items seeded before the runs")
	flag.IntVar(&o.pool, "pool", 10, "DATABASE_MAX_CONNS of the server, and the baseline's pool size")
	flag.IntVar(&o.enrichPool, "enrich-pool", 4, "DATABASE_MAX_CONNS of the server for the enrichItem case")
	flag.DurationVar(&o.upstreamLatency, "upstream-latency", 20*time.Millisecond, "latency of the JSONPlaceholder stand-in")
	flag.StringVar(&o.adminURL, "db", defAdmin, "PostgreSQL server URL on which a throwaway database is created")
	flag.StringVar(&o.out, "out", "bench/results", "folder for the markdown and JSON reports")
	cases := flag.String("cases", "", "comma-separated case names to run (default all): "+strings.Join(caseNames(), ","))
	flag.StringVar(&o.logLevel, "log-level", "info", "LOG_LEVEL of the server (info logs one line per request, as in production)")
	flag.IntVar(&o.readyStarts, "ready-starts", 5, "SQLite start-to-ready measurements of each kind (0 skips them)")
	flag.BoolVar(&o.profile, "profile", false, "write a CPU profile of the server for every measured run to the -out folder (through PPROF_ADDR)")
	flag.Parse()
	for _, f := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-concurrency: %q is not a positive number", f)
		}
		o.concurrency = append(o.concurrency, n)
	}
	if *cases != "" {
		o.cases = map[string]bool{}
		for _, c := range strings.Split(*cases, ",") {
			c = strings.TrimSpace(c)
			if !slices.Contains(caseNames(), c) {
				return nil, fmt.Errorf("-cases: unknown case %q (have %s)", c, strings.Join(caseNames(), ","))
			}
			o.cases[c] = true
		}
	}
	if o.repeat < 1 || o.duration <= 0 || o.warmup < 0 || o.seed < 200 || o.pool < 1 || o.enrichPool < 1 {
		return nil, errors.New("-repeat, -duration, -pool and -enrich-pool must be positive, -seed at least 200")
	}
	return o, nil
}

func run() error {
	o, err := parseFlags()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tmp, err := os.MkdirTemp("", "itemsbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bins, err := build(ctx, tmp)
	if err != nil {
		return err
	}

	dbURL, dropDB, err := createDatabase(ctx, o.adminURL)
	if err != nil {
		return err
	}
	defer dropDB()

	started := time.Now().UTC()
	o.stamp = started.Format("20060102T150405Z")
	report := &Report{
		Started:   started,
		Machine:   machine(),
		Command:   "go run ./bench " + strings.Join(os.Args[1:], " "),
		Duration:  o.duration.String(),
		Warmup:    o.warmup.String(),
		Repeat:    o.repeat,
		Pool:      o.pool,
		Seed:      o.seed,
		LogLevel:  o.logLevel,
		Upstream:  o.upstreamLatency.String(),
		EnrichCon: o.enrichPool,
	}

	upstreamAddr := freeAddr()
	upstream, err := start(ctx, tmp, bins.upstream, nil, "-addr", upstreamAddr, "-latency", o.upstreamLatency.String())
	if err != nil {
		return err
	}
	defer upstream.stop()
	if err := waitListening(ctx, upstreamAddr, 10*time.Second); err != nil {
		return fmt.Errorf("the stand-in: %w", err)
	}

	serverEnv := func(pool int) (string, []string) {
		addr := freeAddr()
		_, port, _ := net.SplitHostPort(addr)
		var pprof []string
		if o.profile {
			pprof = []string{"PPROF_ADDR=" + freeAddr()}
		}
		return "http://" + addr, append(pprof,
			"DATABASE_URL="+dbURL,
			"PORT="+port,
			"DATABASE_MAX_CONNS="+strconv.Itoa(pool),
			"EXTERNAL_API_URL=http://"+upstreamAddr,
			// An hour: the externalPosts case measures the warm cache.
			"EXTERNAL_CACHE_TTL=1h",
			"LOG_LEVEL="+o.logLevel,
			"GRAPHQL_PLAYGROUND=false",
		)
	}
	srvURL, env := serverEnv(o.pool)
	server, err := start(ctx, tmp, bins.server, env)
	if err != nil {
		return err
	}
	defer server.stop()
	if _, err := waitReady(ctx, srvURL+"/readyz", 30*time.Second); err != nil {
		return fmt.Errorf("the server: %w", err)
	}
	fmt.Fprintf(os.Stderr, "seeding %d items…\n", o.seed)
	if err := seed(ctx, dbURL, o.seed); err != nil {
		return err
	}
	baseAddr := freeAddr()
	_, basePort, _ := net.SplitHostPort(baseAddr)
	baseline, err := start(ctx, tmp, bins.baseline, []string{
		"DATABASE_URL=" + dbURL, "PORT=" + basePort, "DATABASE_MAX_CONNS=" + strconv.Itoa(o.pool),
	})
	if err != nil {
		return err
	}
	defer baseline.stop()
	baseURL := "http://" + baseAddr
	if _, err := waitReady(ctx, baseURL+"/readyz", 30*time.Second); err != nil {
		return fmt.Errorf("the baseline: %w", err)
	}
	time.Sleep(500 * time.Millisecond)
	report.IdleRSSMiB = mib(server.status("VmRSS"))
	report.IdleAnonMiB = mib(server.status("RssAnon"))
	report.IdleFileMiB = mib(server.status("RssFile"))
	report.BaselineIdleRSSMiB = mib(baseline.status("VmRSS"))

	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}, Timeout: 30 * time.Second}
	env_ := &benchEnv{client: client, server: srvURL, baseline: baseURL, dbURL: dbURL, seed: o.seed}

	for _, c := range allCases() {
		if o.cases != nil && !o.cases[c.name] {
			continue
		}
		target, targetURL := server, srvURL
		if c.ownServer {
			u, env := serverEnv(o.enrichPool)
			p, err := start(ctx, tmp, bins.server, env)
			if err != nil {
				return err
			}
			if _, err := waitReady(ctx, u+"/readyz", 30*time.Second); err != nil {
				p.stop()
				return fmt.Errorf("the server for %s: %w", c.name, err)
			}
			target, targetURL = p, u
		}
		for _, conc := range o.concurrency {
			for r := 1; r <= o.repeat; r++ {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				row, err := measure(ctx, o, env_, c, "server", target, targetURL, conc, r)
				if err != nil {
					return err
				}
				report.Runs = append(report.Runs, row)
				if c.baseline != nil {
					row, err := measure(ctx, o, env_, c, "baseline", baseline, baseURL, conc, r)
					if err != nil {
						return err
					}
					report.Runs = append(report.Runs, row)
				}
			}
		}
		if c.ownServer {
			report.EnrichIdleRSSMiB = mib(target.status("VmRSS"))
			target.stop()
		}
	}
	server.stop()
	baseline.stop()

	if o.readyStarts > 0 {
		fmt.Fprintln(os.Stderr, "measuring start-to-ready on SQLite…")
		report.ReadyFresh, report.ReadyExisting, err = startToReady(ctx, tmp, bins.server, o.readyStarts)
		if err != nil {
			return err
		}
	}

	report.summarize()
	md := report.Markdown()
	fmt.Print(md)
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	stamp := o.stamp
	if err := os.WriteFile(filepath.Join(o.out, stamp+".md"), []byte(md), 0o644); err != nil {
		return err
	}
	js, _ := json.MarshalIndent(report, "", "  ")
	if err := os.WriteFile(filepath.Join(o.out, stamp+".json"), js, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s.{md,json}\n", filepath.Join(o.out, stamp))
	return nil
}

// measure warms a target up with the case, then measures one run.
func measure(ctx context.Context, o *options, e *benchEnv, c benchCase, who string, p *proc, baseURL string, conc, repeat int) (Run, error) {
	var mk func(*benchEnv, string, int) (load.Op, error)
	if who == "server" {
		mk = c.server
	} else {
		mk = c.baseline
	}
	op, err := mk(e, baseURL, conc)
	if err != nil {
		return Run{}, fmt.Errorf("%s %s: %w", c.name, who, err)
	}
	fmt.Fprintf(os.Stderr, "%-14s c=%-3d %-8s run %d… ", c.name, conc, who, repeat)
	if o.warmup > 0 {
		load.Run(ctx, conc, 0, o.warmup, op)
	}
	p.resetPeak()
	var profiled chan error
	if addr := p.env("PPROF_ADDR"); addr != "" && who == "server" {
		name := filepath.Join(o.out, fmt.Sprintf("%s-%s-c%d-r%d.pprof", o.stamp, c.name, conc, repeat))
		profiled = make(chan error, 1)
		go func() { profiled <- fetchProfile(ctx, addr, o.duration, name) }()
	}
	cpu0, db0, self0 := p.cpu(), postgresCPU(), procCPU("self")
	res := load.Run(ctx, conc, 0, o.duration, op)
	cpu1, db1, self1 := p.cpu(), postgresCPU(), procCPU("self")
	if profiled != nil {
		if err := <-profiled; err != nil {
			return Run{}, fmt.Errorf("profile: %w", err)
		}
	}
	var dbCPU time.Duration
	for pid, t := range db1 {
		dbCPU += t - db0[pid] // a backend started during the run counts whole
	}
	row := Run{
		Case: c.name, Target: who, Concurrency: conc, Repeat: repeat,
		Requests: res.Requests, Errors: res.Errors, FirstError: res.FirstError,
		RPS:        res.RPS(),
		P50ms:      ms(res.Latency.Quantile(0.50)),
		P99ms:      ms(res.Latency.Quantile(0.99)),
		MaxMs:      ms(res.Latency.Max()),
		PeakRSSMiB: mib(p.status("VmHWM")),
	}
	if res.Requests > 0 {
		n := float64(res.Requests)
		row.CPUPerReqMs = (cpu1 - cpu0).Seconds() * 1000 / n
		row.DBCPUPerReqMs = dbCPU.Seconds() * 1000 / n
		row.LoadCPUPerReqMs = (self1 - self0).Seconds() * 1000 / n
	}
	fmt.Fprintf(os.Stderr, "%8.0f req/s p50 %6.2f ms p99 %6.2f ms errors %d\n", row.RPS, row.P50ms, row.P99ms, row.Errors)
	if res.FirstError != "" {
		fmt.Fprintf(os.Stderr, "    first error: %.300s\n", res.FirstError)
	}
	return row, nil
}

type binaries struct{ server, baseline, upstream string }

// build compiles the three programs the way they ship: go build -o.
func build(ctx context.Context, dir string) (binaries, error) {
	b := binaries{
		server:   filepath.Join(dir, "itemsrv"),
		baseline: filepath.Join(dir, "baseline"),
		upstream: filepath.Join(dir, "jsonplaceholder"),
	}
	for _, t := range []struct{ out, pkg string }{
		{b.server, "."}, {b.baseline, "./bench/baseline"}, {b.upstream, "./cmd/jsonplaceholder"},
	} {
		fmt.Fprintf(os.Stderr, "go build -o %s %s\n", filepath.Base(t.out), t.pkg)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", t.out, t.pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return b, fmt.Errorf("build %s (run from the repository root): %w", t.pkg, err)
		}
	}
	return b, nil
}

// createDatabase creates an empty database on the server of adminURL and
// returns its URL and a function that drops it.
func createDatabase(ctx context.Context, adminURL string) (string, func(), error) {
	var b [4]byte
	_, _ = crand.Read(b[:])
	name := "itemsbench_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("connect to -db: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create the benchmark database: %w", err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: drop database %s: %v\n", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "bench: drop database %s: %v\n", name, err)
		}
	}
	return u.String(), drop, nil
}

// searchWords are spread over the seeded titles, one word each, so that a
// search for one of them matches a tenth of the items.
var searchWords = []string{"amber", "basalt", "cobalt", "dune", "ember", "fjord", "garnet", "harbor", "indigo", "quartz"}

// searchTerm is the search of the search case.
const searchTerm = "Quartz"

// wordOf is the word of searchWords that item n's title holds: a hash of
// n, the same as the seed's SQL. Picked by n modulo ten, every title of
// ANALYZE's sorted sample ended in the same word, so PostgreSQL estimated a
// search for any other word to match one row and scanned the whole table
// for it. The write cases keep the words in the titles they write, so that
// a search matches one item in ten however many cases ran before it.
func wordOf(n int) string { return searchWords[(uint64(n)*2654435761>>16)%10] }

// seed inserts n items, one second apart in creation time, with ids 1..n
// (the server has migrated the empty database), each title holding
// wordOf(its id).
func seed(ctx context.Context, dbURL string, n int) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `
INSERT INTO items (owner, title, description, version, created_at, updated_at)
SELECT '', 'Item ' || g || ' ' || ($2::text[])[1 + ((g::bigint * 2654435761) >> 16) % 10],
       'Seeded item number ' || g || ', a description of moderate length for the benchmark.',
       1, now() - ($1 - g) * interval '1 second', now() - ($1 - g) * interval '1 second'
FROM generate_series(1, $1) AS g`, n, searchWords)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	_, err = conn.Exec(ctx, "ANALYZE items")
	return err
}

// proc is a started program.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func start(ctx context.Context, dir, bin string, env []string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	// Its own folder, so that no .env of the working directory is read.
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	cmd.Stdout = devnull
	cmd.Stderr = devnull
	if name := filepath.Base(bin); os.Getenv("BENCH_SHOW_LOGS") == name {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop ends the program with SIGTERM, then SIGKILL after 10 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// env returns the value of the variable name in p's environment.
func (p *proc) env(name string) string {
	for _, kv := range p.cmd.Env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// fetchProfile writes a CPU profile of d (whole seconds, at least one) from
// the net/http/pprof server at addr to the file name.
func fetchProfile(ctx context.Context, addr string, d time.Duration, name string) error {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", req.URL, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	return os.WriteFile(name, b, 0o644)
}

// cpu is the user and system CPU time the process has used.
func (p *proc) cpu() time.Duration { return procCPU(strconv.Itoa(p.cmd.Process.Pid)) }

// postgresCPU is the CPU time of every process on this machine named
// postgres, by pid: the backends serving both targets, plus the background
// writer, WAL writer and checkpointer. Empty when PostgreSQL runs
// elsewhere.
func postgresCPU() map[string]time.Duration {
	ents, _ := os.ReadDir("/proc")
	m := map[string]time.Duration{}
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		if comm, err := os.ReadFile("/proc/" + e.Name() + "/comm"); err == nil && strings.TrimSpace(string(comm)) == "postgres" {
			m[e.Name()] = procCPU(e.Name())
		}
	}
	return m
}

// procCPU is the user and system CPU time of /proc/<pid> ("self" for this
// process).
func procCPU(pid string) time.Duration {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// The fields after the command name, which may hold spaces, start at
	// state (field 3); utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	// USER_HZ is 100 on every Linux the benchmark targets.
	return time.Duration(ut+st) * (time.Second / 100)
}

// status returns a kB field of /proc/<pid>/status (VmRSS, VmHWM) in bytes.
func (p *proc) status(field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// resetPeak resets VmHWM to the current RSS ("5" to clear_refs), so that
// the peak of each run is its own.
func (p *proc) resetPeak() {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid), []byte("5"), 0)
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitListening(ctx context.Context, addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("%s is not listening after %s", addr, limit)
}

// waitReady polls url every millisecond until it answers 200 and returns
// how long that took.
func waitReady(ctx context.Context, url string, limit time.Duration) (time.Duration, error) {
	c := &http.Client{Timeout: time.Second}
	t0 := time.Now()
	for time.Since(t0) < limit && ctx.Err() == nil {
		resp, err := c.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(t0), nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return 0, fmt.Errorf("%s not ready after %s", url, limit)
}

// startToReady measures the time from exec to the first 200 of /readyz on
// SQLite: n starts on a new database file (migrations included) and n on
// an existing one.
func startToReady(ctx context.Context, tmp, bin string, n int) (fresh, existing []float64, err error) {
	for i := range 2 * n {
		dir := filepath.Join(tmp, "sqlite-"+strconv.Itoa(i%n))
		if i < n {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, nil, err
			}
		}
		addr := freeAddr()
		_, port, _ := net.SplitHostPort(addr)
		t0 := time.Now()
		p, err := start(ctx, dir, bin, []string{
			"DATABASE_URL=sqlite:" + filepath.Join(dir, "items.db"), "PORT=" + port,
			"EXTERNAL_API_URL=http://127.0.0.1:9", "GRAPHQL_PLAYGROUND=false",
		})
		if err != nil {
			return nil, nil, err
		}
		_, err = waitReady(ctx, "http://"+addr+"/readyz", 30*time.Second)
		took := time.Since(t0)
		p.stop()
		if err != nil {
			return nil, nil, fmt.Errorf("SQLite start: %w", err)
		}
		if i < n {
			fresh = append(fresh, ms(took))
		} else {
			existing = append(existing, ms(took))
		}
	}
	return fresh, existing, nil
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				m.MemoryMiB = kb / 1024
			}
		}
	}
	if b, err := exec.Command("postgres", "--version").Output(); err == nil {
		m.Postgres = strings.TrimSpace(string(b))
	}
	return m
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mib(b int64) float64        { return float64(b) / (1 << 20) }

// randID is a random seeded item id.
func randID(n int) int { return 1 + rand.IntN(n) }
