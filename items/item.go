package items

import (
	"encoding/json"
	"time"
)

// Item is a task in the store.
type Item struct {
	ID          int64
	Owner       string
	Title       string
	Description *string
	// ExternalData is the upstream post exactly as fetched; nil until enriched.
	ExternalData json.RawMessage
	EnrichedAt   *time.Time
	Version      int
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// NewItem is a validated createItem input.
type NewItem struct {
	Title       string
	Description *string
}

// Update is a validated updateItem input. A nil Title leaves the title as it
// is; SetDescription with a nil Description clears it.
type Update struct {
	Title           *string
	SetDescription  bool
	Description     *string
	ExpectedVersion *int
}

// Enrichment is what enrichItem stores beside an item.
type Enrichment struct {
	Data       json.RawMessage
	EnrichedAt time.Time
}

// EventType is the kind of change an Event reports.
type EventType string

// The event types of itemEvents.
const (
	EventCreated  EventType = "CREATED"
	EventUpdated  EventType = "UPDATED"
	EventDeleted  EventType = "DELETED"
	EventEnriched EventType = "ENRICHED"
)

// Event is a committed change of one item.
type Event struct {
	Type    EventType `json:"t"`
	ID      int64     `json:"id"`
	Owner   string    `json:"o,omitempty"`
	Version int       `json:"v,omitempty"`
	// Item is the item as the change committed it, when known; nil for a
	// deletion and when it did not travel with the event.
	Item *Item `json:"-"`
}

// Now returns the current time in UTC at the microsecond precision that both
// databases keep, so that what a mutation returns equals what is stored.
func Now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}
