// Package playground serves the GraphiQL page: gqlgen's own page, with
// GraphiQL, React and the explorer plugin pinned to known versions, loaded
// either from the public CDN or, for machines without internet, from a
// folder laid out as npm's node_modules and served by this server itself.
package playground

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"

	gqlplayground "github.com/99designs/gqlgen/graphql/playground"
)

// AssetsPath is the URL path under which the page's files are served when
// they come from a local folder.
const AssetsPath = "/playground-assets/"

// Title is the page's title.
const Title = "Items API"

// asset is one file the page references: where the public CDN has it, where
// npm puts it, and its subresource integrity hash. The hashes pin the
// versions: a local folder holding anything else is refused.
type asset struct {
	cdn   string // URL on the public CDN
	local string // path inside node_modules
	sri   string // of the file at cdn
	// localSRI is the hash of the local file when it differs from the CDN's
	// (the CDN minifies the explorer's stylesheet itself).
	localSRI string
}

func (a asset) wantLocalSRI() string {
	if a.localSRI != "" {
		return a.localSRI
	}
	return a.sri
}

// The versions gqlgen's playground uses: graphiql 4.1.2, react and react-dom
// 18.2.0, @graphiql/plugin-explorer 4.0.6. Pinned here rather than taken
// from gqlgen's defaults so that a gqlgen upgrade cannot move the page away
// from what GRAPHQL_PLAYGROUND_ASSETS_DIR holds.
var pinned = assetSet{
	graphiqlJS: asset{
		cdn:   "https://cdn.jsdelivr.net/npm/graphiql@4.1.2/graphiql.min.js",
		local: "graphiql/graphiql.min.js",
		sri:   "sha256-hnImuor1znlJkD/FOTL3jayfS/xsyNoP04abi8bFJWs=",
	},
	graphiqlCSS: asset{
		cdn:   "https://cdn.jsdelivr.net/npm/graphiql@4.1.2/graphiql.min.css",
		local: "graphiql/graphiql.min.css",
		sri:   "sha256-MEh+B2NdMSpj9kexQNN3QKc8UzMrCXW/Sx/phcpuyIU=",
	},
	reactJS: asset{
		cdn:   "https://cdn.jsdelivr.net/npm/react@18.2.0/umd/react.production.min.js",
		local: "react/umd/react.production.min.js",
		sri:   "sha256-S0lp+k7zWUMk2ixteM6HZvu8L9Eh//OVrt+ZfbCpmgY=",
	},
	reactDOMJS: asset{
		cdn:   "https://cdn.jsdelivr.net/npm/react-dom@18.2.0/umd/react-dom.production.min.js",
		local: "react-dom/umd/react-dom.production.min.js",
		sri:   "sha256-IXWO0ITNDjfnNXIu5POVfqlgYoop36bDzhodR6LW5Pc=",
	},
	explorerJS: asset{
		cdn:   "https://cdn.jsdelivr.net/npm/@graphiql/plugin-explorer@4.0.6/dist/index.umd.js",
		local: "@graphiql/plugin-explorer/dist/index.umd.js",
		sri:   "sha256-UM8sWOS0Xa9yLY85q6Clh0pF4qpxX+TOcJ41flECqBs=",
	},
	explorerCSS: asset{
		cdn:      "https://cdn.jsdelivr.net/npm/@graphiql/plugin-explorer@4.0.6/dist/style.min.css",
		local:    "@graphiql/plugin-explorer/dist/style.css",
		sri:      "sha256-b0izygy8aEMY3fCLmtNkm9PKdE3kRD4Qjn6Q8gw5xKI=",
		localSRI: "sha256-aJCaSuI7+t/EWRrLTis8jU9EFTua5/o7fnwxnroxDvE=",
	},
}

// assetSet is every file the page references.
type assetSet struct {
	graphiqlJS, graphiqlCSS, reactJS, reactDOMJS, explorerJS, explorerCSS asset
}

func (s assetSet) all() []asset {
	return []asset{s.graphiqlJS, s.graphiqlCSS, s.reactJS, s.reactDOMJS, s.explorerJS, s.explorerCSS}
}

// New returns the handler of the GraphiQL page pointed at endpoint (a path
// such as "/graphql"; subscriptions go over WebSocket to the same path). It
// serves the page at any path it is mounted on, except under AssetsPath.
//
// With assetsDir empty the page loads its files from the public CDN, pinned
// with subresource integrity. Otherwise assetsDir is a folder laid out as
// npm's node_modules holding graphiql@4.1.2, react@18.2.0, react-dom@18.2.0
// and @graphiql/plugin-explorer@4.0.6: the handler serves exactly the files
// the page references under AssetsPath (mount it there too), and New fails
// when one of them is missing or is not the pinned version's.
func New(endpoint, assetsDir string) (http.Handler, error) {
	return newHandler(endpoint, assetsDir, pinned)
}

func newHandler(endpoint, assetsDir string, assets assetSet) (http.Handler, error) {
	if assetsDir == "" {
		page := gqlplayground.Handler(Title, endpoint, pageOptions(assets, func(a asset) (string, string) { return a.cdn, a.sri })...)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, AssetsPath) {
				http.NotFound(w, r)
				return
			}
			page(w, r)
		}), nil
	}

	root := os.DirFS(assetsDir)
	files := make(map[string]bool)
	for _, a := range assets.all() {
		if err := check(root, a); err != nil {
			return nil, err
		}
		files[a.local] = true
	}
	page := gqlplayground.Handler(Title, endpoint, pageOptions(assets, func(a asset) (string, string) {
		return AssetsPath + a.local, a.wantLocalSRI()
	})...)
	serveFiles := http.StripPrefix(strings.TrimSuffix(AssetsPath, "/"), http.FileServerFS(onlyFS{root, files}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, AssetsPath) {
			page(w, r)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		serveFiles.ServeHTTP(w, r)
	}), nil
}

// Handler is New for callers that have checked assetsDir already (or pass
// ""): it panics where New would fail.
func Handler(endpoint, assetsDir string) http.Handler {
	h, err := New(endpoint, assetsDir)
	if err != nil {
		panic(err)
	}
	return h
}

// pageOptions points gqlgen's page at the files url gives.
func pageOptions(s assetSet, url func(asset) (href, sri string)) []gqlplayground.GraphiqlConfigOption {
	jsURL, jsSRI := url(s.graphiqlJS)
	cssURL, cssSRI := url(s.graphiqlCSS)
	reactURL, reactSRI := url(s.reactJS)
	reactDOMURL, reactDOMSRI := url(s.reactDOMJS)
	explorerJSURL, explorerJSSRI := url(s.explorerJS)
	explorerCSSURL, explorerCSSSRI := url(s.explorerCSS)
	return []gqlplayground.GraphiqlConfigOption{
		gqlplayground.WithGraphiqlVersion(jsURL, cssURL, jsSRI, cssSRI),
		gqlplayground.WithGraphiqlReactVersion(reactURL, reactDOMURL, reactSRI, reactDOMSRI),
		gqlplayground.WithGraphiqlPluginExplorerVersion(explorerJSURL, explorerCSSURL, explorerJSSRI, explorerCSSSRI),
		gqlplayground.WithGraphiqlEnablePluginExplorer(true),
		gqlplayground.WithStoragePrefix("itemsrv:"),
	}
}

// check makes sure the local copy of a is there and is the pinned version's.
func check(root fs.FS, a asset) error {
	f, err := root.Open(a.local)
	if err != nil {
		return fmt.Errorf("%s: %w", a.local, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("%s: %w", a.local, err)
	}
	got := "sha256-" + base64.StdEncoding.EncodeToString(h.Sum(nil))
	if got != a.wantLocalSRI() {
		return fmt.Errorf("%s is not the pinned version's (want graphiql@4.1.2, react@18.2.0, react-dom@18.2.0, @graphiql/plugin-explorer@4.0.6): its hash is %s, want %s",
			a.local, got, a.wantLocalSRI())
	}
	return nil
}

// onlyFS opens exactly the listed files of its root: no directory (so no
// listing), nothing outside the list (so no traversal, no source maps, no
// package.json).
type onlyFS struct {
	root  fs.FS
	files map[string]bool
}

func (o onlyFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) || !o.files[path.Clean(name)] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return o.root.Open(name)
}
