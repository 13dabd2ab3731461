package jsonplaceholder

import "strings"

// Post is a post as JSONPlaceholder serves it, fields in the same order.
type Post struct {
	UserID int    `json:"userId"`
	ID     int    `json:"id"`
	Title  string `json:"title"`
	Body   string `json:"body"`
}

// User is a user as JSONPlaceholder serves it, fields in the same order.
type User struct {
	ID       int     `json:"id"`
	Name     string  `json:"name"`
	Username string  `json:"username"`
	Email    string  `json:"email"`
	Address  Address `json:"address"`
	Phone    string  `json:"phone"`
	Website  string  `json:"website"`
	Company  Company `json:"company"`
}

// Address is a user's postal address.
type Address struct {
	Street  string `json:"street"`
	Suite   string `json:"suite"`
	City    string `json:"city"`
	Zipcode string `json:"zipcode"`
	Geo     Geo    `json:"geo"`
}

// Geo is a position; JSONPlaceholder sends the numbers as strings.
type Geo struct {
	Lat string `json:"lat"`
	Lng string `json:"lng"`
}

// Company is a user's employer.
type Company struct {
	Name        string `json:"name"`
	CatchPhrase string `json:"catchPhrase"`
	BS          string `json:"bs"`
}

// The sizes of the data set, as on the real service.
const (
	NumPosts     = 100
	NumUsers     = 10
	postsPerUser = NumPosts / NumUsers
)

var (
	posts = makePosts()
	users = []User{
		{1, "Leanne Graham", "Bret", "Sincere@april.biz",
			Address{"Kulas Light", "Apt. 556", "Gwenborough", "92998-3874", Geo{"-37.3159", "81.1496"}},
			"1-770-736-8031 x56442", "hildegard.org",
			Company{"Romaguera-Crona", "Multi-layered client-server neural-net", "harness real-time e-markets"}},
		{2, "Ervin Howell", "Antonette", "Shanna@melissa.tv",
			Address{"Victor Plains", "Suite 879", "Wisokyburgh", "90566-7771", Geo{"-43.9509", "-34.4618"}},
			"010-692-6593 x09125", "anastasia.net",
			Company{"Deckow-Crist", "Proactive didactic contingency", "synergize scalable supply-chains"}},
		{3, "Clementine Bauch", "Samantha", "Nathan@yesenia.net",
			Address{"Douglas Extension", "Suite 847", "McKenziehaven", "59590-4157", Geo{"-68.6102", "-47.0653"}},
			"1-463-123-4447", "ramiro.info",
			Company{"Romaguera-Jacobson", "Face to face bifurcated interface", "e-enable strategic applications"}},
		{4, "Patricia Lebsack", "Karianne", "Julianne.OConner@kory.org",
			Address{"Hoeger Mall", "Apt. 692", "South Elvis", "53919-4257", Geo{"29.4572", "-164.2990"}},
			"493-170-9623 x156", "kale.biz",
			Company{"Robel-Corkery", "Multi-tiered zero tolerance productivity", "transition cutting-edge web services"}},
		{5, "Chelsey Dietrich", "Kamren", "Lucio_Hettinger@annie.ca",
			Address{"Skiles Walks", "Suite 351", "Roscoeview", "33263", Geo{"-31.8129", "62.5342"}},
			"(254)954-1289", "demarco.info",
			Company{"Keebler LLC", "User-centric fault-tolerant solution", "revolutionize end-to-end systems"}},
		{6, "Mrs. Dennis Schulist", "Leopoldo_Corkery", "Karley_Dach@jasper.info",
			Address{"Norberto Crossing", "Apt. 950", "South Christy", "23505-1337", Geo{"-71.4197", "71.7478"}},
			"1-477-935-8478 x6430", "ola.org",
			Company{"Considine-Lockman", "Synchronised bottom-line interface", "e-enable innovative applications"}},
		{7, "Kurtis Weissnat", "Elwyn.Skiles", "Telly.Hoeger@billy.biz",
			Address{"Rex Trail", "Suite 280", "Howemouth", "58804-1099", Geo{"24.8918", "21.8984"}},
			"210.067.6132", "elvis.io",
			Company{"Johns Group", "Configurable multimedia task-force", "generate enterprise e-tailers"}},
		{8, "Nicholas Runolfsdottir V", "Maxime_Nienow", "Sherwood@rosamond.me",
			Address{"Ellsworth Summit", "Suite 729", "Aliyaview", "45169", Geo{"-14.3990", "-120.7677"}},
			"586.493.6943 x140", "jacynthe.com",
			Company{"Abernathy Group", "Implemented secondary concept", "e-enable extensible e-tailers"}},
		{9, "Glenna Reichert", "Delphine", "Chaim_McDermott@dana.io",
			Address{"Dayna Park", "Suite 449", "Bartholomebury", "76495-3109", Geo{"24.6463", "-168.8889"}},
			"(775)976-6794 x41206", "conrad.com",
			Company{"Yost and Sons", "Switchable contextually-based project", "aggregate real-time technologies"}},
		{10, "Clementina DuBuque", "Moriah.Stanton", "Rey.Padberg@karina.biz",
			Address{"Kattie Turnpike", "Suite 198", "Lebsackbury", "31428-2261", Geo{"-38.2386", "57.2232"}},
			"024-648-3804", "ambrose.net",
			Company{"Hoeger LLC", "Centralized empowering task-force", "target end-to-end models"}},
	}
)

// Posts returns a copy of the data set's 100 posts, ordered by id: user 1
// wrote posts 1–10, user 2 posts 11–20, and so on, as on the real service.
// The text is generated, deterministic lorem ipsum, not the real text.
func Posts() []Post { return append([]Post(nil), posts...) }

// Users returns a copy of the data set's 10 users, ordered by id.
func Users() []User { return append([]User(nil), users...) }

var words = strings.Fields(`lorem ipsum dolor sit amet consectetur adipisci
	velit sed quia non numquam eius modi tempora incidunt ut labore et dolore
	magnam aliquam quaerat voluptatem enim ad minima veniam quis nostrum
	exercitationem ullam corporis suscipit laboriosam nisi aliquid ex ea
	commodi consequatur autem vel eum iure reprehenderit qui in voluptate esse
	quam nihil molestiae illum fugiat quo voluptas nulla pariatur at vero
	accusamus iusto odio dignissimos ducimus blanditiis praesentium deleniti
	atque corrupti quos dolores quas molestias excepturi sint occaecati
	cupiditate provident similique sunt culpa officia deserunt mollitia animi
	id est laborum dolorum fuga harum rerum facilis expedita distinctio nam
	libero tempore cum soluta nobis eligendi optio cumque impedit minus quod
	maxime placeat facere possimus omnis assumenda repellendus`)

// makePosts generates the posts from a fixed-seed generator, so that every
// process serves the very same bytes.
func makePosts() []Post {
	state := uint64(0x9e3779b97f4a7c15)
	next := func(n int) int {
		// xorshift64*: small, fast and the same on every platform.
		state ^= state >> 12
		state ^= state << 25
		state ^= state >> 27
		return int((state * 0x2545f4914f6cdd1d >> 33) % uint64(n))
	}
	sentence := func(minWords, maxWords int) string {
		n := minWords + next(maxWords-minWords+1)
		ws := make([]string, n)
		for i := range ws {
			ws[i] = words[next(len(words))]
		}
		return strings.Join(ws, " ")
	}
	out := make([]Post, NumPosts)
	for i := range out {
		lines := make([]string, 4)
		for j := range lines {
			lines[j] = sentence(6, 9)
		}
		out[i] = Post{
			UserID: i/postsPerUser + 1,
			ID:     i + 1,
			Title:  sentence(3, 9),
			Body:   strings.Join(lines, "\n"),
		}
	}
	return out
}
