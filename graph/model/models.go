// Package model holds the GraphQL-only types: generated inputs and enums
// (models_gen.go) and the hand-written types below.
package model

import "itemsrv/items"

// ItemConnection is a page of items. Its fields are resolved from the page,
// and totalCount is counted only when a client asks for it.
type ItemConnection struct {
	Page   *items.Page
	Params items.ListParams
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
