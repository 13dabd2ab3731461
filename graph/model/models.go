// Package model holds the GraphQL-only types: generated inputs and enums
// (models_gen.go) and the hand-written types below.
package model

import "itemsrv/items"

// ItemConnection is a page of items. Its edges, nodes and pageInfo are
// methods, which gqlgen calls in line (a resolver would cost a goroutine and
// an interceptor chain each), and cursors are encoded only for the fields
// asked for; totalCount is a resolver, counted only when a client asks for
// it.
type ItemConnection struct {
	Page    *items.Page
	Params  items.ListParams
	Cursors *items.CursorCodec
}

// Edges are the items of the page with their cursors.
func (c *ItemConnection) Edges() []ItemEdge {
	edges := make([]ItemEdge, len(c.Page.Items))
	for i := range c.Page.Items {
		it := &c.Page.Items[i]
		edges[i] = ItemEdge{Cursor: c.Cursors.Encode(items.CursorOf(it, c.Params.Order)), Node: it}
	}
	return edges
}

// Nodes are the items of the page.
func (c *ItemConnection) Nodes() []items.Item { return c.Page.Items }

// PageInfo says where the page lies.
func (c *ItemConnection) PageInfo() *PageInfo {
	pi := &PageInfo{HasNextPage: c.Page.HasNextPage, HasPreviousPage: c.Page.HasPreviousPage}
	if n := len(c.Page.Items); n > 0 {
		start := c.Cursors.Encode(items.CursorOf(&c.Page.Items[0], c.Params.Order))
		end := c.Cursors.Encode(items.CursorOf(&c.Page.Items[n-1], c.Params.Order))
		pi.StartCursor, pi.EndCursor = &start, &end
	}
	return pi
}

// ItemEdge is an item and its cursor.
type ItemEdge struct {
	Cursor string
	Node   *items.Item
}

// Post is an upstream post. Author is filled in by the resolver that returns
// the post, in one batch for a whole list, when the query selects it.
type Post struct {
	ID     string
	UserID int
	Title  string
	Body   string
	Author *User
}

// User is an upstream user.
type User struct {
	ID       string
	Name     string
	Username string
	Email    string
}

// ItemEvent is a committed change of an item.
type ItemEvent struct {
	Type  ItemEventType
	ID    string
	Event items.Event
}
