// Command devtoken mints an HS256 token for the items server in
// development: it signs with AUTH_JWT_SECRET (or -secret) and prints the
// token, ready for an "Authorization: Bearer …" header.
//
//	go run ./cmd/devtoken -sub alice
//	go run ./cmd/devtoken -sub bob -scope "" -ttl 5m   # a read-only token
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"itemsrv/auth"
)

func main() {
	err := run(os.Args[1:], os.Getenv, os.Stdout, time.Now())
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "devtoken:", err)
		os.Exit(2)
	}
}

// run parses args, reading defaults from getenv, and writes the token to
// out.
func run(args []string, getenv func(string) string, out io.Writer, now time.Time) error {
	fs := flag.NewFlagSet("devtoken", flag.ContinueOnError)
	secret := fs.String("secret", getenv("AUTH_JWT_SECRET"), "HS256 secret, used as the raw bytes given (default $AUTH_JWT_SECRET)")
	sub := fs.String("sub", "dev", "subject (sub): the owner of the items the token creates")
	scope := fs.String("scope", auth.WriteScope, `space-separated scopes; "" for a read-only token`)
	ttl := fs.Duration("ttl", time.Hour, "lifetime (exp = now + ttl)")
	iss := fs.String("iss", getenv("AUTH_ISSUER"), "issuer (iss); omitted when empty (default $AUTH_ISSUER)")
	aud := fs.String("aud", getenv("AUTH_AUDIENCE"), "audience (aud); omitted when empty (default $AUTH_AUDIENCE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *secret == "" {
		return errors.New("no secret: set AUTH_JWT_SECRET or pass -secret")
	}
	if *sub == "" {
		return errors.New("-sub is empty; the server refuses tokens without sub")
	}
	if *ttl <= 0 {
		return fmt.Errorf("-ttl %v is not positive", *ttl)
	}

	claims := jwt.MapClaims{
		"sub": *sub,
		"iat": now.Unix(),
		"exp": now.Add(*ttl).Unix(),
	}
	if s := strings.Join(strings.Fields(*scope), " "); s != "" {
		claims["scope"] = s
	}
	if *iss != "" {
		claims["iss"] = *iss
	}
	if *aud != "" {
		claims["aud"] = *aud
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(*secret))
	if err != nil {
		return fmt.Errorf("sign token: %w", err)
	}
	_, err = fmt.Fprintln(out, token)
	return err
}
