package playground

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, target string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

func sri(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

func TestCDNPageIsPinnedWithIntegrity(t *testing.T) {
	h, err := New("/graphql", "")
	if err != nil {
		t.Fatal(err)
	}
	res, page := get(t, h, "/")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", res.StatusCode)
	}
	page = html.UnescapeString(page) // html/template writes "+" as "&#43;"
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q, want text/html", ct)
	}
	for _, a := range pinned.all() {
		if !strings.Contains(page, `"`+a.cdn+`"`) {
			t.Errorf("page does not reference %s", a.cdn)
		}
		if !strings.Contains(page, `integrity="`+a.sri+`"`) {
			t.Errorf("page has no integrity %s for %s", a.sri, a.cdn)
		}
	}
	for _, v := range []string{"graphiql@4.1.2", "react@18.2.0", "react-dom@18.2.0", "plugin-explorer@4.0.6"} {
		if !strings.Contains(page, v) {
			t.Errorf("page does not load %s", v)
		}
	}
	if strings.Contains(page, AssetsPath) {
		t.Errorf("CDN page references %s", AssetsPath)
	}
	// The page builds the WebSocket URL for subscriptions from the endpoint.
	if !strings.Contains(page, "subscriptionUrl") || !strings.Contains(page, `"/graphql"`) {
		t.Errorf("page does not point GraphiQL (and its subscriptions) at /graphql")
	}

	res, _ = get(t, h, AssetsPath+pinned.graphiqlJS.local)
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("asset without an assets folder = %d, want 404", res.StatusCode)
	}
}

// fakeAssets writes a node_modules-like folder of small stand-in files, a
// secret beside it, and returns the folder with an asset set pinned to the
// stand-ins' hashes.
func fakeAssets(t *testing.T) (dir string, set assetSet, content map[string]string) {
	t.Helper()
	parent := t.TempDir()
	if err := os.WriteFile(filepath.Join(parent, "secret.txt"), []byte("top secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(parent, "node_modules")
	content = map[string]string{}
	pin := func(a asset) asset {
		body := "/* stand-in for " + a.local + " */"
		p := filepath.Join(dir, filepath.FromSlash(a.local))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		content[a.local] = body
		a.localSRI = sri([]byte(body))
		return a
	}
	set = assetSet{
		graphiqlJS:  pin(pinned.graphiqlJS),
		graphiqlCSS: pin(pinned.graphiqlCSS),
		reactJS:     pin(pinned.reactJS),
		reactDOMJS:  pin(pinned.reactDOMJS),
		explorerJS:  pin(pinned.explorerJS),
		explorerCSS: pin(pinned.explorerCSS),
	}
	// Files the packages hold but the page does not reference.
	for _, extra := range []string{"graphiql/package.json", "graphiql/graphiql.min.js.map"} {
		if err := os.WriteFile(filepath.Join(dir, extra), []byte("not for clients"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, set, content
}

func TestLocalPageServesItsFiles(t *testing.T) {
	dir, set, content := fakeAssets(t)
	h, err := newHandler("/graphql", dir, set)
	if err != nil {
		t.Fatal(err)
	}
	res, page := get(t, h, "/")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", res.StatusCode)
	}
	page = html.UnescapeString(page) // html/template writes "+" as "&#43;"
	if strings.Contains(page, "https://") {
		t.Errorf("local page still references the internet:\n%s", page)
	}
	for _, a := range set.all() {
		href := AssetsPath + a.local
		if !strings.Contains(page, `"`+href+`"`) {
			t.Errorf("page does not reference %s", href)
		}
		res, body := get(t, h, href)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", href, res.StatusCode)
			continue
		}
		if body != content[a.local] {
			t.Errorf("GET %s = %q, want %q", href, body, content[a.local])
		}
		// The browser checks the served bytes against the page's integrity.
		if !strings.Contains(page, `integrity="`+sri([]byte(body))+`"`) {
			t.Errorf("page's integrity for %s does not match the served file", href)
		}
		want := "text/javascript"
		if strings.HasSuffix(a.local, ".css") {
			want = "text/css"
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, want) {
			t.Errorf("GET %s: Content-Type = %q, want %s", href, ct, want)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no X-Content-Type-Options: nosniff", href)
		}
	}
}

func TestLocalRefusesAnythingElse(t *testing.T) {
	dir, set, _ := fakeAssets(t)
	h, err := newHandler("/graphql", dir, set)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	tests := []struct {
		name string
		give string
	}{
		{"assets root listing", AssetsPath},
		{"package folder listing", AssetsPath + "graphiql/"},
		{"package folder without slash", AssetsPath + "graphiql"},
		{"file the page does not use", AssetsPath + "graphiql/package.json"},
		{"source map", AssetsPath + "graphiql/graphiql.min.js.map"},
		{"missing file", AssetsPath + "graphiql/nope.js"},
		{"dot-dot", AssetsPath + "../secret.txt"},
		{"escaped dot-dot", AssetsPath + "%2e%2e/secret.txt"},
		{"escaped slash", AssetsPath + "graphiql/..%2f..%2fsecret.txt"},
		{"dot-dot inside", AssetsPath + "graphiql/../../secret.txt"},
		{"backslash", AssetsPath + "graphiql\\..\\..\\secret.txt"},
		{"absolute", AssetsPath + "/etc/passwd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Straight to the handler, without a mux that would clean the path.
			res, body := get(t, h, tt.give)
			if res.StatusCode == http.StatusOK || strings.Contains(body, "secret") || strings.Contains(body, "not for clients") || strings.Contains(body, "<a href") {
				t.Errorf("GET %s = %d %q, want refused", tt.give, res.StatusCode, body)
			}
			// And over the wire, exactly as written.
			req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque = tt.give
			wire, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(wire.Body)
			wire.Body.Close()
			if wire.StatusCode == http.StatusOK || strings.Contains(string(b), "secret") || strings.Contains(string(b), "not for clients") {
				t.Errorf("wire GET %s = %d %q, want refused", tt.give, wire.StatusCode, b)
			}
		})
	}
}

func TestNewRefusesAFolderWithoutThePinnedVersions(t *testing.T) {
	dir, _, _ := fakeAssets(t)
	if _, err := New("/graphql", dir); err == nil || !strings.Contains(err.Error(), "graphiql/graphiql.min.js") {
		t.Errorf("New with other files = %v, want an error naming graphiql/graphiql.min.js", err)
	}
	if _, err := New("/graphql", filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("New with a missing folder succeeded")
	}
	defer func() {
		if recover() == nil {
			t.Error("Handler with a bad folder did not panic")
		}
	}()
	Handler("/graphql", dir)
}
