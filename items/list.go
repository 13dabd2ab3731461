package items

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OrderField is a field items can be listed by.
type OrderField string

// The order fields of the public contract.
const (
	OrderCreatedAt OrderField = "CREATED_AT"
	OrderUpdatedAt OrderField = "UPDATED_AT"
	OrderTitle     OrderField = "TITLE"
)

// Order is a listing order; ties are always broken by id in the same
// direction.
type Order struct {
	Field OrderField
	Desc  bool
}

// Filter narrows a listing. Zero fields do not filter.
type Filter struct {
	// Search is a case-insensitive substring of title or description, with
	// % and _ taken literally.
	Search        string
	Enriched      *bool
	CreatedAfter  *time.Time
	CreatedBefore *time.Time
}

// ListParams is a validated items query.
type ListParams struct {
	Owner  string
	First  int
	After  *Cursor
	Filter Filter
	Order  Order
}

// Page is one page of a listing.
type Page struct {
	Items       []Item
	HasNextPage bool
	// HasPreviousPage is true when the page starts after a cursor.
	HasPreviousPage bool
	TotalCount      int
}

// Cursor is a position in a listing: the order key of the last item seen.
type Cursor struct {
	Order Order
	ID    int64
	// Time is the key for CREATED_AT and UPDATED_AT orders.
	Time time.Time
	// Title is the key for the TITLE order.
	Title string
}

// CursorOf returns the cursor positioned on it in the order o.
func CursorOf(it *Item, o Order) Cursor {
	c := Cursor{Order: o, ID: it.ID}
	switch o.Field {
	case OrderCreatedAt:
		c.Time = it.CreatedAt
	case OrderUpdatedAt:
		c.Time = it.UpdatedAt
	case OrderTitle:
		c.Title = it.Title
	}
	return c
}

// CursorCodec signs cursors with a key, so that a client can neither forge a
// position nor reuse a cursor with another order, or on another database
// when each database has a key of its own. Positions are not secret: every
// server process of one database shares the key.
type CursorCodec struct {
	// macs reuses keyed HMACs: making one costs more than the rest of a
	// cursor.
	macs sync.Pool
}

// NewCursorCodec returns a codec signing with key.
func NewCursorCodec(key []byte) *CursorCodec {
	key = append([]byte(nil), key...)
	return &CursorCodec{macs: sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
}

// DefaultCursorCodec signs with a key built into the program, for cursors
// made without a database's own key.
var DefaultCursorCodec = NewCursorCodec([]byte("items-cursor-v1"))

const macLen = 12

// sign appends the first macLen bytes of data's MAC to dst.
func (k *CursorCodec) sign(dst, data []byte) []byte {
	m := k.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(data)
	dst = m.Sum(dst)[:len(dst)+macLen]
	k.macs.Put(m)
	return dst
}

func fieldChar(f OrderField) byte {
	switch f {
	case OrderUpdatedAt:
		return 'u'
	case OrderTitle:
		return 't'
	default:
		return 'c'
	}
}

// Encode returns the opaque string form of c, signed with the built-in key.
func (c Cursor) Encode() string { return DefaultCursorCodec.Encode(c) }

// DecodeCursor parses a cursor that Cursor.Encode made for the order o.
func DecodeCursor(s string, o Order) (*Cursor, error) { return DefaultCursorCodec.Decode(s, o) }

// Encode returns the opaque string form of c.
func (k *CursorCodec) Encode(c Cursor) string {
	b := make([]byte, 0, 64)
	b = append(b, fieldChar(c.Order.Field))
	if c.Order.Desc {
		b = append(b, 'd')
	} else {
		b = append(b, 'a')
	}
	b = strconv.AppendInt(b, c.ID, 10)
	b = append(b, ':')
	if c.Order.Field == OrderTitle {
		b = append(b, c.Title...)
	} else {
		b = strconv.AppendInt(b, c.Time.UnixMicro(), 10)
	}
	b = k.sign(b, b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode parses a cursor that k's Encode made for the order o. Anything
// else is BAD_USER_INPUT on the field "after".
func (k *CursorCodec) Decode(s string, o Order) (*Cursor, error) {
	bad := InvalidInput("after", "after is not a cursor issued by this server for this order")
	// Only the exact string Encode made is a cursor: the decoder would
	// otherwise skip newlines and ignore stray trailing bits, so that many
	// strings would stand for one cursor.
	if len(s) > 2048 || strings.ContainsAny(s, "\r\n") {
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(raw) < 2+macLen+2 {
		return nil, bad
	}
	body, mac := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	var sum [sha256.Size]byte
	if !hmac.Equal(k.sign(sum[:0], body), mac) {
		return nil, bad
	}
	if body[0] != fieldChar(o.Field) || (body[1] == 'd') != o.Desc {
		return nil, InvalidInput("after", "after is a cursor for another order")
	}
	rest := string(body[2:])
	idStr, key, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, bad
	}
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil || id <= 0 {
		return nil, bad
	}
	c := &Cursor{Order: o, ID: id}
	if o.Field == OrderTitle {
		c.Title = key
	} else {
		us, err := strconv.ParseInt(key, 10, 64)
		if err != nil {
			return nil, bad
		}
		c.Time = time.UnixMicro(us).UTC()
	}
	return c, nil
}
