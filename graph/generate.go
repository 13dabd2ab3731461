// Package graph holds the GraphQL resolvers, the error presenter and the
// HTTP handler of the API.
package graph

// Lists of posts, items and item edges are marshalled without a goroutine
// per element (see internal/seqlists). Post has no resolver below it.
// Item's one resolver, externalPost, reads its author through the request's
// users loader, and the items resolver queues the authors of the whole page
// before the page is marshalled (queueItemAuthors), so items marshalled one
// after another wait on that one batch: Item is trusted.
//go:generate go tool gqlgen generate
//go:generate go run ../internal/seqlists -file generated/generated.go -trust Item Post Item ItemEdge
