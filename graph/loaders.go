package graph

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vikstrous/dataloadgen"

	"itemsrv/external"
	"itemsrv/graph/model"
	"itemsrv/items"
)

// Loaders batch the lookups of one request. They are made on first use, so
// that a request that loads nothing pays nothing.
type Loaders struct {
	up    *external.Client
	once  sync.Once
	users *dataloadgen.Loader[int64, *model.User]
}

type loadersKey struct{}

// NewLoaders returns fresh loaders for one request.
func NewLoaders(up *external.Client) *Loaders { return &Loaders{up: up} }

// Users batches Post.author: the authors of a whole list of posts cost one
// upstream call.
func (l *Loaders) Users() *dataloadgen.Loader[int64, *model.User] {
	l.once.Do(func() {
		l.users = dataloadgen.NewLoader(func(ctx context.Context, ids []int64) ([]*model.User, []error) {
			found, err := l.up.Users(ctx, ids)
			if err != nil {
				return nil, []error{err}
			}
			out := make([]*model.User, len(ids))
			for i, id := range ids {
				out[i] = toUser(found[id])
			}
			return out, nil
		}, dataloadgen.WithWait(time.Millisecond), dataloadgen.WithBatchCapacity(100))
	})
	return l.users
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

// selectsPath tells whether sel selects the fields of path, level by level;
// types are the type names at each level, for fragments' type conditions.
func selectsPath(oc *graphql.OperationContext, sel ast.SelectionSet, path, types []string) bool {
	for _, f := range graphql.CollectFields(oc, sel, types[:1]) {
		if f.Name != path[0] {
			continue
		}
		if len(path) == 1 || selectsPath(oc, f.Selections, path[1:], types[1:]) {
			return true
		}
	}
	return false
}

// queueItemAuthors does for a page of items what queueAuthors does for a
// list of posts: when the query selects the authors of the items' stored
// posts, they all go into the request's users batch at once, so the whole
// page costs one upstream users call. path leads from the field being
// resolved to Post.author.
func queueItemAuthors(ctx context.Context, page []items.Item, path, types []string) {
	l, ok := ctx.Value(loadersKey{}).(*Loaders)
	fc := graphql.GetFieldContext(ctx)
	if !ok || fc == nil || !graphql.HasOperationContext(ctx) ||
		!selectsPath(graphql.GetOperationContext(ctx), fc.Field.Selections, path, types) {
		return
	}
	var ids []int64
	for i := range page {
		if page[i].ExternalData == nil {
			continue
		}
		if p, err := storedPost(page[i].ExternalData); err == nil && p != nil && !slices.Contains(ids, int64(p.UserID)) {
			ids = append(ids, int64(p.UserID))
		}
	}
	if len(ids) == 0 {
		return
	}
	l.Users().LoadAllThunk(ctx, ids)
}

// withAuthors fills in the authors of posts when the query selects
// Post.author: one batch through the request's users loader for the whole
// list (one upstream users call, or none when they are cached), instead of
// a resolver and a load per post. A failure leaves the authors null and is
// reported on each author field's own path, as a resolver's would be; list
// says whether posts are the elements of the field being resolved.
func (r *Resolver) withAuthors(ctx context.Context, posts []model.Post, list bool) {
	if len(posts) == 0 || !slices.Contains(graphql.CollectAllFields(ctx), "author") {
		return
	}
	ids := make([]int64, 0, 10)
	for i := range posts {
		if id := int64(posts[i].UserID); !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	users, err := r.loadersFrom(ctx).Users().LoadAll(ctx, ids)
	failed := make(map[int64]error)
	var errs dataloadgen.ErrorSlice
	switch {
	case errors.As(err, &errs):
		for i, e := range errs {
			if e != nil && i < len(ids) {
				failed[ids[i]] = e
			}
		}
	case err != nil:
		for _, id := range ids {
			failed[id] = err
		}
	}
	byID := make(map[int64]*model.User, len(ids))
	for i, id := range ids {
		if i < len(users) {
			byID[id] = users[i]
		}
	}
	base := graphql.GetPath(ctx)
	for i := range posts {
		id := int64(posts[i].UserID)
		if e, ok := failed[id]; ok {
			path := append(ast.Path{}, base...)
			if list {
				path = append(path, ast.PathIndex(i))
			}
			path = append(path, ast.PathName("author"))
			graphql.AddError(ctx, &gqlerror.Error{Err: e, Message: e.Error(), Path: path})
			continue
		}
		posts[i].Author = byID[id]
	}
}
