// Package graph holds the GraphQL resolvers, the error presenter and the
// HTTP handler of the API.
package graph

// Lists of Post, whose fields (author included) are all plain, are
// marshalled without a goroutine per element; see internal/seqlists.
//go:generate go tool gqlgen generate
//go:generate go run ../internal/seqlists -file generated/generated.go Post
