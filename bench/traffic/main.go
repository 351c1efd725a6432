// Command traffic measures what clients see of blue/green deployments through a real HAProxy
// driven by a real slipway-server with real slipway-agents (issue 5, item 5):
//
//   - (a) a Linear shift in 10% steps under a steady load: requests failed (target 0), the
//     weight timeline the server applied and the share of the new fleet clients got between its
//     steps; the baseline, measured in the same run, is the same load with no deployment;
//   - (b) an alarm-triggered revert: an HTTP-check alarm the benchmark turns bad at 50%, the time
//     from the server's detecting it to all traffic back on the original fleet (target under a
//     second, watched on HAProxy's runtime API every millisecond), and requests failed; the
//     baseline is one revert sent straight to HAProxy's runtime API by the router driver.
//
// The fleets' servers are HTTP servers in this process that answer with their fleet's name; the
// agents run a trivial revision (no-op hooks), so what is measured is the traffic machinery. See
// bench/README.md for the figures and how they were taken.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slipway-deploy/slipway/bench/internal/rig"
	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/traffic"
	"github.com/slipway-deploy/slipway/internal/traffic/haproxytest"
)

const (
	app     = "bench"
	group   = "shop"
	backend = "app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "traffic bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("traffic", flag.ContinueOnError)
	workers := fl.Int("workers", 4, "concurrent clients sending requests through HAProxy")
	percent := fl.Int("percent", 10, "(a): the linear shift's step")
	interval := fl.Duration("interval", time.Second, "(a): the time between two steps")
	hosts := fl.Int("hosts", 2, "hosts in each fleet")
	work := fl.String("dir", "", "work directory, kept (default: a new temp dir, removed at the end)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	dir, cleanup, err := rig.WorkDir(*work, "", "slipway-traffic-bench-")
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Fprintln(stdout, "machine:", rig.Machine())
	bins, err := rig.Build(ctx, dir, "slipway-server", "slipway-agent")
	if err != nil {
		return err
	}

	// The two fleets' servers, HAProxy in front of them (the green fleet disabled), and the
	// alarm the benchmark turns bad.
	var servers []haproxytest.Server
	var fleets = map[string][]string{}
	for _, fleet := range []string{"blue", "green"} {
		for i := 1; i <= *hosts; i++ {
			name := fmt.Sprintf("%s-%d", fleet, i)
			addr, err := serve(ctx, fleet)
			if err != nil {
				return err
			}
			servers = append(servers, haproxytest.Server{Name: name, Addr: addr, Weight: 10, Disabled: fleet == "green"})
			fleets[fleet] = append(fleets[fleet], name)
		}
	}
	proxy, err := haproxytest.Start(haproxytest.Config{Backend: backend, Servers: servers, Check: true})
	if err != nil {
		return err
	}
	defer proxy.Stop()
	var alarmBad atomic.Bool
	alarmURL, err := alarmEndpoint(ctx, &alarmBad)
	if err != nil {
		return err
	}

	// (b)'s baseline first, while nothing else drives HAProxy: one revert Apply, straight.
	direct, err := directReverts(ctx, proxy.Socket, fleets["blue"], fleets["green"], 20)
	if err != nil {
		return err
	}

	srv, err := rig.StartServer(ctx, bins["slipway-server"], rig.Mkdir(dir, "server"), nil)
	if err != nil {
		return err
	}
	defer srv.Stop()
	var agents []*rig.Agent
	for _, fleet := range []string{"blue", "green"} {
		for _, name := range fleets[fleet] {
			a, err := rig.StartAgent(bins["slipway-agent"], srv, rig.Mkdir(dir, "agents", name), name, "fleet="+fleet)
			if err != nil {
				return err
			}
			defer a.Stop()
			agents = append(agents, a)
		}
	}
	c := srv.Admin()
	if err := rig.WaitInstances(ctx, c, len(agents), agents...); err != nil {
		return err
	}
	if err := createGroup(ctx, c, proxy.Socket, alarmURL, *percent, *interval); err != nil {
		return err
	}
	rev, err := rig.WriteTrivial(filepath.Join(dir, "revision"), true)
	if err != nil {
		return err
	}
	digest, err := rig.Upload(ctx, c, app, rev.Dir)
	if err != nil {
		return err
	}

	load := startLoad(ctx, proxy.URL, *workers)
	defer load.stop()
	steps := 100 / *percent
	baseFrom := time.Now()
	if err := sleep(ctx, time.Duration(steps)**interval); err != nil {
		return err
	}
	base := load.stats(baseFrom, time.Now())

	// (a) the linear shift, blue to green.
	shift, err := deployAndWait(ctx, c, digest, nil)
	if err != nil {
		return err
	}
	if shift.Status != "Succeeded" || shift.Traffic == nil || len(shift.Traffic.Timeline) == 0 {
		return fmt.Errorf("(a): deployment %s ended %s: %s", shift.ID, shift.Status, shift.ErrorMessage)
	}
	tl := shift.Traffic.Timeline
	during := load.stats(tl[0].Time, *shift.EndTime)
	fmt.Fprintf(stdout, "\n(a) Linear %d%% every %v, %d+%d hosts, %d clients in a loop\n", *percent, *interval, *hosts, *hosts, *workers)
	fmt.Fprintf(stdout, "    baseline, no deployment:  %s\n", base)
	fmt.Fprintf(stdout, "    during the shift:         %s\n", during)
	fmt.Fprintf(stdout, "    ratio of throughput %.2f, of p99 latency %.2f\n", during.rate/base.rate, float64(during.p99)/float64(base.p99))
	fmt.Fprintln(stdout, "    weight timeline (time after the first step: green's share applied; what clients got until the next step):")
	for i, p := range tl {
		to := *shift.EndTime
		if i+1 < len(tl) {
			to = tl[i+1].Time
		}
		got := load.stats(p.Time, to)
		fmt.Fprintf(stdout, "      +%-7s %3d%%   clients: %5.1f%% green of %d answers\n", p.Time.Sub(tl[0].Time).Round(time.Millisecond), p.Percent, 100*got.share("green"), got.answers)
	}

	// (b) the alarm-triggered revert, green to blue and back.
	if err := setSteps(ctx, c); err != nil {
		return err
	}
	watch := &haproxyWatch{}
	revert, err := deployAndWait(ctx, c, digest, func(d api.Deployment) error {
		if d.Traffic == nil || d.Traffic.Percent != 50 || d.Traffic.Waiting != "promotion" {
			return errNotYet
		}
		go watch.run(ctx, proxy.Socket, fleets["green"], fleets["blue"])
		alarmBad.Store(true)
		return nil
	})
	if err != nil {
		return err
	}
	watch.stop()
	bTL := revert.Traffic.Timeline
	if revert.Status != "Stopped" || len(bTL) != 2 || bTL[1].Percent != 0 {
		return fmt.Errorf("(b): deployment %s ended %s with timeline %v: %s", revert.ID, revert.Status, bTL, revert.ErrorMessage)
	}
	detected, err := logTime(filepath.Join(dir, "server", "server.log"), "alarm stops deployment")
	if err != nil {
		return err
	}
	back, ok := watch.backAfter(detected)
	if !ok {
		return errors.New("(b): HAProxy was never seen with all traffic back on the originals")
	}
	flipped := watch.started()
	fmt.Fprintf(stdout, "\n(b) alarm-triggered revert at 50%% (HTTP-check alarm, group interval 1s)\n")
	fmt.Fprintf(stdout, "    alarm turned bad -> server detects it:           %v\n", detected.Sub(flipped).Round(time.Millisecond))
	fmt.Fprintf(stdout, "    detection -> 100%% back on the originals (HAProxy): %v   (server's record of the applied revert: %v)\n",
		back.Sub(detected).Round(100*time.Microsecond), bTL[1].Time.Sub(detected).Round(100*time.Microsecond))
	fmt.Fprintf(stdout, "    baseline, one revert Apply to HAProxy directly:   %v median of %d\n", rig.Percentile(direct, 50).Round(10*time.Microsecond), len(direct))
	fmt.Fprintf(stdout, "    ratio %.1f\n", float64(back.Sub(detected))/float64(rig.Percentile(direct, 50)))
	fmt.Fprintf(stdout, "    %s\n", load.stats(bTL[0].Time, *revert.EndTime))
	fmt.Fprintf(stdout, "    error: %s %s\n", revert.ErrorCode, revert.ErrorMessage)

	load.stop()
	all := load.stats(time.Time{}, time.Now())
	fmt.Fprintf(stdout, "\nall requests of the run: %s\n", all)
	fmt.Fprintln(stdout, "load average at the end:", rig.LoadAverage())
	if all.failed > 0 {
		return fmt.Errorf("%d requests failed; first: %s", all.failed, all.firstErr)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// serve runs an HTTP server that answers fleet until ctx ends; it returns its address.
func serve(ctx context.Context, fleet string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, fleet) }),
		ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.Serve(ln) }()
	context.AfterFunc(ctx, func() { _ = s.Close() })
	return ln.Addr().String(), nil
}

// alarmEndpoint is what the group's HTTP-check alarm reads: 200 until bad is set, then 500.
func alarmEndpoint(ctx context.Context, bad *atomic.Bool) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if bad.Load() {
			http.Error(w, "error rate 7%", http.StatusInternalServerError)
		}
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.Serve(ln) }()
	context.AfterFunc(ctx, func() { _ = s.Close() })
	return "http://" + ln.Addr().String() + "/health", nil
}

func createGroup(ctx context.Context, c *api.Client, socket, alarmURL string, percent int, interval time.Duration) error {
	if _, err := c.CreateApplication(ctx, api.Application{Name: app}); err != nil {
		return err
	}
	_, err := c.CreateGroup(ctx, api.DeploymentGroup{
		Application: app, Name: group, DeploymentConfig: "CodeDeployDefault.AllAtOnce", DeploymentType: "BLUE_GREEN",
		TagGroups:     [][]api.TagFilter{{{Key: "fleet", Value: "blue", Type: "KEY_AND_VALUE"}}},
		TrafficRouter: &api.TrafficRouter{Type: "haproxy", Address: socket, Backend: backend},
		BlueGreen: &api.BlueGreen{
			ReplacementTags: []api.TagFilter{{Key: "fleet", Value: "green", Type: "KEY_AND_VALUE"}},
			Traffic:         api.TrafficShape{Linear: &api.TrafficIncrement{Percent: percent, Interval: interval.String()}},
		},
		AlarmConfiguration: &api.AlarmConfiguration{Interval: api.Duration(time.Second),
			Alarms: []api.Alarm{{Name: "health", HTTP: &api.HTTPAlarm{URL: alarmURL, Status: []int{200}}}}},
	})
	return err
}

// setSteps makes the group's shape stop at 50% until promoted, for (b).
func setSteps(ctx context.Context, c *api.Client) error {
	g, err := c.GetGroup(ctx, app, group)
	if err != nil {
		return err
	}
	half := 50
	g.BlueGreen.Traffic = api.TrafficShape{Steps: []api.TrafficStep{{Weight: &half}, {Pause: "until_promoted"}}}
	_, err = c.UpdateGroup(ctx, g)
	return err
}

var errNotYet = errors.New("not yet")

// deployAndWait deploys digest and polls the deployment until it ends; while it runs, each poll
// is handed to during (nil: none), which returns errNotYet until it has done its part.
func deployAndWait(ctx context.Context, c *api.Client, digest string, during func(api.Deployment) error) (api.Deployment, error) {
	d, err := c.CreateDeployment(ctx, api.CreateDeployment{Application: app, Group: group, Revision: digest})
	if err != nil {
		return d, err
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		d, err = c.GetDeployment(ctx, d.ID)
		if err != nil {
			return d, err
		}
		switch d.Status {
		case "Succeeded", "Failed", "Stopped":
			return d, nil
		}
		if during != nil {
			switch err := during(d); {
			case err == nil:
				during = nil
			case !errors.Is(err, errNotYet):
				return d, err
			}
		}
		if time.Now().After(deadline) {
			return d, fmt.Errorf("deployment %s still %s after 3 minutes", d.ID, d.Status)
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return d, err
		}
	}
}

// directReverts times n reverts sent straight to HAProxy by the router driver: from half the
// traffic on replacements to all of it on originals, in one Apply. The backend is left as the
// configuration has it.
func directReverts(ctx context.Context, socket string, originals, replacements []string, n int) ([]time.Duration, error) {
	h, err := traffic.NewHAProxy(traffic.HAProxyConfig{Address: socket})
	if err != nil {
		return nil, err
	}
	targets := func(percent int, admin traffic.AdminState) (map[string]traffic.Target, error) {
		w, err := traffic.Split(originals, replacements, percent, traffic.MaxWeight)
		out := map[string]traffic.Target{}
		for name, weight := range w {
			out[name] = traffic.Target{Weight: weight, Admin: traffic.Ready}
		}
		for _, name := range replacements {
			out[name] = traffic.Target{Weight: w[name], Admin: admin}
		}
		return out, err
	}
	half, err := targets(50, traffic.Ready)
	if err != nil {
		return nil, err
	}
	back, err := targets(0, traffic.Drain)
	if err != nil {
		return nil, err
	}
	var out []time.Duration
	for range n {
		if err := h.Apply(ctx, backend, half); err != nil {
			return nil, err
		}
		// The replacements just left maintenance: let their health checks pass first.
		if err := waitUp(ctx, h, replacements); err != nil {
			return nil, err
		}
		start := time.Now()
		if err := h.Apply(ctx, backend, back); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	restore := map[string]traffic.Target{}
	for _, name := range originals {
		restore[name] = traffic.Target{Weight: 10, Admin: traffic.Ready}
	}
	for _, name := range replacements {
		restore[name] = traffic.Target{Weight: 10, Admin: traffic.Maint}
	}
	return out, h.Apply(ctx, backend, restore)
}

func waitUp(ctx context.Context, h *traffic.HAProxy, names []string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := h.State(ctx, backend)
		if err != nil {
			return err
		}
		up := 0
		for _, n := range names {
			if s, ok := b.Server(n); ok && s.Health == traffic.Up {
				up++
			}
		}
		if up == len(names) {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("servers did not pass their health checks within 10s")
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
}

// haproxyWatch reads HAProxy's state every millisecond from the moment the alarm is turned bad
// and keeps when all traffic was back on the originals.
type haproxyWatch struct {
	mu    sync.Mutex
	from  time.Time
	polls []poll
	done  chan struct{}
	quit  chan struct{}
}

type poll struct {
	at   time.Time
	back bool // originals serving, replacements not
}

func (w *haproxyWatch) run(ctx context.Context, socket string, originals, replacements []string) {
	w.mu.Lock()
	w.from = time.Now()
	w.done, w.quit = make(chan struct{}), make(chan struct{})
	w.mu.Unlock()
	defer close(w.done)
	h, err := traffic.NewHAProxy(traffic.HAProxyConfig{Address: socket})
	if err != nil {
		return
	}
	for {
		select {
		case <-w.quit:
			return
		case <-ctx.Done():
			return
		default:
		}
		b, err := h.State(ctx, backend)
		at := time.Now()
		if err == nil {
			back := true
			for _, s := range b.Servers {
				if slices.Contains(replacements, s.Name) && s.Serving() || slices.Contains(originals, s.Name) && !s.Serving() {
					back = false
				}
			}
			w.mu.Lock()
			w.polls = append(w.polls, poll{at: at, back: back})
			w.mu.Unlock()
		}
		time.Sleep(time.Millisecond)
	}
}

func (w *haproxyWatch) started() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.from
}

func (w *haproxyWatch) stop() {
	w.mu.Lock()
	quit, done := w.quit, w.done
	w.mu.Unlock()
	if quit == nil {
		return
	}
	close(quit)
	<-done
}

// backAfter is the first poll after t that saw all traffic back, once it stayed back.
func (w *haproxyWatch) backAfter(t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.polls {
		if p.at.After(t) && p.back {
			return p.at, true
		}
	}
	return time.Time{}, false
}

// logTime finds the time of the server's first JSON log line with message msg.
func logTime(path, msg string) (time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == msg {
			return line.Time, nil
		}
	}
	return time.Time{}, fmt.Errorf("no %q in %s", msg, path)
}

// load is clients sending requests through HAProxy one after another.
type load struct {
	mu      sync.Mutex
	answers []answer
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

type answer struct {
	at      time.Time
	latency time.Duration
	fleet   string
	err     string
}

func startLoad(ctx context.Context, url string, workers int) *load {
	ctx, cancel := context.WithCancel(ctx)
	l := &load{cancel: cancel}
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	client := &http.Client{Timeout: 5 * time.Second, Transport: tr}
	for range workers {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				a := answer{at: time.Now()}
				resp, err := client.Get(url)
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					_ = resp.Body.Close()
					a.fleet = string(b)
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("%s: %s", resp.Status, b)
					}
				}
				a.latency = time.Since(a.at)
				if err != nil && ctx.Err() == nil {
					a.err = err.Error()
				}
				if ctx.Err() != nil {
					return
				}
				l.mu.Lock()
				l.answers = append(l.answers, a)
				l.mu.Unlock()
			}
		})
	}
	return l
}

func (l *load) stop() {
	l.once.Do(func() {
		l.cancel()
		l.wg.Wait()
	})
}

// window is what the clients got in a time window.
type window struct {
	answers, failed int
	rate            float64 // answers per second
	p50, p99        time.Duration
	fleets          map[string]int
	firstErr        string
}

func (w window) share(fleet string) float64 {
	if w.answers == 0 {
		return 0
	}
	return float64(w.fleets[fleet]) / float64(w.answers)
}

func (w window) String() string {
	return fmt.Sprintf("%d requests, %d failed, %.0f/s, latency p50 %v p99 %v", w.answers, w.failed, w.rate, w.p50, w.p99)
}

func (l *load) stats(from, to time.Time) window {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := window{fleets: map[string]int{}}
	var lat []time.Duration
	first, last := time.Time{}, time.Time{}
	for _, a := range l.answers {
		if a.at.Before(from) || !a.at.Before(to) {
			continue
		}
		if first.IsZero() {
			first = a.at
		}
		last = a.at
		w.answers++
		lat = append(lat, a.latency)
		if a.err != "" {
			w.failed++
			if w.firstErr == "" {
				w.firstErr = a.err
			}
			continue
		}
		w.fleets[strings.TrimSpace(a.fleet)]++
	}
	if span := last.Sub(first); span > 0 {
		w.rate = float64(w.answers) / span.Seconds()
	}
	w.p50, w.p99 = rig.Round(rig.Percentile(lat, 50)), rig.Round(rig.Percentile(lat, 99))
	return w
}
