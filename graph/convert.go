package graph

import (
	"encoding/json"
	"strconv"

	"itemsrv/external"
	"itemsrv/graph/model"
	"itemsrv/items"
)

func toPost(p *external.Post) model.Post {
	return model.Post{ID: strconv.FormatInt(p.ID, 10), UserID: p.UserID, Title: p.Title, Body: p.Body}
}

func toUser(u *external.User) *model.User {
	if u == nil {
		return nil
	}
	return &model.User{ID: strconv.FormatInt(u.ID, 10), Name: u.Name, Username: u.Username, Email: u.Email}
}

// storedPost is the typed view of an item's externalData.
func storedPost(raw json.RawMessage) (*model.Post, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var p struct {
		ID     json.Number `json:"id"`
		UserID int         `json:"userId"`
		Title  string      `json:"title"`
		Body   string      `json:"body"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	return &model.Post{ID: p.ID.String(), UserID: p.UserID, Title: p.Title, Body: p.Body}, nil
}

var orderFields = map[model.ItemOrderField]items.OrderField{
	model.ItemOrderFieldCreatedAt: items.OrderCreatedAt,
	model.ItemOrderFieldUpdatedAt: items.OrderUpdatedAt,
	model.ItemOrderFieldTitle:     items.OrderTitle,
}

// listParams validates the arguments of items.
func listParams(cursors *items.CursorCodec, owner string, first *int, after *string, filter *model.ItemFilter, orderBy *model.ItemOrder) (items.ListParams, error) {
	p := items.ListParams{Owner: owner, Order: items.Order{Field: items.OrderCreatedAt, Desc: true}}
	var err error
	if p.First, err = items.ValidateFirst(first); err != nil {
		return p, err
	}
	if orderBy != nil {
		p.Order = items.Order{Field: orderFields[orderBy.Field], Desc: orderBy.Direction == model.OrderDirectionDesc}
	}
	if filter != nil {
		if filter.Search != nil {
			if err := items.ValidateSearch(*filter.Search); err != nil {
				return p, err
			}
			p.Filter.Search = *filter.Search
		}
		p.Filter.Enriched = filter.Enriched
		p.Filter.CreatedAfter = filter.CreatedAfter
		p.Filter.CreatedBefore = filter.CreatedBefore
	}
	if after != nil {
		if p.After, err = cursors.Decode(*after, p.Order); err != nil {
			return p, err
		}
	}
	return p, nil
}
