package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/traffic"
	"github.com/slipway-deploy/slipway/internal/traffic/haproxytest"
)

// trafficLab is a server, a real HAProxy with health checks, and agents whose hooks run testweb
// on a loopback port each: the blue fleet serves behind HAProxy, the green fleet's servers start
// disabled.
type trafficLab struct {
	t     *testing.T
	s     *server
	proxy *haproxytest.HAProxy
	hosts []*webHost
}

type webHost struct {
	*agent
	fleet, port string
}

func newTrafficLab(t *testing.T, blue, green int) *trafficLab {
	t.Helper()
	l := &trafficLab{t: t}
	var servers []haproxytest.Server
	for _, f := range []struct {
		fleet string
		n     int
	}{{"blue", blue}, {"green", green}} {
		for i := 1; i <= f.n; i++ {
			h := &webHost{fleet: f.fleet, port: freePort(t)}
			h.agent = &agent{Name: fmt.Sprintf("%s-%d", f.fleet, i), Root: t.TempDir(), Prefix: t.TempDir()}
			l.hosts = append(l.hosts, h)
			servers = append(servers, haproxytest.Server{Name: h.Name, Addr: "127.0.0.1:" + h.port, Weight: 10, Disabled: f.fleet == "green"})
		}
	}
	l.proxy = haproxytest.New(t, haproxytest.Config{Backend: "app", Servers: servers, Check: true})
	l.s = startServer(t)
	for _, h := range l.hosts {
		h.Env = []string{
			"E2E_WEB_BIN=" + filepath.Join(bin, "testweb"), "E2E_WEB_PORT=" + h.port,
			"E2E_HAPROXY_SOCKET=" + l.proxy.Socket, "E2E_SERVER=" + h.Name,
		}
		h.start(t, l.s, "fleet="+h.fleet, "app=shop")
		prefix := h.Prefix
		// The web servers the hooks started outlive the agents, as daemons do.
		t.Cleanup(func() { stopWeb(prefix) })
	}
	waitInstances(t, l.s, len(l.hosts))
	mustCLI(t, l.s, "app", "create", "shop")
	return l
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func stopWeb(prefix string) {
	b, err := os.ReadFile(filepath.Join(prefix, "web.pid"))
	if err != nil {
		return
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// inPlaceV1 makes group web an in-place group of the blue fleet behind the router and deploys
// v1 to it, one host at a time.
func (l *trafficLab) inPlaceV1() string {
	l.t.Helper()
	mustCLI(l.t, l.s, "group", "create", "shop", "web", "--tag", "fleet=blue", "--config", "CodeDeployDefault.OneAtATime",
		"--router-address", l.proxy.Socket, "--router-backend", "app")
	id := deployID(l.t, mustCLI(l.t, l.s, "deploy", "--app", "shop", "--group", "web", "--bundle", webBundle(l.t, "v1", nil), "--wait"))
	var blue []string
	for _, h := range l.fleet("blue") {
		blue = append(blue, h.Name+":10")
	}
	l.waitServing(strings.Join(blue, " "))
	return id
}

func (l *trafficLab) fleet(name string) []*webHost {
	var out []*webHost
	for _, h := range l.hosts {
		if h.fleet == name {
			out = append(out, h)
		}
	}
	return out
}

func (l *trafficLab) deploy(label string, fail map[string]bool) string {
	l.t.Helper()
	return deployID(l.t, mustCLI(l.t, l.s, "deploy", "--app", "shop", "--group", "web", "--bundle", webBundle(l.t, label, fail)))
}

// wait polls the deployment until cond holds.
func (l *trafficLab) wait(id, what string, cond func(api.Deployment) bool) api.Deployment {
	l.t.Helper()
	return waitFor(l.t, 60*time.Second, what, func() (api.Deployment, bool) {
		d, err := l.s.client().GetDeployment(context.Background(), id)
		return d, err == nil && cond(d)
	})
}

func (l *trafficLab) finished(id string) api.Deployment {
	l.t.Helper()
	return l.wait(id, "deployment "+id+" to finish", func(d api.Deployment) bool {
		return d.Status == "Succeeded" || d.Status == "Failed" || d.Status == "Stopped"
	})
}

// serving lists the servers HAProxy sends new requests to, as "name:weight".
func (l *trafficLab) serving() string {
	h, err := traffic.NewHAProxy(traffic.HAProxyConfig{Address: l.proxy.Socket})
	if err != nil {
		l.t.Fatal(err)
	}
	b, err := h.State(context.Background(), "app")
	if err != nil {
		return "error: " + err.Error()
	}
	var out []string
	for _, s := range b.Servers {
		if s.Serving() {
			out = append(out, fmt.Sprintf("%s:%d", s.Name, s.Weight))
		}
	}
	return strings.Join(out, " ")
}

func (l *trafficLab) waitServing(want string) {
	l.t.Helper()
	waitFor(l.t, 30*time.Second, "haproxy to serve "+want, func() (string, bool) {
		got := l.serving()
		return got, got == want
	})
}

// webBundle is a revision of the web application: ApplicationStop stops the running server,
// ApplicationStart starts one that answers label, ValidateService checks it. Every hook writes
// "<event> <deployment> <label> <its server's admin state in HAProxy>" to the host's trace; the
// events in fail exit 1.
func webBundle(t *testing.T, label string, fail map[string]bool) string {
	t.Helper()
	dir := t.TempDir()
	trace := `echo "$LIFECYCLE_EVENT $DEPLOYMENT_ID ` + label + ` $("$E2E_WEB_BIN" state --socket "$E2E_HAPROXY_SOCKET" --backend app --server "$E2E_SERVER")" >> "$SLIPWAY_INSTALL_PREFIX/trace"` + "\n"
	check := `"$E2E_WEB_BIN" check --url "http://127.0.0.1:$E2E_WEB_PORT/" --want ` + label + " --wait 10s\n"
	bodies := map[string]string{
		"ApplicationStop": trace + `pidfile="$SLIPWAY_INSTALL_PREFIX/web.pid"
if [ -f "$pidfile" ]; then
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  i=0
  while kill -0 "$pid" 2>/dev/null; do i=$((i+1)); [ $i -gt 200 ] && exit 1; sleep 0.05; done
  rm -f "$pidfile"
fi
`,
		"BeforeInstall": trace,
		"ApplicationStart": `setsid "$E2E_WEB_BIN" serve --addr "127.0.0.1:$E2E_WEB_PORT" --label ` + label +
			` --pid-file "$SLIPWAY_INSTALL_PREFIX/web.pid" </dev/null >/dev/null 2>&1 &` + "\n" + check,
		"ValidateService":    trace + check,
		"BeforeAllowTraffic": trace,
		"AfterAllowTraffic":  trace,
		"BeforeBlockTraffic": trace,
		"AfterBlockTraffic":  trace,
	}
	var spec strings.Builder
	spec.WriteString("version: 0.0\nos: linux\nfiles:\n  - source: web\n    destination: /srv/app\nhooks:\n")
	for _, ev := range slices.Sorted(maps.Keys(bodies)) {
		fmt.Fprintf(&spec, "  %s:\n    - location: hooks/%s.sh\n      timeout: 60\n", ev, ev)
		body := "#!/bin/sh\nset -e\n" + bodies[ev]
		if fail[ev] {
			body += "echo \"" + ev + " is broken in " + label + "\" >&2\nexit 1\n"
		}
		writeFile(t, filepath.Join(dir, "hooks", ev+".sh"), body, 0o755)
	}
	writeFile(t, filepath.Join(dir, "appspec.yml"), spec.String(), 0o644)
	writeFile(t, filepath.Join(dir, "web", "index.html"), label+"\n", 0o644)
	return dir
}

// load sends requests through HAProxy one after another until stopped, and keeps what each got.
type load struct {
	mu      sync.Mutex
	answers []answer
	stop    chan struct{}
	done    chan struct{}
}

type answer struct {
	at    time.Time
	label string // "" when the request failed
	err   string
}

func startLoad(t *testing.T, url string) *load {
	t.Helper()
	l := &load{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
	go func() {
		defer close(l.done)
		for {
			select {
			case <-l.stop:
				return
			default:
			}
			a := answer{at: time.Now()}
			resp, err := client.Get(url)
			if err != nil {
				a.err = err.Error()
			} else {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					a.err = fmt.Sprintf("%d %s", resp.StatusCode, b)
				} else {
					a.label = strings.TrimSpace(string(b))
				}
			}
			l.mu.Lock()
			l.answers = append(l.answers, a)
			l.mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	t.Cleanup(l.end)
	return l
}

func (l *load) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
}

// since returns the answers from t on.
func (l *load) since(t time.Time) []answer {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, _ := slices.BinarySearchFunc(l.answers, t, func(a answer, t time.Time) int { return a.at.Compare(t) })
	return slices.Clone(l.answers[i:])
}

func (l *load) failures() []answer {
	var out []answer
	for _, a := range l.since(time.Time{}) {
		if a.err != "" {
			out = append(out, a)
		}
	}
	return out
}

// share is the fraction of answers in [from, to) that carry label, and how many there were.
func share(answers []answer, label string, from, to time.Time) (float64, int) {
	n, hit := 0, 0
	for _, a := range answers {
		if a.at.Before(from) || !a.at.Before(to) {
			continue
		}
		n++
		if a.label == label {
			hit++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return float64(hit) / float64(n), n
}

func percents(tl []api.TrafficPoint) []int {
	out := make([]int, len(tl))
	for i, p := range tl {
		out[i] = p.Percent
	}
	return out
}

// traceOf reads a host's trace: its hooks' lines.
func traceOf(t *testing.T, h *webHost) []string {
	return strings.Split(strings.TrimSpace(readFile(t, filepath.Join(h.Prefix, "trace"))), "\n")
}

// In place with a router, each host is drained while it installs; then the group turns
// blue/green and a Linear 25%-every-second shift moves traffic to the green fleet step by step,
// with no request failing and clients seeing the shares the weights say; the fleets swap, and
// the next deployment (waiting for a continue and a promotion) goes back to the blue fleet.
func TestTraffic_InPlaceThenBlueGreen(t *testing.T) {
	l := newTrafficLab(t, 2, 2)
	v1 := l.inPlaceV1()
	for _, h := range l.fleet("blue") {
		tr := strings.Join(traceOf(t, h), "\n")
		for _, want := range []string{"BeforeInstall " + v1 + " v1 drain", "AfterAllowTraffic " + v1 + " v1 ready"} {
			if !strings.Contains(tr, want) {
				t.Errorf("%s trace lacks %q:\n%s", h.Name, want, tr)
			}
		}
	}

	front := startLoad(t, l.proxy.URL)
	mustCLI(t, l.s, "group", "update", "shop", "web", "--deployment-type", "blue-green", "--replacement-tag", "fleet=green",
		"--traffic", "linear:25:1s", "--config", "CodeDeployDefault.AllAtOnce")
	v2 := l.deploy("v2", nil)
	d := l.finished(v2)
	if d.Status != "Succeeded" {
		t.Fatalf("v2: %s %s", d.Status, d.ErrorMessage)
	}
	tl := d.Traffic.Timeline
	if got := percents(tl); !slices.Equal(got, []int{25, 50, 75, 100}) {
		t.Fatalf("timeline %v, want 25 50 75 100", got)
	}
	answers := front.since(tl[0].Time)
	for i := 1; i < len(tl); i++ {
		if gap := tl[i].Time.Sub(tl[i-1].Time); gap < time.Second {
			t.Errorf("step %d came %v after the one before, want at least the 1s pause", i+1, gap)
		}
		// What clients saw between two steps, away from the edges: the share the weights say.
		from, to := tl[i-1].Time.Add(150*time.Millisecond), tl[i].Time.Add(-150*time.Millisecond)
		got, n := share(answers, "v2", from, to)
		if want := float64(tl[i-1].Percent) / 100; n >= 10 && (got < want-0.12 || got > want+0.12) {
			t.Errorf("at %d%% clients got v2 in %.0f%% of %d answers", tl[i-1].Percent, 100*got, n)
		}
	}
	l.waitServing("green-1:1 green-2:1")
	if end := tl[len(tl)-1].Time.Add(200 * time.Millisecond); d.EndTime != nil {
		if got, n := share(front.since(end), "v2", end, *d.EndTime); n > 0 && got != 1 {
			t.Errorf("once all traffic had moved clients got v2 in %.0f%% of %d answers", 100*got, n)
		}
	}
	for _, h := range l.fleet("green") {
		tr := strings.Join(traceOf(t, h), "\n")
		for _, want := range []string{"BeforeAllowTraffic " + v2 + " v2 maint", "AfterAllowTraffic " + v2 + " v2 ready"} {
			if !strings.Contains(tr, want) {
				t.Errorf("%s trace lacks %q:\n%s", h.Name, want, tr)
			}
		}
	}
	for _, h := range l.fleet("blue") {
		tr := strings.Join(traceOf(t, h), "\n")
		if !strings.Contains(tr, "BeforeBlockTraffic "+v2+" v1 ready") || !strings.Contains(tr, "AfterBlockTraffic "+v2+" v1 drain") {
			t.Errorf("%s trace lacks its block-traffic events around the drain:\n%s", h.Name, tr)
		}
	}
	var g api.DeploymentGroup
	if err := json.Unmarshal([]byte(mustCLI(t, l.s, "group", "get", "shop", "web", "--json")), &g); err != nil {
		t.Fatal(err)
	}
	if g.TagGroups[0][0].Value != "green" || g.BlueGreen.ReplacementTags[0].Value != "blue" {
		t.Errorf("after the deployment the group's tags are %v, replacement %v; want the fleets swapped", g.TagGroups, g.BlueGreen.ReplacementTags)
	}

	// The next deployment goes to the blue fleet; it waits for a continue, then for a promotion
	// at 50%.
	steps := filepath.Join(t.TempDir(), "steps.yaml")
	writeFile(t, steps, "steps:\n  - weight: 50\n  - pause: until_promoted\n", 0o644)
	mustCLI(t, l.s, "group", "update", "shop", "web", "--traffic-file", steps, "--ready-wait", "1m")
	v3 := l.deploy("v3", nil)
	l.wait(v3, "v3 to be Ready", func(d api.Deployment) bool { return d.Status == "Ready" })
	if got := l.serving(); got != "green-1:1 green-2:1" {
		t.Errorf("while Ready haproxy serves %q; traffic must not move before the continue", got)
	}
	mustCLI(t, l.s, "deployment", "continue", v3)
	l.wait(v3, "v3 at 50% waiting for a promotion", func(d api.Deployment) bool {
		return d.Traffic != nil && d.Traffic.Percent == 50 && d.Traffic.Waiting == "promotion"
	})
	l.waitServing("blue-1:1 blue-2:1 green-1:1 green-2:1")
	out := mustCLI(t, l.s, "deployment", "promote", v3)
	if !strings.Contains(out, v3) {
		t.Errorf("promote printed %q", out)
	}
	if d := l.finished(v3); d.Status != "Succeeded" || !slices.Equal(percents(d.Traffic.Timeline), []int{50, 100}) {
		t.Fatalf("v3: %s %s timeline %v", d.Status, d.ErrorMessage, percents(d.Traffic.Timeline))
	}
	l.waitServing("blue-1:1 blue-2:1")
	front.end()
	if f := front.failures(); len(f) > 0 {
		t.Errorf("%d of %d requests failed through the deployments; first: %+v", len(f), len(front.since(time.Time{})), f[0])
	}
}

// A failed AfterAllowTraffic, a firing alarm and an abort each send all traffic back to the
// original fleet at once.
func TestTraffic_RevertsToTheOriginals(t *testing.T) {
	l := newTrafficLab(t, 1, 1)
	l.inPlaceV1()
	var alarmFiring atomic.Bool
	alarmSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if alarmFiring.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(alarmSrv.Close)
	alarms := filepath.Join(t.TempDir(), "alarms.yaml")
	writeFile(t, alarms, fmt.Sprintf("alarm_configuration:\n  interval: 1s\n  alarms:\n    - name: errors\n      http: {url: %q}\n", alarmSrv.URL), 0o644)
	mustCLI(t, l.s, "group", "update", "shop", "web", "--deployment-type", "blue-green", "--replacement-tag", "fleet=green",
		"--traffic", "all-at-once", "--alarms-file", alarms)
	front := startLoad(t, l.proxy.URL)

	t.Run("failed AfterAllowTraffic", func(t *testing.T) {
		id := l.deploy("broken", map[string]bool{"AfterAllowTraffic": true})
		d := l.finished(id)
		if d.Status != "Failed" || !strings.Contains(d.ErrorMessage, "green-1 failed AfterAllowTraffic") ||
			!strings.Contains(d.ErrorMessage, "all traffic is back on the original instances") {
			t.Fatalf("%s %s %q", d.Status, d.ErrorCode, d.ErrorMessage)
		}
		if got := percents(d.Traffic.Timeline); !slices.Equal(got, []int{100, 0}) {
			t.Errorf("timeline %v, want 100 then 0", got)
		}
		l.waitServing("blue-1:1")
		end := d.Traffic.Timeline[1].Time
		if got, n := share(front.since(end.Add(200*time.Millisecond)), "v1", end.Add(200*time.Millisecond), time.Now()); n > 0 && got != 1 {
			t.Errorf("after the revert clients got v1 in %.0f%% of %d answers", 100*got, n)
		}
	})

	steps := filepath.Join(t.TempDir(), "steps.yaml")
	writeFile(t, steps, "steps:\n  - weight: 50\n  - pause: until_promoted\n", 0o644)
	mustCLI(t, l.s, "group", "update", "shop", "web", "--traffic-file", steps)
	atHalf := func(id string) {
		t.Helper()
		l.wait(id, "50% waiting for a promotion", func(d api.Deployment) bool {
			return d.Traffic != nil && d.Traffic.Percent == 50 && d.Traffic.Waiting == "promotion"
		})
		l.waitServing("blue-1:1 green-1:1")
	}

	t.Run("alarm", func(t *testing.T) {
		id := l.deploy("v2", nil)
		atHalf(id)
		alarmFiring.Store(true)
		defer alarmFiring.Store(false)
		d := l.finished(id)
		if d.Status != "Stopped" || d.ErrorCode != "ALARM_ACTIVE" || !strings.Contains(d.ErrorMessage, "alarm errors fired") {
			t.Fatalf("%s %s %q", d.Status, d.ErrorCode, d.ErrorMessage)
		}
		if got := percents(d.Traffic.Timeline); !slices.Equal(got, []int{50, 0}) {
			t.Errorf("timeline %v, want 50 then 0", got)
		}
		l.waitServing("blue-1:1")
	})

	t.Run("abort", func(t *testing.T) {
		id := l.deploy("v2", nil)
		atHalf(id)
		out := mustCLI(t, l.s, "deployment", "abort", id)
		if !strings.Contains(out, id) {
			t.Errorf("abort printed %q", out)
		}
		d := l.finished(id)
		if d.Status != "Stopped" || d.ErrorCode != "MANUAL_STOP" || !strings.Contains(d.ErrorMessage, "aborted by a user; all traffic is back") {
			t.Fatalf("%s %s %q", d.Status, d.ErrorCode, d.ErrorMessage)
		}
		l.waitServing("blue-1:1")
	})
	front.end()
	if f := front.failures(); len(f) > 0 {
		t.Errorf("%d of %d requests failed; first: %+v", len(f), len(front.since(time.Time{})), f[0])
	}
}

// The server is killed (SIGKILL) twice in the middle of a shift, and HAProxy reloaded while it is
// down (which puts the configuration's weights back): each time the restarted server puts the
// router's state back and carries on where it stood, and no client request fails.
func TestTraffic_ServerKilledMidShiftResumes(t *testing.T) {
	l := newTrafficLab(t, 2, 2)
	l.inPlaceV1()
	mustCLI(t, l.s, "group", "update", "shop", "web", "--deployment-type", "blue-green", "--replacement-tag", "fleet=green",
		"--traffic", "linear:20:1s", "--config", "CodeDeployDefault.AllAtOnce")
	front := startLoad(t, l.proxy.URL)
	id := l.deploy("v2", nil)
	for i, after := range []int{1, 3} {
		l.wait(id, fmt.Sprintf("%d weight steps", after), func(d api.Deployment) bool {
			return d.Traffic != nil && len(d.Traffic.Timeline) >= after
		})
		l.s.p.stop(syscall.SIGKILL)
		if i == 1 {
			if err := l.proxy.Reload(); err != nil {
				t.Fatal(err)
			}
		}
		l.s.resume()
	}
	d := l.finished(id)
	if d.Status != "Succeeded" {
		t.Fatalf("%s %s", d.Status, d.ErrorMessage)
	}
	tl := d.Traffic.Timeline
	if got := percents(tl); !slices.Equal(got, []int{20, 40, 60, 80, 100}) {
		t.Errorf("timeline %v, want 20 40 60 80 100", got)
	}
	for i := 1; i < len(tl); i++ {
		if gap := tl[i].Time.Sub(tl[i-1].Time); gap < time.Second {
			t.Errorf("step %d came %v after the one before, want at least the 1s pause", i+1, gap)
		}
	}
	l.waitServing("green-1:1 green-2:1")
	front.end()
	if f := front.failures(); len(f) > 0 {
		t.Errorf("%d of %d requests failed; first: %+v", len(f), len(front.since(time.Time{})), f[0])
	}
}

// The group's tag groups other than the first select both fleets: a host of another application
// tagged like the replacement fleet gets nothing, and after the swap both fleets still have the
// shared tag group.
func TestTraffic_BlueGreenFleetTags(t *testing.T) {
	l := newTrafficLab(t, 1, 1)
	intruder := startAgent(t, l.s, "intruder", "fleet=green", "app=other")
	waitInstances(t, l.s, len(l.hosts)+1)
	l.inPlaceV1()
	mustCLI(t, l.s, "group", "update", "shop", "web", "--deployment-type", "blue-green", "--tag", "fleet=blue", "--tag-group", "app=shop",
		"--replacement-tag", "fleet=green", "--traffic", "all-at-once", "--config", "CodeDeployDefault.AllAtOnce")
	v2 := l.deploy("v2", nil)
	if d := l.finished(v2); d.Status != "Succeeded" {
		t.Fatalf("v2: %s %s %s", d.Status, d.ErrorCode, d.ErrorMessage)
	} else if len(d.Instances) != 2 {
		t.Errorf("v2 ran on %d instances, want green-1 and blue-1: %+v", len(d.Instances), d.Instances)
	}
	l.waitServing("green-1:1")
	if _, err := os.Stat(filepath.Join(intruder.Prefix, "trace")); !os.IsNotExist(err) {
		t.Errorf("the other application's host ran hooks: %v", err)
	}
	var g api.DeploymentGroup
	if err := json.Unmarshal([]byte(mustCLI(t, l.s, "group", "get", "shop", "web", "--json")), &g); err != nil {
		t.Fatal(err)
	}
	shop := []api.TagFilter{{Key: "app", Value: "shop", Type: "KEY_AND_VALUE"}}
	fleet := func(v string) []api.TagFilter {
		return []api.TagFilter{{Key: "fleet", Value: v, Type: "KEY_AND_VALUE"}}
	}
	if want := [][]api.TagFilter{fleet("green"), shop}; !reflect.DeepEqual(g.TagGroups, want) {
		t.Errorf("after the swap the group's tags are %v, want %v", g.TagGroups, want)
	}
	if want := [][]api.TagFilter{fleet("blue"), shop}; !reflect.DeepEqual(g.BlueGreen.ReplacementFleet, want) || !reflect.DeepEqual(g.BlueGreen.ReplacementTags, fleet("blue")) {
		t.Errorf("after the swap the replacement fleet is %v (replacement tags %v), want %v", g.BlueGreen.ReplacementFleet, g.BlueGreen.ReplacementTags, want)
	}
}
