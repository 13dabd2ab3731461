package tracing

import "testing"

func TestRawStatementNames(t *testing.T) {
	for q, want := range map[string][2]string{
		"SELECT id, owner FROM items WHERE id = $1 AND owner = $2":                             {"SELECT", "items"},
		"SELECT count(*) FROM items WHERE owner = ?":                                           {"SELECT", "items"},
		"WITH w AS (INSERT INTO items (owner, title) VALUES ($1, $2) RETURNING id) SELECT 1":   {"INSERT", "items"},
		"WITH w AS (UPDATE items SET version = version + 1 WHERE id = $1 RETURNING id) SELECT": {"UPDATE", "items"},
		"WITH w AS (DELETE FROM items WHERE id = $1 RETURNING id) SELECT id FROM w":            {"DELETE", "items"},
		"DELETE FROM items WHERE id = ? RETURNING id":                                          {"DELETE", "items"},
		"  select 1": {"SELECT", ""},
		"":           {"", ""},
	} {
		op, table := rawStatement(q)
		if op != want[0] || table != want[1] {
			t.Errorf("rawStatement(%q) = %q, %q; want %q, %q", q, op, table, want[0], want[1])
		}
	}
}
