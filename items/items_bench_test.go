package items_test

import (
	"strings"
	"testing"
	"time"

	"itemsrv/items"
)

// Micro-benchmarks of the domain's hot paths: every edge of an items page
// encodes a cursor, every paged request decodes one, every mutation
// validates its input. Run with: go test -run '^$' -bench . -benchmem ./items/

func BenchmarkCursorEncode(b *testing.B) {
	it := &items.Item{ID: 12345, Title: "Item 12345 quartz", CreatedAt: time.Date(2026, 11, 25, 12, 0, 0, 123456000, time.UTC)}
	for _, o := range []items.Order{
		{Field: items.OrderCreatedAt, Desc: true},
		{Field: items.OrderTitle},
	} {
		b.Run(string(o.Field), func(b *testing.B) {
			for b.Loop() {
				_ = items.CursorOf(it, o).Encode()
			}
		})
	}
}

func BenchmarkCursorDecode(b *testing.B) {
	o := items.Order{Field: items.OrderCreatedAt, Desc: true}
	it := &items.Item{ID: 12345, CreatedAt: time.Date(2026, 11, 25, 12, 0, 0, 123456000, time.UTC)}
	s := items.CursorOf(it, o).Encode()
	for b.Loop() {
		c, err := items.DecodeCursor(s, o)
		if err != nil || c.ID != it.ID {
			b.Fatalf("DecodeCursor = %v, %v", c, err)
		}
	}
}

func BenchmarkValidateNew(b *testing.B) {
	short := "made by the load benchmark"
	long := strings.Repeat("A description of moderate length. ", 200)[:items.MaxDescriptionLen]
	tests := []struct {
		name        string
		title       string
		description *string
	}{
		{"short", "  bench item  ", &short},
		{"max-description", "bench item", &long},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := items.ValidateNew(tt.title, tt.description); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkValidateNewInvalid(b *testing.B) {
	for b.Loop() {
		if _, err := items.ValidateNew("bad\x00title", nil); items.ErrorCode(err) != items.CodeBadUserInput {
			b.Fatalf("err = %v, want BAD_USER_INPUT", err)
		}
	}
}

func BenchmarkParseID(b *testing.B) {
	for b.Loop() {
		if id, err := items.ParseID("id", "1234567"); err != nil || id != 1234567 {
			b.Fatalf("ParseID = %d, %v", id, err)
		}
	}
}
