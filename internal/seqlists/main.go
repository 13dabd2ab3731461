// Command seqlists runs after gqlgen (see graph/generate.go). gqlgen
// marshals every element of a list of objects in a goroutine of its own, so
// that resolvers of different elements can wait on one dataloader batch
// together. For an object type with no resolver anywhere below it that buys
// nothing and costs a goroutine, a scheduler round trip and, for deep
// selections, repeated stack growth per element: under load, 36 % of the
// server's CPU on externalPosts(limit: 100) was runtime.newstack in those
// goroutines.
//
// For each type named on the command line, seqlists makes the generated
// list marshalers of that type call MarshalSliceSequentially (a hand-written
// file beside the generated one) instead of graphql.MarshalSliceConcurrently,
// with the same arguments and the same results. It refuses a type when an
// object type reachable from it (itself, its fields' types, theirs, …) has
// a resolver gqlgen runs concurrently, unless that type is named in -trust:
// a trusted type's resolvers must not need other elements to be running to
// finish (their loads are queued for the whole list beforehand), or loaders
// would no longer batch across elements. It also fails when it finds
// nothing to change, so that a gqlgen upgrade that renames what it looks
// for is noticed.
//
//	go run ./internal/seqlists -file generated/generated.go -trust Item Post Item
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
)

func main() {
	file := flag.String("file", "", "the generated exec file to rewrite")
	trust := flag.String("trust", "", "comma-separated object types whose resolvers may run one element after another")
	flag.Parse()
	var trusted []string
	if *trust != "" {
		trusted = strings.Split(*trust, ",")
	}
	if err := run(*file, flag.Args(), trusted); err != nil {
		fmt.Fprintln(os.Stderr, "seqlists:", err)
		os.Exit(1)
	}
}

func run(file string, types, trusted []string) error {
	if file == "" || len(types) == 0 {
		return errors.New("usage: seqlists -file FILE [-trust TYPE,...] TYPE [TYPE ...]")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	src, err := rewrite(string(b), types, trusted)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return os.WriteFile(file, []byte(src), 0o644)
}

// rewrite returns src with the list marshalers of types made sequential.
func rewrite(src string, types, trusted []string) (string, error) {
	funcs := methods(src)
	for _, t := range types {
		if _, ok := funcs["_"+t]; !ok {
			return "", fmt.Errorf("no object marshaler _%s", t)
		}
		if r := concurrentBelow(funcs, "_"+t, trusted); r != "" {
			return "", fmt.Errorf("%s reaches %s, which has resolver fields: lists of %s must stay concurrent so that loaders batch across elements (or trust %s with -trust)", t, r, t, r)
		}
		// The list marshalers of t: marshalN/marshalO, then the type's
		// name mangled with its package, then "2ᚕ" (a slice).
		list := regexp.MustCompile(`(?m)^func \(ec \*executionContext\) marshal[NO]` + regexp.QuoteMeta(t) + `2ᚕ[^(]*\(`)
		n := 0
		for _, loc := range list.FindAllStringIndex(src, -1) {
			end := loc[1] + strings.Index(src[loc[1]:], "\n}\n")
			body := src[loc[1]:end]
			if c := strings.Count(body, "graphql.MarshalSliceConcurrently("); c != 1 {
				return "", fmt.Errorf("a list marshaler of %s calls graphql.MarshalSliceConcurrently %d times", t, c)
			}
			src = src[:loc[1]] + strings.Replace(body, "graphql.MarshalSliceConcurrently(", "MarshalSliceSequentially(", 1) + src[end:]
			n++
		}
		if n == 0 {
			return "", fmt.Errorf("no list marshaler of %s", t)
		}
	}
	return src, nil
}

// Names of generated methods hold non-ASCII letters (ᚕ, ᚖ, ᚐ), which \w
// does not match.
var method = regexp.MustCompile(`(?m)^func \(ec \*executionContext\) ([^\s(]+)\(`)

// methods maps each method of executionContext in src to its body (gofmt
// puts a function's closing brace alone at the start of a line).
func methods(src string) map[string]string {
	m := map[string]string{}
	for _, loc := range method.FindAllStringSubmatchIndex(src, -1) {
		end := strings.Index(src[loc[1]:], "\n}\n")
		if end < 0 {
			continue
		}
		m[src[loc[2]:loc[3]]] = src[loc[1] : loc[1]+end]
	}
	return m
}

var (
	call          = regexp.MustCompile(`ec\.([^\s(),.]+)\(`)
	objectMarshal = regexp.MustCompile(`^_[A-Z]\w*$`)
)

// concurrentBelow returns the first untrusted object type reachable from
// the method start (through the methods it calls) whose object marshaler
// resolves fields concurrently, or "".
func concurrentBelow(funcs map[string]string, start string, trusted []string) string {
	seen := map[string]bool{}
	var walk func(name string) string
	walk = func(name string) string {
		if seen[name] {
			return ""
		}
		seen[name] = true
		body, ok := funcs[name]
		if !ok {
			return ""
		}
		if objectMarshal.MatchString(name) && !strings.Contains(name[1:], "_") && !slices.Contains(trusted, name[1:]) &&
			(strings.Contains(body, "ResolveConcurrently") || strings.Contains(body, "ResolveRootConcurrently")) {
			return name[1:]
		}
		for _, c := range call.FindAllStringSubmatch(body, -1) {
			if r := walk(c[1]); r != "" {
				return r
			}
		}
		return ""
	}
	return walk(start)
}
