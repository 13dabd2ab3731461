package items

import (
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the public contract.
const (
	MaxTitleLen       = 200
	MaxDescriptionLen = 5000
	MaxSearchLen      = 200
	MaxFirst          = 100
	DefaultFirst      = 20
	MaxLimit          = 100
)

// ParseID parses a public id ("42") for the input field named field. It
// accepts only a positive decimal integer.
func ParseID(field, s string) (int64, error) {
	if s == "" || len(s) > 19 {
		return 0, InvalidInput(field, "%s must be a positive integer", field)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, InvalidInput(field, "%s must be a positive integer", field)
		}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, InvalidInput(field, "%s must be a positive integer", field)
	}
	return id, nil
}

// FormatID is the public form of an id.
func FormatID(id int64) string { return strconv.FormatInt(id, 10) }

// checkText refuses invalid UTF-8 and control characters other than tab and
// newline.
func checkText(field, s string) error {
	if !utf8.ValidString(s) {
		return InvalidInput(field, "%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if r != '\t' && r != '\n' && unicode.IsControl(r) {
			return InvalidInput(field, "%s must not contain control characters (U+%04X)", field, r)
		}
	}
	return nil
}

// ValidateTitle trims a title and checks its length and characters.
func ValidateTitle(title string) (string, error) {
	if err := checkText("title", title); err != nil {
		return "", err
	}
	t := strings.TrimSpace(title)
	n := utf8.RuneCountInString(t)
	if n == 0 {
		return "", InvalidInput("title", "title must not be empty")
	}
	if n > MaxTitleLen {
		return "", InvalidInput("title", "title must be at most %d characters, got %d", MaxTitleLen, n)
	}
	return t, nil
}

// ValidateDescription checks a description's length and characters.
func ValidateDescription(d string) error {
	if err := checkText("description", d); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(d); n > MaxDescriptionLen {
		return InvalidInput("description", "description must be at most %d characters, got %d", MaxDescriptionLen, n)
	}
	return nil
}

// ValidateNew checks a createItem input and returns it normalized.
func ValidateNew(title string, description *string) (NewItem, error) {
	t, err := ValidateTitle(title)
	if err != nil {
		return NewItem{}, err
	}
	if description != nil {
		if err := ValidateDescription(*description); err != nil {
			return NewItem{}, err
		}
	}
	return NewItem{Title: t, Description: description}, nil
}

// ValidateUpdate checks an updateItem input. titleSet and descriptionSet say
// whether the fields were given at all; a given title must not be null.
func ValidateUpdate(titleSet bool, title *string, descriptionSet bool, description *string, expectedVersion *int) (Update, error) {
	var u Update
	if titleSet {
		if title == nil {
			return Update{}, InvalidInput("title", "title cannot be null; omit it to keep the current title")
		}
		t, err := ValidateTitle(*title)
		if err != nil {
			return Update{}, err
		}
		u.Title = &t
	}
	if descriptionSet {
		if description != nil {
			if err := ValidateDescription(*description); err != nil {
				return Update{}, err
			}
		}
		u.SetDescription = true
		u.Description = description
	}
	u.ExpectedVersion = expectedVersion
	return u, nil
}

// ValidateFirst checks the page size of items.
func ValidateFirst(first *int) (int, error) {
	if first == nil {
		return DefaultFirst, nil
	}
	if *first < 0 || *first > MaxFirst {
		return 0, InvalidInput("first", "first must be between 0 and %d, got %d", MaxFirst, *first)
	}
	return *first, nil
}

// ValidateLimitOffset checks externalPosts' paging arguments.
func ValidateLimitOffset(limit, offset int) error {
	if limit < 1 || limit > MaxLimit {
		return InvalidInput("limit", "limit must be between 1 and %d, got %d", MaxLimit, limit)
	}
	if offset < 0 || offset > math.MaxInt32 {
		return InvalidInput("offset", "offset must be between 0 and %d, got %d", math.MaxInt32, offset)
	}
	return nil
}

// ValidateUserID checks externalPosts' userId: GraphQL's Int is 32 bits.
func ValidateUserID(userID *int) error {
	if userID != nil && (*userID < math.MinInt32 || *userID > math.MaxInt32) {
		return InvalidInput("userId", "userId must be a 32-bit integer, got %d", *userID)
	}
	return nil
}

// ValidateSearch checks a search string.
func ValidateSearch(s string) error {
	if err := checkText("search", s); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(s); n > MaxSearchLen {
		return InvalidInput("search", "search must be at most %d characters, got %d", MaxSearchLen, n)
	}
	return nil
}
