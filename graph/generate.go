// Package graph holds the GraphQL resolvers, the error presenter and the
// HTTP handler of the API.
package graph

//go:generate go tool gqlgen generate
