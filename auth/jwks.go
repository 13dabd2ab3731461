package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// asymmetricAlgs are the algorithms a JWKS key may verify. Which of them a
// given token may use is decided by the key it names, never by the token.
var asymmetricAlgs = []string{
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
}

var rsaAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

// JWKS limits and timings.
const (
	maxJWKSBytes = 1 << 20
	minRSABits   = 2048
	// jwksMaxAge is how long a fetched key set is trusted before a token
	// makes it refresh, so that a key the issuer withdrew stops verifying.
	jwksMaxAge = time.Hour
)

// errRefreshLimited is the cause when a refresh was wanted but the last one
// was too recent.
var errRefreshLimited = errors.New("JWKS refresh skipped: the last one was too recent")

// jwk is a verification key of the set with the algorithms it may verify.
type jwk struct {
	key  any // *rsa.PublicKey or *ecdsa.PublicKey
	algs []string
}

// jwksCache fetches a JSON Web Key Set and keeps it. It refreshes the set
// when a token names a kid it does not hold or when the set is older than
// jwksMaxAge, at most once per minInterval and with one fetch at a time.
type jwksCache struct {
	url         string
	client      *http.Client
	minInterval time.Duration
	logger      *slog.Logger
	now         func() time.Time
	group       singleflight.Group

	mu          sync.RWMutex
	keys        map[string]jwk // by kid
	fetchedAt   time.Time      // of the set in keys
	attemptedAt time.Time      // of the last fetch, failed or not
	lastErr     error          // of the last fetch, nil when it worked
}

// keysUnavailable is a key set that could not be fetched: the identity
// provider is down, not the caller's token bad.
type keysUnavailable struct{ err error }

func (e *keysUnavailable) Error() string { return e.err.Error() }
func (e *keysUnavailable) Unwrap() error { return e.err }

func newJWKSCache(url string, client *http.Client, minInterval time.Duration, logger *slog.Logger, now func() time.Time) *jwksCache {
	return &jwksCache{url: url, client: client, minInterval: minInterval, logger: logger, now: now}
}

// verificationKey returns the key that verifies a token with the given kid
// and alg. It fails when no key has that kid, or when the key's type or its
// own alg does not allow alg: an RSA key never verifies an ES256 or HS256
// token, whatever the token's header claims.
func (c *jwksCache) verificationKey(ctx context.Context, kid, alg string) (any, error) {
	k, found, fresh := c.lookup(kid)
	if !found || !fresh {
		if err := c.refresh(ctx); err != nil {
			if !found {
				return nil, fmt.Errorf("no JWKS key with kid %q: %w", kid, err)
			}
			// Withdrawn keys matter less than an issuer outage that
			// would refuse every caller: keep verifying with the set
			// we have, and say so once per failed fetch.
			if !errors.Is(err, errRefreshLimited) {
				c.logger.LogAttrs(ctx, slog.LevelWarn, "JWKS refresh failed; using the cached keys",
					slog.String("url", c.url), slog.String("error", err.Error()))
			}
		} else if k, found, _ = c.lookup(kid); !found {
			return nil, fmt.Errorf("no JWKS key with kid %q", kid)
		}
	}
	if !slices.Contains(k.algs, alg) {
		return nil, fmt.Errorf("JWKS key %q does not verify alg %q (it verifies %s)", kid, alg, strings.Join(k.algs, ", "))
	}
	return k.key, nil
}

// lookup returns the key with kid, whether there is one, and whether the
// set is fresh. A token without a kid may use the only key of a one-key set.
func (c *jwksCache) lookup(kid string) (k jwk, found, fresh bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	fresh = !c.fetchedAt.IsZero() && c.now().Sub(c.fetchedAt) < jwksMaxAge
	if kid == "" && len(c.keys) == 1 {
		for _, k := range c.keys {
			return k, true, fresh
		}
	}
	k, found = c.keys[kid]
	return k, found, fresh
}

// refresh fetches the set unless the last fetch began less than minInterval
// ago. Concurrent callers share one fetch; it is detached from the first
// caller's cancellation so that one client going away fails no other.
func (c *jwksCache) refresh(ctx context.Context) error {
	ch := c.group.DoChan("jwks", func() (any, error) {
		c.mu.Lock()
		now := c.now()
		if !c.attemptedAt.IsZero() && now.Sub(c.attemptedAt) < c.minInterval {
			lastErr, haveKeys := c.lastErr, len(c.keys) > 0
			c.mu.Unlock()
			if lastErr != nil && !haveKeys {
				// No key set at all yet: the provider is still down.
				return nil, &keysUnavailable{lastErr}
			}
			return nil, errRefreshLimited
		}
		c.attemptedAt = now
		c.mu.Unlock()

		fetchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), defaultHTTPTimeout)
		defer cancel()
		keys, err := c.fetch(fetchCtx)
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil {
			c.lastErr = err
			return nil, &keysUnavailable{err}
		}
		c.keys, c.fetchedAt, c.lastErr = keys, c.now(), nil
		return nil, nil
	})
	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fetch downloads and parses the key set.
func (c *jwksCache) fetch(ctx context.Context) (map[string]jwk, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS: status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read JWKS: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("read JWKS: larger than %d bytes", maxJWKSBytes)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// rawJWK holds the members of a JWK (RFC 7517, 7518) that matter here.
type rawJWK struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// parseJWKS returns the signature verification keys of a JWK Set by kid.
// Keys for encryption, symmetric ("oct") keys and keys of other types are
// skipped: a symmetric key published in a JWKS would let anyone who can read
// it mint tokens. A key that does not parse is skipped too, so that one odd
// key does not take down the others; a set with no usable key is an error.
func parseJWKS(data []byte) (map[string]jwk, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}
	keys := make(map[string]jwk, len(set.Keys))
	var skipped []error
	for i, raw := range set.Keys {
		var rk rawJWK
		if err := json.Unmarshal(raw, &rk); err != nil {
			skipped = append(skipped, fmt.Errorf("key %d: %w", i, err))
			continue
		}
		k, err := rk.verificationKey()
		if err != nil {
			skipped = append(skipped, fmt.Errorf("key %d (kid %q): %w", i, rk.Kid, err))
			continue
		}
		if _, dup := keys[rk.Kid]; dup {
			// Which of two keys with one kid is meant cannot be told.
			skipped = append(skipped, fmt.Errorf("key %d: kid %q repeats", i, rk.Kid))
			continue
		}
		keys[rk.Kid] = k
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("JWKS holds no usable signature key: %w", errors.Join(skipped...))
	}
	return keys, nil
}

// verificationKey turns a JWK into a key and the algorithms it may verify.
func (rk rawJWK) verificationKey() (jwk, error) {
	if rk.Use != "" && rk.Use != "sig" {
		return jwk{}, fmt.Errorf("use is %q, not sig", rk.Use)
	}
	if rk.KeyOps != nil && !slices.Contains(rk.KeyOps, "verify") {
		return jwk{}, errors.New("key_ops lacks verify")
	}
	switch rk.Kty {
	case "RSA":
		key, err := rk.rsaKey()
		if err != nil {
			return jwk{}, err
		}
		algs := rsaAlgs
		if rk.Alg != "" {
			if !slices.Contains(rsaAlgs, rk.Alg) {
				return jwk{}, fmt.Errorf("alg %q is not an RSA signature algorithm", rk.Alg)
			}
			algs = []string{rk.Alg}
		}
		return jwk{key: key, algs: algs}, nil
	case "EC":
		key, alg, err := rk.ecKey()
		if err != nil {
			return jwk{}, err
		}
		if rk.Alg != "" && rk.Alg != alg {
			return jwk{}, fmt.Errorf("alg %q does not match curve %s", rk.Alg, rk.Crv)
		}
		return jwk{key: key, algs: []string{alg}}, nil
	default:
		return jwk{}, fmt.Errorf("kty %q is not RSA or EC", rk.Kty)
	}
}

func (rk rawJWK) rsaKey() (*rsa.PublicKey, error) {
	nb, err := decodeB64URL(rk.N)
	if err != nil {
		return nil, fmt.Errorf("n: %w", err)
	}
	eb, err := decodeB64URL(rk.E)
	if err != nil {
		return nil, fmt.Errorf("e: %w", err)
	}
	n := new(big.Int).SetBytes(nb)
	if n.BitLen() < minRSABits {
		return nil, fmt.Errorf("RSA modulus has %d bits, fewer than %d", n.BitLen(), minRSABits)
	}
	if len(eb) == 0 || len(eb) > 4 {
		return nil, fmt.Errorf("RSA exponent is %d bytes", len(eb))
	}
	e := new(big.Int).SetBytes(eb).Int64()
	if e < 3 || e%2 == 0 || e > 1<<31-1 {
		return nil, fmt.Errorf("RSA exponent %d is not valid", e)
	}
	return &rsa.PublicKey{N: n, E: int(e)}, nil
}

func (rk rawJWK) ecKey() (*ecdsa.PublicKey, string, error) {
	var curve elliptic.Curve
	var alg string
	switch rk.Crv {
	case "P-256":
		curve, alg = elliptic.P256(), "ES256"
	case "P-384":
		curve, alg = elliptic.P384(), "ES384"
	case "P-521":
		curve, alg = elliptic.P521(), "ES512"
	default:
		return nil, "", fmt.Errorf("curve %q is not P-256, P-384 or P-521", rk.Crv)
	}
	size := (curve.Params().BitSize + 7) / 8
	x, err := decodeB64URL(rk.X)
	if err != nil {
		return nil, "", fmt.Errorf("x: %w", err)
	}
	y, err := decodeB64URL(rk.Y)
	if err != nil {
		return nil, "", fmt.Errorf("y: %w", err)
	}
	if len(x) != size || len(y) != size {
		return nil, "", fmt.Errorf("coordinates are %d and %d bytes, not %d", len(x), len(y), size)
	}
	point := make([]byte, 0, 1+2*size)
	point = append(append(append(point, 4), x...), y...)
	key, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, "", err
	}
	return key, alg, nil
}

// decodeB64URL decodes base64url, tolerating the padding some issuers add.
func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
