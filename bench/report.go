package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Machine describes where the benchmark ran.
type Machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpuModel"`
	MemoryMiB  int64  `json:"memoryMiB"`
	Go         string `json:"go"`
	Postgres   string `json:"postgres,omitempty"`
}

// Run is one measured run of one case against one target.
type Run struct {
	Case        string  `json:"case"`
	Target      string  `json:"target"` // server or baseline
	Concurrency int     `json:"concurrency"`
	Repeat      int     `json:"repeat"`
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	FirstError  string  `json:"firstError,omitempty"`
	RPS         float64 `json:"rps"`
	P50ms       float64 `json:"p50ms"`
	P99ms       float64 `json:"p99ms"`
	MaxMs       float64 `json:"maxMs"`
	CPUPerReqMs float64 `json:"cpuPerRequestMs"`
	// DBCPUPerReqMs is the CPU of every local postgres process per request
	// (0 when PostgreSQL runs elsewhere); LoadCPUPerReqMs the load
	// generator's own.
	DBCPUPerReqMs   float64 `json:"dbCpuPerRequestMs"`
	LoadCPUPerReqMs float64 `json:"loadCpuPerRequestMs"`
	PeakRSSMiB      float64 `json:"peakRssMiB"`
}

// Summary is the mean over the repeats of one case, target and concurrency.
type Summary struct {
	Case            string  `json:"case"`
	Target          string  `json:"target"`
	Concurrency     int     `json:"concurrency"`
	RPS             float64 `json:"rps"`
	RPSMin          float64 `json:"rpsMin"`
	RPSMax          float64 `json:"rpsMax"`
	P50ms           float64 `json:"p50ms"`
	P99ms           float64 `json:"p99ms"`
	Errors          int     `json:"errors"`
	CPUPerReqMs     float64 `json:"cpuPerRequestMs"`
	DBCPUPerReqMs   float64 `json:"dbCpuPerRequestMs"`
	LoadCPUPerReqMs float64 `json:"loadCpuPerRequestMs"`
	PeakRSSMiB      float64 `json:"peakRssMiB"`
	// RPSRatio and P99Ratio are server/baseline, on server rows of the
	// cases the baseline serves.
	RPSRatio float64 `json:"rpsRatio,omitempty"`
	P99Ratio float64 `json:"p99Ratio,omitempty"`
}

// Target is one goal of the issue, checked against the summaries.
type Target struct {
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	// Met is "yes", "no" or "not measured".
	Met string `json:"met"`
}

// Report is everything one benchmark run measured.
type Report struct {
	Started    time.Time `json:"started"`
	Machine    Machine   `json:"machine"`
	Command    string    `json:"command"`
	Duration   string    `json:"duration"`
	Warmup     string    `json:"warmup"`
	Repeat     int       `json:"repeat"`
	Pool       int       `json:"pool"`
	EnrichCon  int       `json:"enrichPool"`
	Seed       int       `json:"seededItems"`
	LogLevel   string    `json:"serverLogLevel"`
	Upstream   string    `json:"upstreamLatency"`
	IdleRSSMiB float64   `json:"idleRssMiB"`
	// IdleAnonMiB and IdleFileMiB split the server's idle RSS into
	// anonymous memory (heap, stacks) and mapped file pages (its binary).
	IdleAnonMiB        float64   `json:"idleRssAnonMiB"`
	IdleFileMiB        float64   `json:"idleRssFileMiB"`
	BaselineIdleRSSMiB float64   `json:"baselineIdleRssMiB"`
	EnrichIdleRSSMiB   float64   `json:"enrichServerRssAfterMiB,omitempty"`
	ReadyFresh         []float64 `json:"sqliteStartToReadyNewFileMs,omitempty"`
	ReadyExisting      []float64 `json:"sqliteStartToReadyExistingFileMs,omitempty"`
	Runs               []Run     `json:"runs"`
	Summaries          []Summary `json:"summaries"`
	Targets            []Target  `json:"targets"`
}

func (r *Report) summarize() {
	type key struct {
		c, t string
		n    int
	}
	var order []key
	groups := map[key][]Run{}
	for _, run := range r.Runs {
		k := key{run.Case, run.Target, run.Concurrency}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], run)
	}
	byKey := map[key]*Summary{}
	for _, k := range order {
		runs := groups[k]
		s := Summary{Case: k.c, Target: k.t, Concurrency: k.n, RPSMin: runs[0].RPS}
		for _, run := range runs {
			s.RPS += run.RPS / float64(len(runs))
			s.P50ms += run.P50ms / float64(len(runs))
			s.P99ms += run.P99ms / float64(len(runs))
			s.CPUPerReqMs += run.CPUPerReqMs / float64(len(runs))
			s.DBCPUPerReqMs += run.DBCPUPerReqMs / float64(len(runs))
			s.LoadCPUPerReqMs += run.LoadCPUPerReqMs / float64(len(runs))
			s.Errors += run.Errors
			s.RPSMin = min(s.RPSMin, run.RPS)
			s.RPSMax = max(s.RPSMax, run.RPS)
			s.PeakRSSMiB = max(s.PeakRSSMiB, run.PeakRSSMiB)
		}
		r.Summaries = append(r.Summaries, s)
	}
	for i := range r.Summaries {
		byKey[key{r.Summaries[i].Case, r.Summaries[i].Target, r.Summaries[i].Concurrency}] = &r.Summaries[i]
	}
	for i := range r.Summaries {
		s := &r.Summaries[i]
		if s.Target != "server" {
			continue
		}
		if b := byKey[key{s.Case, "baseline", s.Concurrency}]; b != nil && b.RPS > 0 && b.P99ms > 0 {
			s.RPSRatio = s.RPS / b.RPS
			s.P99Ratio = s.P99ms / b.P99ms
		}
	}
	get := func(c string, n int) *Summary { return byKey[key{c, "server", n}] }
	notMeasured := func(goal string) Target { return Target{Goal: goal, Measured: "—", Met: "not measured"} }
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "no"
	}
	ratio := func(c string, want float64) Target {
		goal := fmt.Sprintf("%s c=32 req/s ≥ %.2f × baseline", c, want)
		s := get(c, 32)
		if s == nil || s.RPSRatio == 0 {
			return notMeasured(goal)
		}
		return Target{goal, fmt.Sprintf("%.2f × (%.0f vs %.0f req/s)", s.RPSRatio, s.RPS, s.RPS/s.RPSRatio), yes(s.RPSRatio >= want)}
	}
	r.Targets = append(r.Targets, ratio("item", 0.90))
	if s := get("item", 32); s != nil && s.P99Ratio > 0 {
		r.Targets = append(r.Targets, Target{"item c=32 p99 ≤ 1.2 × baseline",
			fmt.Sprintf("%.2f × (%.2f vs %.2f ms)", s.P99Ratio, s.P99ms, s.P99ms/s.P99Ratio), yes(s.P99Ratio <= 1.2)})
	} else {
		r.Targets = append(r.Targets, notMeasured("item c=32 p99 ≤ 1.2 × baseline"))
	}
	r.Targets = append(r.Targets, ratio("items", 0.85), ratio("createItem", 0.90))
	var peak float64
	var peakCase string
	for _, s := range r.Summaries {
		if s.Target == "server" && s.Concurrency == 32 && s.PeakRSSMiB > peak {
			peak, peakCase = s.PeakRSSMiB, s.Case
		}
	}
	if peak > 0 {
		r.Targets = append(r.Targets, Target{"server RSS under c=32 ≤ 40 MiB", fmt.Sprintf("%.1f MiB peak (%s)", peak, peakCase), yes(peak <= 40)})
	} else {
		r.Targets = append(r.Targets, notMeasured("server RSS under c=32 ≤ 40 MiB"))
	}
	r.Targets = append(r.Targets, Target{"server idle RSS ≤ 20 MiB", fmt.Sprintf("%.1f MiB (after start and seeding)", r.IdleRSSMiB), yes(r.IdleRSSMiB <= 20)})
	if len(r.ReadyFresh) > 0 {
		f, e := median(r.ReadyFresh), median(r.ReadyExisting)
		r.Targets = append(r.Targets, Target{"start to ready on SQLite ≤ 200 ms",
			fmt.Sprintf("median %.0f ms on a new file, %.0f ms on an existing one", f, e), yes(max(f, e) <= 200)})
	} else {
		r.Targets = append(r.Targets, notMeasured("start to ready on SQLite ≤ 200 ms"))
	}
	if ep, it := get("externalPosts", 32), get("items", 32); ep != nil && it != nil && it.RPS > 0 {
		f := ep.RPS / it.RPS
		r.Targets = append(r.Targets, Target{"externalPosts(limit:100){author{name}} warm c=32 ≥ 0.50 × items(first:20)",
			fmt.Sprintf("%.2f × (%.0f vs %.0f req/s)", f, ep.RPS, it.RPS), yes(f >= 0.5)})
	} else {
		r.Targets = append(r.Targets, notMeasured("externalPosts warm c=32 ≥ 0.50 × items(first:20)"))
	}
	if s := get("enrichItem", 32); s != nil {
		r.Targets = append(r.Targets, Target{fmt.Sprintf("enrichItem c=32, %s upstream, pool %d: ≥ 1,000 req/s", r.Upstream, r.EnrichCon),
			fmt.Sprintf("%.0f req/s (p50 %.1f ms, %d errors)", s.RPS, s.P50ms, s.Errors), yes(s.RPS >= 1000 && s.Errors == 0)})
	} else {
		r.Targets = append(r.Targets, notMeasured("enrichItem c=32 ≥ 1,000 req/s"))
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "## Load benchmark, %s\n\n", r.Started.Format(time.RFC3339))
	fmt.Fprintf(&b, "- machine: %d CPUs (%s), %d MiB memory, GOMAXPROCS %d, %s", m.CPUs, m.CPUModel, m.MemoryMiB, m.GOMAXPROCS, m.Go)
	if m.Postgres != "" {
		fmt.Fprintf(&b, ", %s", m.Postgres)
	}
	fmt.Fprintf(&b, "\n- command: `%s`\n", strings.TrimSpace(r.Command))
	fmt.Fprintf(&b, "- %s warm-up, %s measured, %d repeats; %d seeded items; pool %d (enrichItem: %d); upstream latency %s; server LOG_LEVEL=%s\n",
		r.Warmup, r.Duration, r.Repeat, r.Seed, r.Pool, r.EnrichCon, r.Upstream, r.LogLevel)
	fmt.Fprintf(&b, "- idle RSS: server %.1f MiB (anonymous %.1f, file %.1f), baseline %.1f MiB\n", r.IdleRSSMiB, r.IdleAnonMiB, r.IdleFileMiB, r.BaselineIdleRSSMiB)
	if len(r.ReadyFresh) > 0 {
		fmt.Fprintf(&b, "- SQLite start to ready (exec → /readyz 200): new file %s ms, existing file %s ms\n", floats(r.ReadyFresh), floats(r.ReadyExisting))
	}
	b.WriteString("\n### Summary (mean of the repeats; req/s range in brackets)\n\n")
	b.WriteString("| case | c | target | req/s | p50 ms | p99 ms | errors | CPU ms/req | PostgreSQL CPU ms/req | load CPU ms/req | peak RSS MiB | req/s ÷ baseline | p99 ÷ baseline |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range r.Summaries {
		rr, pr := "", ""
		if s.RPSRatio > 0 {
			rr, pr = fmt.Sprintf("%.2f", s.RPSRatio), fmt.Sprintf("%.2f", s.P99Ratio)
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %.0f [%.0f–%.0f] | %.2f | %.2f | %d | %.3f | %.3f | %.3f | %.1f | %s | %s |\n",
			s.Case, s.Concurrency, s.Target, s.RPS, s.RPSMin, s.RPSMax, s.P50ms, s.P99ms, s.Errors, s.CPUPerReqMs, s.DBCPUPerReqMs, s.LoadCPUPerReqMs, s.PeakRSSMiB, rr, pr)
	}
	b.WriteString("\n### Targets\n\n| goal | measured | met |\n|---|---|---|\n")
	for _, t := range r.Targets {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Goal, t.Measured, t.Met)
	}
	b.WriteString("\n### Every run\n\n| case | c | target | run | requests | req/s | p50 ms | p99 ms | max ms | errors | CPU ms/req | peak RSS MiB |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range r.Runs {
		fmt.Fprintf(&b, "| %s | %d | %s | %d | %d | %.0f | %.2f | %.2f | %.2f | %d | %.3f | %.1f |\n",
			x.Case, x.Concurrency, x.Target, x.Repeat, x.Requests, x.RPS, x.P50ms, x.P99ms, x.MaxMs, x.Errors, x.CPUPerReqMs, x.PeakRSSMiB)
	}
	var errs []string
	for _, x := range r.Runs {
		if x.FirstError != "" {
			errs = append(errs, fmt.Sprintf("- %s c=%d %s run %d: %.300s", x.Case, x.Concurrency, x.Target, x.Repeat, x.FirstError))
		}
	}
	if len(errs) > 0 {
		b.WriteString("\n### First error of each run with errors\n\n" + strings.Join(errs, "\n") + "\n")
	}
	return b.String()
}

func floats(v []float64) string {
	s := make([]string, len(v))
	for i, f := range v {
		s[i] = fmt.Sprintf("%.0f", f)
	}
	return strings.Join(s, ", ")
}
