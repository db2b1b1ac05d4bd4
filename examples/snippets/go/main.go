// A net/http app behind the Authara gateway. Run: PORT=8000 go run .
package main

import (
	"encoding/json"
	"html/template"
	"net/http"
	"os"
	"strings"
	"time"
)

var page = template.Must(template.New("me").Parse(`<p>User {{.ID}} &lt;{{.Email}}&gt;,
roles {{.Roles}}, organization {{or .Org "none"}} ({{or .OrgRole "none"}})</p>
<form method="post" action="/auth/sessions/logout"><button>Log out</button>
<input type="hidden" name="csrf_token" value="{{.CSRF}}"></form>`))

func me(w http.ResponseWriter, r *http.Request) {
	// The gateway verified the session and sent X-Authara-* headers; none means anonymous.
	id := r.Header.Get("X-Authara-User-Id")
	if id == "" {
		http.Redirect(w, r, "/auth/login?return_to=/me", http.StatusSeeOther)
		return
	}
	// Email and profile come from core, asked with the browser's own cookies.
	user := struct{ Email string }{Email: "?"}
	req, _ := http.NewRequestWithContext(r.Context(), "GET", autharaURL+"/auth/api/v1/user", nil)
	req.Header.Set("Cookie", r.Header.Get("Cookie"))
	if resp, err := client.Do(req); err == nil {
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			json.NewDecoder(resp.Body).Decode(&user)
		}
	}
	csrf := ""
	if c, err := r.Cookie("authara_csrf"); err == nil {
		csrf = c.Value // logout wants it back as csrf_token
	}
	roles := strings.FieldsFunc(r.Header.Get("X-Authara-Roles"), func(c rune) bool { return c == ',' })
	page.Execute(w, map[string]any{
		"ID": id, "Email": user.Email, "CSRF": csrf, "Roles": roles,
		"Org":     r.Header.Get("X-Authara-Organization-Id"),
		"OrgRole": r.Header.Get("X-Authara-Organization-Role"),
	})
}

var autharaURL = getenv("AUTHARA_URL", "http://127.0.0.1:3000") // the gateway
var client = &http.Client{Timeout: 5 * time.Second}

func getenv(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func main() {
	http.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`Public page. <a href="/me">Who am I?</a>`))
	})
	http.HandleFunc("GET /me", me)
	panic(http.ListenAndServe("127.0.0.1:"+getenv("PORT", "8000"), nil))
}
