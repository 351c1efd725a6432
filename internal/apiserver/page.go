package apiserver

import (
	"bytes"
	_ "embed"
	"html/template"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/slipway-deploy/slipway/internal/api"
)

// PathDeploymentPage is where a deployment's read-only HTML page lives: the log_url GitHub links
// to. It needs no token: deployment ids carry 100 random bits and are only ever shown to those
// who may see the deployment (see docs/github.md for what that means for public repositories).
const PathDeploymentPage = "/deployments/"

// pageRefresh is how often a browser reloads the page of a deployment still running.
const pageRefresh = 5 * time.Second

//go:embed page.html.tmpl
var pageSource string

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
	"when": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"took": func(a, b *time.Time) string {
		if a == nil || b == nil {
			return ""
		}
		return b.Sub(*a).Round(100 * time.Millisecond).String()
	},
}).Parse(pageSource))

// pageData is what the template shows.
type pageData struct {
	D        api.Deployment
	Events   []string
	Rows     []pageRow
	Failures []pageFailure
	Refresh  int
}

type pageRow struct {
	Host   api.DeploymentInstance
	Events []*api.LifecycleEvent
}

type pageFailure struct {
	Host  string
	Event api.LifecycleEvent
}

func (s *Server) handleDeploymentPage(w http.ResponseWriter, r *http.Request) {
	d, err := s.GetDeployment(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, newPageData(d)); err != nil {
		s.log.Error("render deployment page", "deployment_id", d.ID, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// newPageData lays a deployment out as hosts × events, columns in lifecycle order as the hosts
// ran them.
func newPageData(d api.Deployment) pageData {
	p := pageData{D: d}
	seen := map[string]bool{}
	for _, in := range d.Instances {
		for _, e := range in.Events {
			if !seen[e.Name] {
				seen[e.Name] = true
				p.Events = append(p.Events, e.Name)
			}
		}
	}
	for _, in := range d.Instances {
		row := pageRow{Host: in, Events: make([]*api.LifecycleEvent, len(p.Events))}
		for _, e := range in.Events {
			for i, name := range p.Events {
				if name == e.Name {
					row.Events[i] = &e
				}
			}
			if e.Diagnostics != nil {
				p.Failures = append(p.Failures, pageFailure{Host: in.Instance, Event: e})
			}
		}
		p.Rows = append(p.Rows, row)
	}
	switch d.Status {
	case "Succeeded", "Failed", "Stopped":
	default:
		p.Refresh = int(pageRefresh.Seconds())
	}
	return p
}
