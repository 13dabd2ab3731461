package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Media types of GraphQL responses (the GraphQL-over-HTTP spec).
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// codeBadRequest marks a request that is not a GraphQL request at all:
// malformed JSON, parameters of the wrong type, an unsupported media type.
const codeBadRequest = "BAD_REQUEST"

// HTTP is the GraphQL-over-HTTP transport for plain GET and POST requests.
// gqlgen's own GET and POST transports answer 422 to a document that fails
// to parse or validate and send "data": null with it; the spec asks for 200
// under application/json, and 400 without a data entry under
// application/graphql-response+json. This transport follows the spec:
//
//   - the response media type is negotiated from Accept (none: application/json;
//     nothing acceptable: 406);
//   - POST needs an application/json body in UTF-8 (else 415), and a body
//     that is not a JSON object of well-typed parameters is 400;
//   - GET runs queries only: another operation is 405 with Allow: POST;
//   - request errors (parse, validation, variable coercion, complexity,
//     persisted queries) carry no data entry, with 400 under
//     application/graphql-response+json and 200 under application/json.
//
// Subscriptions go over WebSocket or SSE; over plain HTTP they are refused.
type HTTP struct{}

var _ graphql.Transport = HTTP{}

// Supports takes every GET and POST that is not a protocol upgrade. The SSE
// transport is registered before this one and takes text/event-stream.
func (HTTP) Supports(r *http.Request) bool {
	// Every method but OPTIONS and HEAD (the Options transport's), so that
	// PUT or DELETE get a 405 in GraphQL's shape rather than gqlgen's bare
	// "transport not supported".
	return r.Method != http.MethodOptions && r.Method != http.MethodHead && r.Header.Get("Upgrade") == ""
}

// Do answers one request.
func (HTTP) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	media, ok := negotiate(r.Header.Values("Accept"))
	if !ok {
		writeProtocolError(w, exec, r, mediaJSON, http.StatusNotAcceptable,
			"the Accept header allows neither application/graphql-response+json nor application/json")
		return
	}
	start := graphql.Now()
	params, status, msg := readParams(r)
	if status != 0 {
		if status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", "GET, POST")
		}
		writeProtocolError(w, exec, r, media, status, msg)
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	opCtx, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		status := http.StatusOK
		if media == mediaGraphQLResponse {
			status = http.StatusBadRequest
		}
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), errs)
		writeResponse(w, media, status, resp, false)
		return
	}
	switch op := opCtx.Operation.Operation; {
	case r.Method == http.MethodGet && op != ast.Query:
		w.Header().Set("Allow", "POST")
		writeRequestError(w, exec, graphql.WithOperationContext(ctx, opCtx), media, http.StatusMethodNotAllowed,
			fmt.Sprintf("a %s cannot be sent with GET; use POST", op))
		return
	case op == ast.Subscription:
		writeRequestError(w, exec, graphql.WithOperationContext(ctx, opCtx), media, http.StatusBadRequest,
			"subscriptions are served over WebSocket (graphql-transport-ws) or Server-Sent Events (Accept: text/event-stream)")
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	writeResponse(w, media, http.StatusOK, responses(ctx), true)
}

// negotiate picks the response media type from the Accept headers: the
// listed type with the highest quality, application/graphql-response+json
// on a tie; wildcards count as application/json, as does no Accept at all.
func negotiate(accept []string) (string, bool) {
	if len(accept) == 0 {
		return mediaJSON, true
	}
	gqlQ, jsonQ, wildQ := -1.0, -1.0, -1.0
	for _, header := range accept {
		for _, part := range strings.Split(header, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			mt, ps, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			q := 1.0
			if v, ok := ps["q"]; ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
			switch mt {
			case mediaGraphQLResponse:
				gqlQ = max(gqlQ, q)
			case mediaJSON:
				jsonQ = max(jsonQ, q)
			case "*/*", "application/*":
				wildQ = max(wildQ, q)
			}
		}
	}
	if jsonQ < 0 {
		jsonQ = wildQ
	}
	switch {
	case gqlQ > 0 && gqlQ >= jsonQ:
		return mediaGraphQLResponse, true
	case jsonQ > 0:
		return mediaJSON, true
	}
	return "", false
}

// readParams reads the GraphQL parameters of a GET or POST. A non-zero
// status refuses the request with msg.
func readParams(r *http.Request) (*graphql.RawParams, int, string) {
	var raw map[string]json.RawMessage
	switch r.Method {
	case http.MethodGet:
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, http.StatusBadRequest, "the query string is malformed"
		}
		raw = make(map[string]json.RawMessage, len(q))
		for k, vs := range q {
			v := vs[0]
			switch k {
			case "variables", "extensions":
				if v == "" {
					continue
				}
				if !json.Valid([]byte(v)) {
					return nil, http.StatusBadRequest, fmt.Sprintf("the %s parameter is not valid JSON", k)
				}
				raw[k] = json.RawMessage(v)
			default:
				b, _ := json.Marshal(v)
				raw[k] = b
			}
		}
	case http.MethodPost:
		ct := r.Header.Get("Content-Type")
		if ct == "" {
			return nil, http.StatusUnsupportedMediaType, "a POST needs Content-Type: application/json"
		}
		mt, ps, err := mime.ParseMediaType(ct)
		if err != nil || mt != mediaJSON {
			return nil, http.StatusUnsupportedMediaType, "a POST needs Content-Type: application/json"
		}
		if cs, ok := ps["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return nil, http.StatusUnsupportedMediaType, "the request body must be UTF-8"
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return nil, http.StatusRequestEntityTooLarge, "the request body is larger than the limit"
			}
			return nil, http.StatusBadRequest, "the request body could not be read"
		}
		if len(bytes.TrimSpace(body)) == 0 {
			return nil, http.StatusBadRequest, "the request body is empty"
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&raw); err != nil || raw == nil {
			return nil, http.StatusBadRequest, "the request body is not a JSON object"
		}
		if dec.More() {
			return nil, http.StatusBadRequest, "the request body holds more than one JSON value"
		}
	default:
		return nil, http.StatusMethodNotAllowed, "GraphQL requests are GET or POST"
	}
	p := &graphql.RawParams{}
	if err := decodeParam(raw, "query", &p.Query); err != "" {
		return nil, http.StatusBadRequest, err
	}
	if err := decodeParam(raw, "operationName", &p.OperationName); err != "" {
		return nil, http.StatusBadRequest, err
	}
	if err := decodeParam(raw, "variables", &p.Variables); err != "" {
		return nil, http.StatusBadRequest, err
	}
	if err := decodeParam(raw, "extensions", &p.Extensions); err != "" {
		return nil, http.StatusBadRequest, err
	}
	if p.Query == "" {
		if _, persisted := p.Extensions["persistedQuery"]; !persisted {
			return nil, http.StatusBadRequest, "the query parameter is missing"
		}
	}
	return p, 0, ""
}

// decodeParam decodes raw[name] into v, a *string or *map[string]any; null
// and absent leave v as it is. It returns a message when the type is wrong.
func decodeParam(raw map[string]json.RawMessage, name string, v any) string {
	b, ok := raw[name]
	if !ok || string(bytes.TrimSpace(b)) == "null" {
		return ""
	}
	var err error
	if _, isString := v.(*string); isString {
		err = json.Unmarshal(b, v)
	} else {
		// Numbers in variables stay json.Number, so that an Int or ID
		// is not rounded through float64.
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		err = dec.Decode(v)
	}
	if err != nil {
		want := "a string"
		if _, isMap := v.(*map[string]any); isMap {
			want = "a JSON object"
		}
		return fmt.Sprintf("the %s parameter must be %s", name, want)
	}
	return ""
}

// writeProtocolError refuses a request that never became a GraphQL
// operation. The error still goes through the response middleware, so the
// request log and metrics see its code.
func writeProtocolError(w http.ResponseWriter, exec graphql.GraphExecutor, r *http.Request, media string, status int, msg string) {
	writeRequestError(w, exec, r.Context(), media, status, msg)
}

func writeRequestError(w http.ResponseWriter, exec graphql.GraphExecutor, ctx context.Context, media string, status int, msg string) {
	code := codeBadRequest
	switch status {
	case http.StatusRequestEntityTooLarge:
		code = "PAYLOAD_TOO_LARGE"
	}
	err := &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": code}}
	resp := exec.DispatchError(ctx, gqlerror.List{err})
	writeResponse(w, media, status, resp, false)
}

// writeResponse writes resp; withData false leaves the data entry out, as
// the spec asks for a request error.
func writeResponse(w http.ResponseWriter, media string, status int, resp *graphql.Response, withData bool) {
	buf := responseBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledResponse {
			buf.Reset()
			responseBuffers.Put(buf)
		}
	}()
	if err := encodeResponse(buf, resp, withData); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"errors":[{"message":"internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}`)
	}
	w.Header().Set("Content-Type", media+"; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// responseBuffers hold responses while they are written; a buffer that
// grew past maxPooledResponse is left to the collector.
var responseBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledResponse = 1 << 20

// encodeResponse writes resp as one JSON object, its members in the order
// of graphql.Response. The data is copied as gqlgen wrote it, compact and
// valid: encoding/json would read it all again to check and compact it, and
// would HTML-escape <, > and & inside it (externalData included), so that
// it would no longer be the text as stored. The other members go through
// encoding/json without HTML escaping.
func encodeResponse(buf *bytes.Buffer, resp *graphql.Response, withData bool) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	buf.WriteByte('{')
	member := func(name string, v any) error {
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		buf.WriteString(name)
		if err := enc.Encode(v); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // the newline Encode ends with
		return nil
	}
	if len(resp.Errors) > 0 {
		if err := member(`"errors":`, resp.Errors); err != nil {
			return err
		}
	}
	if withData {
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		buf.WriteString(`"data":`)
		if len(resp.Data) == 0 {
			buf.WriteString("null")
		} else {
			buf.Write(resp.Data)
		}
		if resp.Label != "" {
			if err := member(`"label":`, resp.Label); err != nil {
				return err
			}
		}
		if len(resp.Path) > 0 {
			if err := member(`"path":`, resp.Path); err != nil {
				return err
			}
		}
		if resp.HasNext != nil {
			if err := member(`"hasNext":`, resp.HasNext); err != nil {
				return err
			}
		}
	}
	if len(resp.Extensions) > 0 {
		if err := member(`"extensions":`, resp.Extensions); err != nil {
			return err
		}
	}
	buf.WriteByte('}')
	return nil
}

// SSE is gqlgen's Server-Sent Events transport behind the same checks of
// the request as plain HTTP, so that a body that is not a GraphQL request
// is a 400 with BAD_REQUEST (gqlgen alone answers a code-less error that
// reads as an internal one, and logs the raw body), and a document that
// does not validate is a 400 rather than an error event in a 200 stream.
type SSE struct {
	transport.SSE
	live *Live
}

// Do checks the body, then streams.
func (s SSE) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		status, msg := http.StatusBadRequest, "the request body could not be read"
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			status, msg = http.StatusRequestEntityTooLarge, "the request body is larger than the limit"
		}
		writeProtocolError(w, exec, r, mediaJSON, status, msg)
		return
	}
	check := r.Clone(r.Context())
	check.Body = io.NopCloser(bytes.NewReader(body))
	params, status, msg := readParams(check)
	if status != 0 {
		writeProtocolError(w, exec, r, mediaJSON, status, msg)
		return
	}
	// A document that does not parse or validate is refused before the
	// stream opens, with 400 and the errors as JSON, as graphql-sse's own
	// server does; the parsed document is cached for the stream below.
	params.Headers = r.Header
	if opCtx, errs := exec.CreateOperationContext(r.Context(), params); errs != nil {
		resp := exec.DispatchError(graphql.WithOperationContext(r.Context(), opCtx), errs)
		writeResponse(w, mediaJSON, http.StatusBadRequest, resp, false)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.live.add(1)
	defer s.live.add(-1)
	s.SSE.Do(w, r, exec)
}
