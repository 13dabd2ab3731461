package external

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"itemsrv/items"
)

// Post is an upstream post.
type Post struct {
	ID     int64
	UserID int
	Title  string
	Body   string
}

// User is an upstream user, the fields the API shows.
type User struct {
	ID       int64
	Name     string
	Username string
	Email    string
}

// Posts returns a page of posts, GET /posts?_start=offset&_limit=limit and
// &userId= when userID is not nil. Pages are cached.
func (c *Client) Posts(ctx context.Context, limit, offset int, userID *int) ([]Post, error) {
	if limit < 1 {
		return nil, items.InvalidInput("limit", "limit must be at least 1")
	}
	if offset < 0 {
		return nil, items.InvalidInput("offset", "offset must not be negative")
	}
	q := url.Values{"_start": {strconv.Itoa(offset)}, "_limit": {strconv.Itoa(limit)}}
	key := fmt.Sprintf("posts:%d:%d:", offset, limit)
	what := fmt.Sprintf("list posts from %d limit %d", offset, limit)
	if userID != nil {
		q.Set("userId", strconv.Itoa(*userID))
		key += strconv.Itoa(*userID)
		what += fmt.Sprintf(" of user %d", *userID)
	}
	v, err := c.cached(ctx, "posts", key, what, func(ctx context.Context) (any, error) {
		var posts []Post
		_, err := c.do(ctx, "posts", what, "/posts", q, func(b []byte) (err error) {
			posts, err = decodePosts(b)
			return err
		})
		if err != nil {
			return nil, err
		}
		return posts, nil
	})
	if err != nil {
		return nil, err
	}
	return slices.Clone(v.([]Post)), nil
}

// Post returns post id, GET /posts/{id}, or (nil, nil) when the upstream has
// no such post. Posts are cached; missing posts are not.
func (c *Client) Post(ctx context.Context, id int64) (*Post, error) {
	v, err := c.cached(ctx, "post", postKey(id), fmt.Sprintf("fetch post %d", id), func(ctx context.Context) (any, error) {
		_, p, err := c.fetchPost(ctx, "post", id)
		if err != nil {
			return nil, err
		}
		if p == nil {
			return nil, nil
		}
		return *p, nil
	})
	if err != nil || v == nil {
		return nil, err
	}
	p := v.(Post)
	return &p, nil
}

// FetchPost fetches post id afresh, GET /posts/{id}, bypassing the cache
// (and refreshing it). raw is the body exactly as the upstream sent it. An
// upstream 404 is NOT_FOUND with extensions.source "external".
func (c *Client) FetchPost(ctx context.Context, id int64) (raw json.RawMessage, p *Post, err error) {
	raw, p, err = c.fetchPost(ctx, "fetch_post", id)
	if err != nil {
		return nil, nil, err
	}
	if p == nil {
		return nil, nil, &items.Error{
			Code:       items.CodeNotFound,
			Message:    fmt.Sprintf("post %d not found upstream", id),
			Extensions: map[string]any{"source": "external"},
		}
	}
	if c.cache != nil {
		c.cache.Add(postKey(id), *p)
	}
	return raw, p, nil
}

// fetchPost is the upstream call for post id; p is nil on a 404.
func (c *Client) fetchPost(ctx context.Context, op string, id int64) (json.RawMessage, *Post, error) {
	var p Post
	out, err := c.do(ctx, op, fmt.Sprintf("fetch post %d", id), "/posts/"+strconv.FormatInt(id, 10), nil,
		func(b []byte) (err error) {
			p, err = decodePost(b)
			if err == nil && p.ID != id {
				err = fmt.Errorf("asked for post %d, got post %d", id, p.ID)
			}
			return err
		})
	if err != nil || out.notFound {
		return nil, nil, err
	}
	return json.RawMessage(out.body), &p, nil
}

// Users returns the users with the given ids, keyed by id; ids the upstream
// does not know are absent. The ids not in the cache are fetched in one
// call, GET /users?id=1&id=2…; users are cached one by one.
func (c *Client) Users(ctx context.Context, ids []int64) (map[int64]*User, error) {
	found := make(map[int64]*User, len(ids))
	wanted := make(map[int64]bool, len(ids))
	var missing []int64
	for _, id := range ids {
		if _, seen := found[id]; seen || wanted[id] {
			continue
		}
		if u, ok := c.cacheGet(userKey(id)); ok {
			u := u.(User)
			found[id] = &u
			continue
		}
		wanted[id] = true
		missing = append(missing, id)
	}
	if len(missing) == 0 {
		if len(found) > 0 {
			c.observe("users", "cache_hit", 0, 0)
		}
		return found, nil
	}
	slices.Sort(missing)

	strs := make([]string, len(missing))
	for i, id := range missing {
		strs[i] = strconv.FormatInt(id, 10)
	}
	key := "users:" + strings.Join(strs, ",")
	what := "fetch users " + strings.Join(strs, ",")
	v, err := c.flights.do(ctx, key, what, func(ctx context.Context) (any, error) {
		var users []User
		_, err := c.do(ctx, "users", what, "/users", url.Values{"id": strs}, func(b []byte) (err error) {
			users, err = decodeUsers(b)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			c.cacheAdd(userKey(u.ID), u)
		}
		return users, nil
	})
	if err != nil {
		return nil, err
	}
	for _, u := range v.([]User) {
		if wanted[u.ID] {
			found[u.ID] = &u
		}
	}
	return found, nil
}

func postKey(id int64) string { return "post:" + strconv.FormatInt(id, 10) }
func userKey(id int64) string { return "user:" + strconv.FormatInt(id, 10) }

// cached returns the value for key from the cache, or else from fetch,
// shared among concurrent callers, caching what it returns unless that is
// nil. Errors are not cached.
func (c *Client) cached(ctx context.Context, op, key, what string, fetch func(context.Context) (any, error)) (any, error) {
	if v, ok := c.cacheGet(key); ok {
		c.observe(op, "cache_hit", 0, 0)
		return v, nil
	}
	v, err := c.flights.do(ctx, key, what, func(ctx context.Context) (any, error) {
		v, err := fetch(ctx)
		if err == nil && v != nil {
			c.cacheAdd(key, v)
		}
		return v, err
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

func (c *Client) cacheGet(key string) (any, bool) {
	if c.cache == nil {
		return nil, false
	}
	return c.cache.Get(key)
}

func (c *Client) cacheAdd(key string, v any) {
	if c.cache != nil {
		c.cache.Add(key, v)
	}
}

func (c *Client) observe(op, outcome string, attempts int, d time.Duration) {
	if c.cfg.OnCall != nil {
		c.cfg.OnCall(op, outcome, attempts, d)
	}
}

// wirePost is a post as sent; pointers tell a missing field from a zero one.
type wirePost struct {
	UserID *int    `json:"userId"`
	ID     *int64  `json:"id"`
	Title  *string `json:"title"`
	Body   *string `json:"body"`
}

func (w wirePost) post() (Post, error) {
	switch {
	case w.ID == nil || *w.ID < 1:
		return Post{}, errors.New("post without a positive id")
	case w.UserID == nil:
		return Post{}, fmt.Errorf("post %d without userId", *w.ID)
	case w.Title == nil || w.Body == nil:
		return Post{}, fmt.Errorf("post %d without title or body", *w.ID)
	}
	return Post{ID: *w.ID, UserID: *w.UserID, Title: *w.Title, Body: *w.Body}, nil
}

type wireUser struct {
	ID       *int64  `json:"id"`
	Name     *string `json:"name"`
	Username *string `json:"username"`
	Email    *string `json:"email"`
}

func (w wireUser) user() (User, error) {
	switch {
	case w.ID == nil || *w.ID < 1:
		return User{}, errors.New("user without a positive id")
	case w.Name == nil || w.Username == nil || w.Email == nil:
		return User{}, fmt.Errorf("user %d without name, username or email", *w.ID)
	}
	return User{ID: *w.ID, Name: *w.Name, Username: *w.Username, Email: *w.Email}, nil
}

func decodePost(b []byte) (Post, error) {
	var w wirePost
	if err := decodeJSON(b, &w); err != nil {
		return Post{}, err
	}
	return w.post()
}

func decodePosts(b []byte) ([]Post, error) {
	var ws []wirePost
	if err := decodeJSON(b, &ws); err != nil {
		return nil, err
	}
	if ws == nil {
		return nil, errors.New("null instead of a list of posts")
	}
	posts := make([]Post, len(ws))
	for i, w := range ws {
		p, err := w.post()
		if err != nil {
			return nil, err
		}
		posts[i] = p
	}
	return posts, nil
}

func decodeUsers(b []byte) ([]User, error) {
	var ws []wireUser
	if err := decodeJSON(b, &ws); err != nil {
		return nil, err
	}
	if ws == nil {
		return nil, errors.New("null instead of a list of users")
	}
	users := make([]User, len(ws))
	for i, w := range ws {
		u, err := w.user()
		if err != nil {
			return nil, err
		}
		users[i] = u
	}
	return users, nil
}

// decodeJSON decodes exactly one JSON value from b into v.
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
