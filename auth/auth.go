package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"

	"itemsrv/items"
)

// The public messages of authentication errors. They never say which check
// failed; the cause goes to the log only.
const (
	MessageMissingToken = "missing bearer token"
	MessageInvalidToken = "invalid token"
)

// Defaults of Config's optional fields.
const (
	DefaultLeeway                 = 30 * time.Second
	DefaultJWKSRefreshMinInterval = 10 * time.Second
	defaultHTTPTimeout            = 10 * time.Second
)

// Limits on what a token may hold. A compact JWS is far below maxTokenLen in
// practice; the bound keeps a hostile header from costing much to parse.
const (
	maxTokenLen   = 16 << 10
	maxSubjectLen = 1024
)

// Config configures an Authenticator. Setting neither JWTSecret nor JWKSURL
// leaves authentication off; setting both is an error.
type Config struct {
	// JWTSecret verifies HS256 tokens; its raw bytes are the key.
	JWTSecret string
	// JWKSURL is an http(s) URL serving a JSON Web Key Set whose RSA and EC
	// keys verify RS256/RS384/RS512/PS256/PS384/PS512 and ES256/ES384/ES512
	// tokens.
	JWKSURL string
	// Issuer, when set, must equal the token's iss.
	Issuer string
	// Audience, when set, must be one of the token's aud.
	Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat; 0 means
	// DefaultLeeway.
	Leeway time.Duration
	// HTTPClient fetches the JWKS; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
	// Logger receives the reasons tokens are refused and JWKS fetch
	// failures; nil means slog.Default().
	Logger *slog.Logger
	// JWKSRefreshMinInterval is the least time between two JWKS fetches, so
	// that tokens with made-up kids cannot make the server hammer the key
	// endpoint; 0 means DefaultJWKSRefreshMinInterval.
	JWKSRefreshMinInterval time.Duration
}

// Authenticator verifies bearer tokens. Its zero value and a nil
// *Authenticator are disabled: they let every request through as Anonymous.
// It is safe for concurrent use.
type Authenticator struct {
	enabled bool
	logger  *slog.Logger
	leeway  time.Duration
	parser  *jwt.Parser
	// secret is the HS256 key; nil when keys come from the JWKS.
	secret []byte
	jwks   *jwksCache
}

// New returns an Authenticator for cfg. It is disabled when neither
// JWTSecret nor JWKSURL is set. It returns an error for a bad setting: both
// set, a JWKS URL that is not an absolute http(s) URL, or a negative
// duration. It does not fetch the JWKS: the first token does.
func New(cfg Config) (*Authenticator, error) {
	return newAuthenticator(cfg, time.Now)
}

// newAuthenticator is New with a clock, for tests.
func newAuthenticator(cfg Config, now func() time.Time) (*Authenticator, error) {
	if cfg.JWTSecret != "" && cfg.JWKSURL != "" {
		return nil, errors.New("AUTH_JWT_SECRET and AUTH_JWKS_URL are both set; choose one")
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("auth leeway %v is negative", cfg.Leeway)
	}
	if cfg.JWKSRefreshMinInterval < 0 {
		return nil, fmt.Errorf("JWKS refresh interval %v is negative", cfg.JWKSRefreshMinInterval)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	a := &Authenticator{logger: logger}
	if cfg.JWTSecret == "" && cfg.JWKSURL == "" {
		return a, nil
	}
	a.enabled = true
	a.leeway = cfg.Leeway
	if a.leeway == 0 {
		a.leeway = DefaultLeeway
	}
	opts := []jwt.ParserOption{
		jwt.WithLeeway(a.leeway),
		jwt.WithTimeFunc(now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		// Refuse base64url with non-zero trailing bits: one token, one
		// encoding.
		jwt.WithStrictDecoding(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}

	if cfg.JWTSecret != "" {
		a.secret = []byte(cfg.JWTSecret)
		opts = append(opts, jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}))
	} else {
		u, err := url.Parse(cfg.JWKSURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("AUTH_JWKS_URL %q is not an http(s) URL", cfg.JWKSURL)
		}
		client := cfg.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: defaultHTTPTimeout}
		}
		interval := cfg.JWKSRefreshMinInterval
		if interval == 0 {
			interval = DefaultJWKSRefreshMinInterval
		}
		a.jwks = newJWKSCache(u.String(), client, interval, logger, now)
		opts = append(opts, jwt.WithValidMethods(asymmetricAlgs))
	}
	a.parser = jwt.NewParser(opts...)
	return a, nil
}

// Enabled tells whether a is configured to verify tokens. A disabled
// Authenticator lets every request through as Anonymous.
func (a *Authenticator) Enabled() bool {
	return a != nil && a.enabled
}

// Authenticate verifies the value of an Authorization header, "Bearer"
// followed by one JWT, and returns the principal it names. While a is
// disabled it returns Anonymous whatever the header. The error is an
// *items.Error with code UNAUTHENTICATED, public message MessageMissingToken
// or MessageInvalidToken, and the detailed cause in Err for the log.
func (a *Authenticator) Authenticate(ctx context.Context, authorizationHeader string) (Principal, error) {
	if !a.Enabled() {
		return Anonymous, nil
	}
	p, _, err := a.authenticate(ctx, authorizationHeader)
	return p, err
}

// authenticate is Authenticate for an enabled a; it also returns the time
// the token stops being accepted.
func (a *Authenticator) authenticate(ctx context.Context, header string) (Principal, time.Time, error) {
	if strings.TrimSpace(header) == "" {
		return Principal{}, time.Time{}, missingToken()
	}
	raw, err := bearerToken(header)
	if err != nil {
		return Principal{}, time.Time{}, invalidToken(err)
	}
	p, expiry, err := a.verify(ctx, raw)
	var down *keysUnavailable
	if errors.As(err, &down) {
		return Principal{}, time.Time{}, &items.Error{Code: items.CodeServiceUnavailable, Message: MessageKeysUnavailable, Err: err}
	}
	if err != nil {
		return Principal{}, time.Time{}, invalidToken(err)
	}
	return p, expiry, nil
}

// errMissingToken is the cause of a missing-token error.
var errMissingToken = errors.New("no Authorization header")

func missingToken() *items.Error {
	return &items.Error{Code: items.CodeUnauthenticated, Message: MessageMissingToken, Err: errMissingToken}
}

// MessageKeysUnavailable is the public message when the JWKS cannot be
// fetched: the token may be fine, so it is SERVICE_UNAVAILABLE, not
// UNAUTHENTICATED, and clients should retry rather than drop the token.
const MessageKeysUnavailable = "the token cannot be checked now; try again later"

func invalidToken(cause error) *items.Error {
	return &items.Error{Code: items.CodeUnauthenticated, Message: MessageInvalidToken, Err: cause}
}

// bearerToken returns the token of an Authorization header value: the
// scheme "Bearer" in any case, then one or more spaces, then exactly one
// token of base64url characters and dots. Surrounding whitespace is
// tolerated, as HTTP allows it around field values.
func bearerToken(header string) (string, error) {
	header = strings.Trim(header, " \t")
	scheme, rest, found := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", errors.New("authorization scheme is not Bearer")
	}
	token := strings.TrimLeft(rest, " ")
	if !found || token == "" {
		return "", errors.New("bearer token is empty")
	}
	if len(token) > maxTokenLen {
		return "", fmt.Errorf("bearer token is %d bytes, more than %d", len(token), maxTokenLen)
	}
	for i := 0; i < len(token); i++ {
		if !isTokenByte(token[i]) {
			return "", fmt.Errorf("bearer token has byte %q at %d: not one base64url JWT", token[i], i)
		}
	}
	if strings.Count(token, ".") != 2 {
		return "", errors.New("bearer token is not a compact JWS of three parts")
	}
	return token, nil
}

func isTokenByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.'
}

// claims are the claims a token is read for.
type claims struct {
	jwt.RegisteredClaims
	// Scope is the space-separated scope claim of RFC 8693.
	Scope scopeList `json:"scope,omitempty"`
	// Scp is the array form some issuers (Okta, Azure AD) use instead.
	Scp scopeList `json:"scp,omitempty"`
}

// scopeList decodes a scope claim given as a space-separated string or as
// an array of strings.
type scopeList []string

func (s *scopeList) UnmarshalJSON(data []byte) error {
	var str string
	if err := json.Unmarshal(data, &str); err == nil {
		*s = strings.Fields(str)
		return nil
	}
	var list []string
	if err := json.Unmarshal(data, &list); err != nil {
		return errors.New("scope is neither a string nor an array of strings")
	}
	*s = nil
	for _, v := range list {
		*s = append(*s, strings.Fields(v)...)
	}
	return nil
}

// verify checks the signature and claims of a compact JWS and returns its
// principal and the time, leeway included, it expires.
func (a *Authenticator) verify(ctx context.Context, raw string) (Principal, time.Time, error) {
	var c claims
	token, err := a.parser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		if _, ok := t.Header["crit"]; ok {
			// RFC 7515 §4.1.11: extensions we do not understand must
			// make the token invalid.
			return nil, errors.New("token has a crit header")
		}
		if a.secret != nil {
			if t.Method.Alg() != jwt.SigningMethodHS256.Alg() {
				return nil, fmt.Errorf("alg %q is not HS256", t.Method.Alg())
			}
			return a.secret, nil
		}
		kid, _ := t.Header["kid"].(string)
		return a.jwks.verificationKey(ctx, kid, t.Method.Alg())
	})
	if err != nil {
		return Principal{}, time.Time{}, err
	}
	if !token.Valid || c.ExpiresAt == nil {
		return Principal{}, time.Time{}, errors.New("token is not valid")
	}
	if err := checkSubject(c.Subject); err != nil {
		return Principal{}, time.Time{}, err
	}
	scopes := append(append([]string(nil), c.Scope...), c.Scp...)
	p := Principal{Subject: c.Subject, Authenticated: true, Scopes: scopes}
	return p, c.ExpiresAt.Add(a.leeway), nil
}

// checkSubject refuses a missing sub, and one holding a control character:
// those subjects are reserved (see Unauthenticated) and no real issuer mints
// them.
func checkSubject(sub string) error {
	if sub == "" {
		return errors.New("token has no sub")
	}
	if len(sub) > maxSubjectLen {
		return fmt.Errorf("sub is %d bytes, more than %d", len(sub), maxSubjectLen)
	}
	if strings.ContainsFunc(sub, unicode.IsControl) {
		return errors.New("sub holds a control character")
	}
	return nil
}
