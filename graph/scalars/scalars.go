// Package scalars holds the marshalers of the schema's custom scalars.
package scalars

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"itemsrv/items"
)

// timeLayout is RFC 3339 in UTC with the microseconds the databases keep.
const timeLayout = "2006-01-02T15:04:05.999999Z07:00"

// MarshalTime writes t as an RFC 3339 string in UTC.
func MarshalTime(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		b := make([]byte, 0, 40)
		b = append(b, '"')
		b = t.UTC().AppendFormat(b, timeLayout)
		b = append(b, '"')
		w.Write(b)
	})
}

// UnmarshalTime reads an RFC 3339 string.
func UnmarshalTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, items.InvalidInput("", "a Time must be an RFC 3339 string, e.g. \"2026-11-25T10:00:00Z\"")
	}
	// RFC 3339 allows a lower-case "t" and "z"; Go's parser wants them
	// upper-case.
	t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
	if err != nil {
		return time.Time{}, items.InvalidInput("", "%s is not an RFC 3339 time, e.g. \"2026-11-25T10:00:00Z\"", strconv.Quote(s))
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		// Year 0 does not exist in PostgreSQL's calendar.
		return time.Time{}, items.InvalidInput("", "%s is outside the years 0001 to 9999", strconv.Quote(s))
	}
	return t.UTC(), nil
}

// MarshalJSON writes raw JSON as it is; nil is null.
func MarshalJSON(raw json.RawMessage) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		if len(raw) == 0 {
			w.Write([]byte("null"))
			return
		}
		w.Write(raw)
	})
}

// UnmarshalJSON accepts any JSON value.
func UnmarshalJSON(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("not a JSON value: %w", err)
	}
	return b, nil
}

// MarshalInt64ID writes an int64 id as a decimal string.
func MarshalInt64ID(id int64) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		b := make([]byte, 0, 22)
		b = append(b, '"')
		b = strconv.AppendInt(b, id, 10)
		b = append(b, '"')
		w.Write(b)
	})
}

// UnmarshalInt64ID reads a positive decimal id.
func UnmarshalInt64ID(v any) (int64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, items.InvalidInput("id", "an id must be a string")
	}
	return items.ParseID("id", s)
}
