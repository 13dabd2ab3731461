package items_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"itemsrv/items"
)

// badInput checks that err is BAD_USER_INPUT naming field.
func badInput(t *testing.T, err error, field string) {
	t.Helper()
	var ie *items.Error
	if !errors.As(err, &ie) || ie.Code != items.CodeBadUserInput || ie.Field != field {
		t.Fatalf("got %v, want BAD_USER_INPUT on %q", err, field)
	}
}

// cleanText tells whether s is text the contract accepts: valid UTF-8 with no
// control character but tab and newline.
func cleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r != '\t' && r != '\n' && unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func FuzzValidateNew(f *testing.F) {
	f.Add("buy milk", "two litres", true)
	f.Add("  padded  ", "", false)
	f.Add("", "", false)
	f.Add(" \t\n ", "x", true)
	f.Add("nul\x00inside", "ok", true)
	f.Add("ok", "bell\a", true)
	f.Add("\xff\xfe", "", false)
	f.Add(strings.Repeat("é", 200), strings.Repeat("ü", 5000), true)
	f.Add(strings.Repeat("é", 201), "", false)
	f.Add("ok", strings.Repeat("a", 5001), true)
	f.Add("\u0085next line", "", false)
	f.Add("zero\u200bwidth", "rtl\u202eoverride", true)
	f.Fuzz(func(t *testing.T, title, description string, hasDescription bool) {
		var desc *string
		if hasDescription {
			desc = &description
		}
		n, err := items.ValidateNew(title, desc)
		trimmed := strings.TrimSpace(title)
		titleOK := cleanText(title) && trimmed != "" && utf8.RuneCountInString(trimmed) <= items.MaxTitleLen
		descOK := !hasDescription || (cleanText(description) && utf8.RuneCountInString(description) <= items.MaxDescriptionLen)
		switch {
		case !titleOK:
			badInput(t, err, "title")
		case !descOK:
			badInput(t, err, "description")
		case err != nil:
			t.Fatalf("ValidateNew(%q, %q) = %v, want it accepted", title, description, err)
		default:
			if n.Title != trimmed {
				t.Fatalf("title %q normalized to %q, want %q", title, n.Title, trimmed)
			}
			if hasDescription != (n.Description != nil) || (hasDescription && *n.Description != description) {
				t.Fatalf("description %q came back as %v", description, n.Description)
			}
			// What is accepted is accepted again unchanged: validation is
			// idempotent, so a stored item always validates.
			again, err := items.ValidateNew(n.Title, n.Description)
			if err != nil || again.Title != n.Title {
				t.Fatalf("revalidating %q: %q, %v", n.Title, again.Title, err)
			}
		}
	})
}

func FuzzValidateUpdate(f *testing.F) {
	f.Add(true, false, "new title", true, false, "new description", true, 3)
	f.Add(true, true, "", false, false, "", false, 0)
	f.Add(false, false, "", true, true, "", false, 0)
	f.Add(true, false, "\x00", false, false, "", false, 0)
	f.Add(false, false, "", true, false, "\x1b[31m", true, -1)
	f.Fuzz(func(t *testing.T, titleSet, titleNull bool, title string, descSet, descNull bool, desc string, hasVersion bool, version int) {
		var tp, dp *string
		if !titleNull {
			tp = &title
		}
		if !descNull {
			dp = &desc
		}
		var vp *int
		if hasVersion {
			vp = &version
		}
		u, err := items.ValidateUpdate(titleSet, tp, descSet, dp, vp)
		trimmed := strings.TrimSpace(title)
		titleOK := !titleSet || (!titleNull && cleanText(title) && trimmed != "" && utf8.RuneCountInString(trimmed) <= items.MaxTitleLen)
		descOK := !descSet || descNull || (cleanText(desc) && utf8.RuneCountInString(desc) <= items.MaxDescriptionLen)
		switch {
		case !titleOK:
			badInput(t, err, "title")
		case !descOK:
			badInput(t, err, "description")
		case err != nil:
			t.Fatalf("ValidateUpdate refused a valid update: %v", err)
		default:
			if titleSet != (u.Title != nil) || (titleSet && *u.Title != trimmed) {
				t.Fatalf("title: got %v, want %q (set %v)", u.Title, trimmed, titleSet)
			}
			if u.SetDescription != descSet || (descSet && (u.Description == nil) != descNull) {
				t.Fatalf("description: got set=%v %v, want set=%v null=%v", u.SetDescription, u.Description, descSet, descNull)
			}
			if hasVersion != (u.ExpectedVersion != nil) || (hasVersion && *u.ExpectedVersion != version) {
				t.Fatalf("expectedVersion: got %v, want %d", u.ExpectedVersion, version)
			}
		}
	})
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"1", "42", "0", "-1", "+1", "01", " 1", "1 ", "1e3", "0x10", "9223372036854775807", "9223372036854775808", "99999999999999999999", "", "١٢", "1\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := items.ParseID("id", s)
		if err != nil {
			badInput(t, err, "id")
			return
		}
		if id <= 0 {
			t.Fatalf("ParseID(%q) = %d, want a positive id", s, id)
		}
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				t.Fatalf("ParseID(%q) accepted a non-digit", s)
			}
		}
		// The public form parses back to the same id.
		back, err := items.ParseID("id", items.FormatID(id))
		if err != nil || back != id {
			t.Fatalf("FormatID(%d) = %q parses to %d, %v", id, items.FormatID(id), back, err)
		}
	})
}

var orders = []items.Order{
	{Field: items.OrderCreatedAt, Desc: true},
	{Field: items.OrderCreatedAt},
	{Field: items.OrderUpdatedAt, Desc: true},
	{Field: items.OrderUpdatedAt},
	{Field: items.OrderTitle, Desc: true},
	{Field: items.OrderTitle},
}

func FuzzDecodeCursor(f *testing.F) {
	t0 := time.Date(2026, 11, 25, 12, 30, 0, 123456000, time.UTC)
	for i, o := range orders {
		f.Add(items.Cursor{Order: o, ID: int64(i + 1), Time: t0, Title: "a:title:with:colons"}.Encode(), uint8(i))
	}
	f.Add("", uint8(0))
	f.Add("not a cursor", uint8(1))
	f.Add("Y2QxOjE3NjQwNzM4MDAwMDAwMDA", uint8(0))
	f.Add(strings.Repeat("A", 4096), uint8(2))
	f.Fuzz(func(t *testing.T, s string, oi uint8) {
		o := orders[int(oi)%len(orders)]
		c, err := items.DecodeCursor(s, o)
		if err != nil {
			badInput(t, err, "after")
			return
		}
		if c.ID <= 0 || c.Order != o {
			t.Fatalf("DecodeCursor(%q) = %+v, want a positive id in order %+v", s, c, o)
		}
		// Whatever decodes was issued by Encode, so it encodes back to
		// itself.
		if got := c.Encode(); got != s {
			t.Fatalf("DecodeCursor(%q) re-encodes to %q", s, got)
		}
	})
}

func FuzzCursorRoundTrip(f *testing.F) {
	f.Add(int64(1), int64(0), "", uint8(0))
	f.Add(int64(9223372036854775807), int64(-62135596800000000), "ünï:cødé\x00", uint8(4))
	f.Add(int64(42), int64(1764073800123456), "title", uint8(3))
	f.Fuzz(func(t *testing.T, id, micros int64, title string, oi uint8) {
		if id <= 0 {
			return // ids are positive; Encode is never given another
		}
		o := orders[int(oi)%len(orders)]
		in := items.Cursor{Order: o, ID: id}
		if o.Field == items.OrderTitle {
			in.Title = title
		} else {
			in.Time = time.UnixMicro(micros).UTC()
		}
		s := in.Encode()
		out, err := items.DecodeCursor(s, o)
		if len(s) > 2048 {
			// A cursor too long to accept can only come from a title far
			// over MaxTitleLen.
			if err == nil {
				t.Fatalf("a %d-byte cursor was accepted", len(s))
			}
			return
		}
		if err != nil {
			t.Fatalf("DecodeCursor(Encode(%+v)): %v", in, err)
		}
		if out.ID != in.ID || out.Title != in.Title || !out.Time.Equal(in.Time) || out.Order != in.Order {
			t.Fatalf("round trip: got %+v, want %+v", *out, in)
		}
		// Another order refuses it.
		other := orders[(int(oi)+1)%len(orders)]
		if _, err := items.DecodeCursor(s, other); err == nil {
			t.Fatalf("a cursor for %+v was accepted for %+v", o, other)
		}
	})
}
