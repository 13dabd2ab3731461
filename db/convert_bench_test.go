package db

import (
	"testing"
	"time"
)

// BenchmarkToItem is the row → domain conversion every read does per item;
// the rest of row → GraphQL is gqlgen's, measured by the handler
// benchmarks in graph/.
func BenchmarkToItem(b *testing.B) {
	desc := "a description of moderate length"
	data := `{"userId":1,"id":1,"title":"t","body":"b"}`
	now := time.Now()
	rows := map[string]itemRow{
		"plain":    {ID: 1, Title: "Item 1", Description: &desc, Version: 1, CreatedAt: now, UpdatedAt: now},
		"enriched": {ID: 1, Title: "Item 1", Description: &desc, ExternalData: &data, EnrichedAt: &now, Version: 2, CreatedAt: now, UpdatedAt: now},
	}
	for name, r := range rows {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if it := toItem(&r); it.ID != 1 {
					b.Fatal(it.ID)
				}
			}
		})
	}
}
