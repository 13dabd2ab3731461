package graph

import (
	"context"
	"net/http"
	"time"

	"github.com/vikstrous/dataloadgen"

	"itemsrv/external"
	"itemsrv/graph/model"
)

// Loaders batch the lookups of one request.
type Loaders struct {
	// Users batches Post.author: the authors of a whole list of posts cost
	// one upstream call.
	Users *dataloadgen.Loader[int64, *model.User]
}

type loadersKey struct{}

// NewLoaders returns fresh loaders for one request.
func NewLoaders(up *external.Client) *Loaders {
	return &Loaders{
		Users: dataloadgen.NewLoader(func(ctx context.Context, ids []int64) ([]*model.User, []error) {
			found, err := up.Users(ctx, ids)
			if err != nil {
				return nil, []error{err}
			}
			out := make([]*model.User, len(ids))
			for i, id := range ids {
				out[i] = toUser(found[id])
			}
			return out, nil
		}, dataloadgen.WithWait(time.Millisecond), dataloadgen.WithBatchCapacity(100)),
	}
}

// WithLoaders returns ctx carrying l.
func WithLoaders(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, loadersKey{}, l)
}

// loadersFrom returns the request's loaders; a context without any (a test
// calling a resolver directly) gets fresh ones.
func (r *Resolver) loadersFrom(ctx context.Context) *Loaders {
	if l, ok := ctx.Value(loadersKey{}).(*Loaders); ok {
		return l
	}
	return NewLoaders(r.Upstream)
}

// LoadersMiddleware gives every request its own loaders.
func (r *Resolver) LoadersMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		next.ServeHTTP(w, req.WithContext(WithLoaders(req.Context(), NewLoaders(r.Upstream))))
	})
}
