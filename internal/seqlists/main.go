// Command seqlists runs after gqlgen (see graph/generate.go). gqlgen
// marshals every element of a list of objects in a goroutine of its own, so
// that resolvers of different elements can wait on one dataloader batch
// together. For an object type whose fields are all plain (no resolver
// anywhere below it) that buys nothing and costs a goroutine, a scheduler
// round trip and, for deep selections, repeated stack growth per element:
// under load, 36 % of the server's CPU on externalPosts(limit: 100) was
// runtime.newstack in those goroutines.
//
// For each type named on the command line, seqlists makes the generated
// list marshalers of that type call MarshalSliceSequentially (a hand-written
// file beside the generated one) instead of graphql.MarshalSliceConcurrently,
// with the same arguments and the same results. It refuses a type whose
// generated object marshaler resolves a field concurrently (a resolver was
// added to it): its lists must stay concurrent, or loaders would no longer
// batch across elements. It also fails when it finds nothing to change, so
// that a gqlgen upgrade that renames what it looks for is noticed.
//
//	go run ./internal/seqlists -file generated/generated.go Post User
package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
)

func main() {
	file := flag.String("file", "", "the generated exec file to rewrite")
	flag.Parse()
	if err := run(*file, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "seqlists:", err)
		os.Exit(1)
	}
}

func run(file string, types []string) error {
	if file == "" || len(types) == 0 {
		return fmt.Errorf("usage: seqlists -file FILE TYPE...")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	src, err := rewrite(string(b), types)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return os.WriteFile(file, []byte(src), 0o644)
}

// rewrite returns src with the list marshalers of types made sequential.
func rewrite(src string, types []string) (string, error) {
	for _, t := range types {
		obj, ok := funcBody(src, regexp.MustCompile(`(?m)^func \(ec \*executionContext\) _`+regexp.QuoteMeta(t)+`\(ctx context\.Context, sel ast\.SelectionSet, obj \*`))
		if !ok {
			return "", fmt.Errorf("no object marshaler _%s", t)
		}
		if strings.Contains(obj, "ResolveConcurrently") || strings.Contains(obj, "ResolveRootConcurrently") {
			return "", fmt.Errorf("%s has resolver fields: its lists must stay concurrent so that loaders batch across elements", t)
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

// funcBody returns the text from the match of start to the end of that
// function (gofmt puts its closing brace alone at the start of a line).
func funcBody(src string, start *regexp.Regexp) (string, bool) {
	loc := start.FindStringIndex(src)
	if loc == nil {
		return "", false
	}
	end := strings.Index(src[loc[1]:], "\n}\n")
	if end < 0 {
		return "", false
	}
	return src[loc[1] : loc[1]+end], true
}
