// Package jsonplaceholder is a local stand-in for the JSONPlaceholder REST
// API (https://jsonplaceholder.typicode.com): the same paths, query
// parameters and JSON shapes for posts and users, over deterministic data,
// plus fault injection, added latency and request counting, so that a client
// can be tested against failures that the real service never shows on
// demand.
//
// A Fake is an http.Handler. Tests use it in-process through NewServer;
// cmd/jsonplaceholder serves it as a separate process, which is then driven
// through the control endpoints under /__ (see ServeHTTP).
package jsonplaceholder

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ControlPrefix starts the paths of the control API. Requests to it are
// neither counted, delayed nor faulted.
const ControlPrefix = "/__"

// Fault describes how to spoil requests whose path matches. A request takes
// the first pending fault that matches it; each fault spoils Times requests
// and is then gone.
//
// What a faulted request gets, in order: Delay is waited first (cut short if
// the client goes away); then Drop closes the connection without an answer;
// otherwise, if Status, Body or Malformed is set, that answer is written
// (Status defaults to 200, and 200 with Malformed is truncated JSON);
// otherwise the request is served normally after the delay, which makes a
// slow but correct answer.
type Fault struct {
	// Path is matched against the request path: exactly, or as a prefix
	// when Prefix is set ("/posts" with Prefix matches "/posts/7" too).
	Path   string `json:"path"`
	Prefix bool   `json:"prefix,omitempty"`
	// Times is how many matching requests the fault spoils; zero or less
	// means every matching request until the faults are cleared.
	Times int `json:"times,omitempty"`
	// Status is the status code to answer with.
	Status int `json:"status,omitempty"`
	// RetryAfter, when not empty, is sent verbatim as the Retry-After
	// header, so that both the seconds and the HTTP-date forms can be sent.
	RetryAfter string `json:"retryAfter,omitempty"`
	// Delay is waited before anything else; over HTTP it is a Go duration
	// string such as "150ms".
	Delay time.Duration `json:"-"`
	// Body replaces the answer's body (sent as application/json).
	Body string `json:"body,omitempty"`
	// Malformed sends a truncated JSON body.
	Malformed bool `json:"malformed,omitempty"`
	// Drop closes the connection without writing a response. Note that
	// Go's http.Transport resends a GET once by itself when a connection it
	// reused from its idle pool ends before an answer, so such a client
	// may send two requests for one attempt of its own.
	Drop bool `json:"drop,omitempty"`
}

// MarshalJSON writes Delay as a Go duration string.
func (f Fault) MarshalJSON() ([]byte, error) {
	type plain Fault
	return json.Marshal(struct {
		plain
		Delay string `json:"delay,omitempty"`
	}{plain(f), durationString(f.Delay)})
}

// UnmarshalJSON reads Delay as a Go duration string.
func (f *Fault) UnmarshalJSON(b []byte) error {
	type plain Fault
	var v struct {
		plain
		Delay string `json:"delay"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Fault(v.plain)
	if v.Delay != "" {
		d, err := time.ParseDuration(v.Delay)
		if err != nil {
			return fmt.Errorf("fault delay: %w", err)
		}
		f.Delay = d
	}
	return nil
}

func durationString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func (f *Fault) matches(path string) bool {
	if f.Prefix {
		return strings.HasPrefix(path, f.Path)
	}
	return path == f.Path
}

// malformedJSON is what a Malformed fault sends: the start of a post, cut off.
const malformedJSON = `{"userId": 1, "id": 1, "title": "sunt aut`

// Fake is the stand-in: an http.Handler serving the data set, with fault
// injection and request counting. Its methods are safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	faults  []*Fault
	latency time.Duration
	total   int
	counts  map[string]int
	log     []string
}

// New returns a Fake with no faults and no added latency.
func New() *Fake {
	return &Fake{counts: make(map[string]int)}
}

// NewServer starts an httptest.Server serving a new Fake. The caller closes
// the server.
func NewServer() (*httptest.Server, *Fake) {
	f := New()
	return httptest.NewServer(f), f
}

// AddFault queues a fault behind those already pending.
func (f *Fake) AddFault(flt Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &flt)
}

// ClearFaults drops every pending fault.
func (f *Fake) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// Faults returns the pending faults, Times being what is left of each.
func (f *Fake) Faults() []Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Fault, len(f.faults))
	for i, flt := range f.faults {
		out[i] = *flt
	}
	return out
}

// SetLatency delays every data request by d (0 for none), on top of any
// fault's delay.
func (f *Fake) SetLatency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = d
}

// Latency returns the added latency.
func (f *Fake) Latency() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.latency
}

// Requests returns how many data requests arrived for exactly this path
// (query ignored), faulted ones included.
func (f *Fake) Requests(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[path]
}

// TotalRequests returns how many data requests arrived in all.
func (f *Fake) TotalRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.total
}

// RequestLog returns the request URIs (path and query) of the data requests
// in the order they arrived.
func (f *Fake) RequestLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

// ResetCounts sets the request counts to zero and empties the request log.
func (f *Fake) ResetCounts() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.total = 0
	f.counts = make(map[string]int)
	f.log = nil
}

// Reset clears faults, latency and counts.
func (f *Fake) Reset() {
	f.ClearFaults()
	f.SetLatency(0)
	f.ResetCounts()
}

// arrive counts a data request and takes the fault that applies to it, if
// any.
func (f *Fake) arrive(r *http.Request) (latency time.Duration, flt *Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.total++
	f.counts[r.URL.Path]++
	f.log = append(f.log, r.URL.RequestURI())
	for i, p := range f.faults {
		if !p.matches(r.URL.Path) {
			continue
		}
		taken := *p
		if p.Times > 0 {
			p.Times--
			if p.Times == 0 {
				f.faults = append(f.faults[:i:i], f.faults[i+1:]...)
			}
		}
		return f.latency, &taken
	}
	return f.latency, nil
}

// ServeHTTP serves the data paths of JSONPlaceholder:
//
//	GET /posts          all posts; userId= and id= filter (repeatable),
//	                    _start= and _limit= (or _page= and _limit=) slice
//	GET /posts/{id}     one post, or 404 with body {}
//	GET /users          all users; id= filters (repeatable: ?id=1&id=3)
//	GET /users/{id}     one user, or 404 with body {}
//
// and the control API, whose requests are never counted or faulted:
//
//	POST   /__faults    queue a fault (a Fault as JSON, or an array of them)
//	GET    /__faults    list pending faults
//	DELETE /__faults    clear faults
//	PUT    /__latency   {"latency":"20ms"} sets the added latency
//	GET    /__latency   the added latency
//	GET    /__requests  {"total":3,"paths":{"/posts":2,…},"log":[…]}
//	DELETE /__requests  reset the counts
//	POST   /__reset     clear faults, latency and counts
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, ControlPrefix) {
		f.serveControl(w, r)
		return
	}
	latency, flt := f.arrive(r)
	delay := latency
	if flt != nil {
		delay += flt.Delay
	}
	if delay > 0 && !sleep(r, delay) {
		return
	}
	if flt != nil && f.serveFault(w, flt) {
		return
	}
	f.serveData(w, r)
}

// sleep waits d or until the client goes away, reporting whether d passed.
func sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// serveFault answers as flt says, reporting whether it did answer (a fault
// with only a delay leaves the answer to serveData).
func (f *Fake) serveFault(w http.ResponseWriter, flt *Fault) bool {
	if flt.Drop {
		drop(w)
		return true
	}
	if flt.Status == 0 && flt.Body == "" && !flt.Malformed {
		return false
	}
	status := flt.Status
	if status == 0 {
		status = http.StatusOK
	}
	body := flt.Body
	switch {
	case flt.Malformed:
		body = malformedJSON
	case body == "":
		body = "{}"
	}
	if flt.RetryAfter != "" {
		w.Header().Set("Retry-After", flt.RetryAfter)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
	return true
}

// drop closes the connection without a response: the client sees the
// connection end (EOF or reset) before any status line.
func drop(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		// HTTP/2 cannot hijack; aborting the handler resets the stream.
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

func (f *Fake) serveData(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, struct{}{})
		return
	}
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(segs) == 1 && segs[0] == "posts":
		servePosts(w, r)
	case len(segs) == 2 && segs[0] == "posts":
		serveOne(w, segs[1], func(id int) (any, bool) {
			if id < 1 || id > len(posts) {
				return nil, false
			}
			return posts[id-1], true
		})
	case len(segs) == 1 && segs[0] == "users":
		serveUsers(w, r)
	case len(segs) == 2 && segs[0] == "users":
		serveOne(w, segs[1], func(id int) (any, bool) {
			if id < 1 || id > len(users) {
				return nil, false
			}
			return users[id-1], true
		})
	default:
		writeJSON(w, http.StatusNotFound, struct{}{})
	}
}

// serveOne answers /{resource}/{id}; like the real service, an unknown or
// non-numeric id is a 404 with body {}.
func serveOne(w http.ResponseWriter, rawID string, find func(int) (any, bool)) {
	id, err := strconv.Atoi(rawID)
	if err != nil {
		writeJSON(w, http.StatusNotFound, struct{}{})
		return
	}
	v, ok := find(id)
	if !ok {
		writeJSON(w, http.StatusNotFound, struct{}{})
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func servePosts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ids, userIDs := intSet(q["id"]), intSet(q["userId"])
	out := make([]Post, 0, len(posts))
	for _, p := range posts {
		if ids != nil && !ids[p.ID] || userIDs != nil && !userIDs[p.UserID] {
			continue
		}
		out = append(out, p)
	}
	out = slice(w, q, out)
	writeJSON(w, http.StatusOK, out)
}

func serveUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ids := intSet(q["id"])
	out := make([]User, 0, len(users))
	for _, u := range users {
		if ids != nil && !ids[u.ID] {
			continue
		}
		out = append(out, u)
	}
	out = slice(w, q, out)
	writeJSON(w, http.StatusOK, out)
}

// intSet returns the set of the integer values, or nil when there are no
// values (no filter). Values that are not integers match nothing, as on the
// real service.
func intSet(vals []string) map[int]bool {
	if len(vals) == 0 {
		return nil
	}
	set := make(map[int]bool, len(vals))
	for _, v := range vals {
		if n, err := strconv.Atoi(v); err == nil {
			set[n] = true
		}
	}
	return set
}

// slice applies json-server's _start/_end/_limit and _page/_limit
// parameters, setting X-Total-Count as it does when slicing.
func slice[T any](w http.ResponseWriter, q map[string][]string, all []T) []T {
	get := func(name string) (int, bool) {
		vs := q[name]
		if len(vs) == 0 {
			return 0, false
		}
		n, err := strconv.Atoi(vs[0])
		return n, err == nil
	}
	start, hasStart := get("_start")
	end, hasEnd := get("_end")
	limit, hasLimit := get("_limit")
	page, hasPage := get("_page")
	switch {
	case hasPage:
		if !hasLimit {
			limit = 10
		}
		start, end = (max(page, 1)-1)*limit, (max(page, 1)-1)*limit+limit
	case hasStart || hasLimit || hasEnd:
		switch {
		case hasEnd:
		case hasLimit:
			end = start + limit
		default:
			end = len(all)
		}
	default:
		return all
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(len(all)))
	start = min(max(start, 0), len(all))
	end = min(max(end, start), len(all))
	return all[start:end]
}

// writeJSON writes v indented with two spaces, as the real service does.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (f *Fake) serveControl(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case ControlPrefix + "faults":
		switch r.Method {
		case http.MethodPost:
			faults, err := decodeFaults(w, r)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			for _, flt := range faults {
				f.AddFault(flt)
			}
			writeJSON(w, http.StatusCreated, f.Faults())
		case http.MethodGet:
			writeJSON(w, http.StatusOK, f.Faults())
		case http.MethodDelete:
			f.ClearFaults()
			w.WriteHeader(http.StatusNoContent)
		default:
			methodNotAllowed(w, "GET, POST, DELETE")
		}
	case ControlPrefix + "latency":
		switch r.Method {
		case http.MethodPut, http.MethodPost:
			var v struct {
				Latency string `json:"latency"`
			}
			if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			d, err := time.ParseDuration(v.Latency)
			if err != nil || d < 0 {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("bad latency %q", v.Latency)})
				return
			}
			f.SetLatency(d)
			writeJSON(w, http.StatusOK, map[string]string{"latency": d.String()})
		case http.MethodGet:
			writeJSON(w, http.StatusOK, map[string]string{"latency": f.Latency().String()})
		default:
			methodNotAllowed(w, "GET, PUT, POST")
		}
	case ControlPrefix + "requests":
		switch r.Method {
		case http.MethodGet:
			f.mu.Lock()
			v := struct {
				Total int            `json:"total"`
				Paths map[string]int `json:"paths"`
				Log   []string       `json:"log"`
			}{f.total, make(map[string]int, len(f.counts)), append([]string{}, f.log...)}
			for p, n := range f.counts {
				v.Paths[p] = n
			}
			f.mu.Unlock()
			writeJSON(w, http.StatusOK, v)
		case http.MethodDelete:
			f.ResetCounts()
			w.WriteHeader(http.StatusNoContent)
		default:
			methodNotAllowed(w, "GET, DELETE")
		}
	case ControlPrefix + "reset":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		f.Reset()
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusNotFound, struct{}{})
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
}

// decodeFaults reads one Fault or an array of them.
func decodeFaults(w http.ResponseWriter, r *http.Request) ([]Fault, error) {
	var raw json.RawMessage
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&raw); err != nil {
		return nil, fmt.Errorf("decode faults: %w", err)
	}
	var faults []Fault
	if t := strings.TrimSpace(string(raw)); strings.HasPrefix(t, "[") {
		if err := json.Unmarshal(raw, &faults); err != nil {
			return nil, fmt.Errorf("decode faults: %w", err)
		}
	} else {
		var flt Fault
		if err := json.Unmarshal(raw, &flt); err != nil {
			return nil, fmt.Errorf("decode fault: %w", err)
		}
		faults = []Fault{flt}
	}
	for _, flt := range faults {
		if flt.Path == "" || !strings.HasPrefix(flt.Path, "/") {
			return nil, errors.New("a fault needs a path starting with /")
		}
		if flt.Status != 0 && (flt.Status < 100 || flt.Status > 999) {
			return nil, fmt.Errorf("bad fault status %d", flt.Status)
		}
	}
	return faults, nil
}
