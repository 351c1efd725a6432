package alarm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Options are what a Poller takes from its host program rather than from a group's Config.
type Options struct {
	// Client sends Prometheus queries and HTTP checks. Nil means a client of its own that does
	// not follow redirects. A client given here should not follow redirects either: an HTTP
	// check judges the answer of the URL it names.
	Client *http.Client
}

// Poller reads every alarm of one Config. It is safe for concurrent use.
type Poller struct {
	cfg     Config
	sources []boundSource
}

// source reads the state of the alarms it was built for.
type source interface {
	// poll returns one State per alarm, in the order the source was built with. It returns when
	// ctx is done at the latest.
	poll(ctx context.Context, now time.Time) []State
}

// single adapts the state function of a source that reads one alarm.
type single func(ctx context.Context, now time.Time) State

func (f single) poll(ctx context.Context, now time.Time) []State { return []State{f(ctx, now)} }

// boundSource is a source and the positions of its alarms in Config.Alarms.
type boundSource struct {
	src     source
	indexes []int
}

// NewPoller checks cfg and prepares a source for each alarm; it starts nothing and reads
// nothing. CloudWatch alarms in the same region and endpoint share one DescribeAlarms call.
func NewPoller(cfg Config, opt Options) (*Poller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client := opt.Client
	if client == nil {
		client = newHTTPClient()
	}
	p := &Poller{cfg: cfg}
	timeout := cfg.PollTimeout()
	// CloudWatch sources by region and endpoint, with their position in p.sources.
	type cwKey struct{ region, endpoint string }
	type cwSource struct {
		src *cloudWatchSource
		at  int
	}
	cloudWatch := map[cwKey]cwSource{}
	for i, s := range cfg.Alarms {
		f := fetcher{name: s.Name, client: client, timeout: timeout}
		switch {
		case s.Prometheus != nil:
			src := newPrometheusSource(f, *s.Prometheus)
			p.sources = append(p.sources, boundSource{src: single(src.state), indexes: []int{i}})
		case s.HTTP != nil:
			src := newHTTPSource(f, *s.HTTP)
			p.sources = append(p.sources, boundSource{src: single(src.state), indexes: []int{i}})
		case s.CloudWatch != nil:
			k := cwKey{s.CloudWatch.Region, s.CloudWatch.Endpoint}
			cw, ok := cloudWatch[k]
			if !ok {
				cw = cwSource{src: newCloudWatchSource(k.region, k.endpoint, timeout), at: len(p.sources)}
				cloudWatch[k] = cw
				p.sources = append(p.sources, boundSource{src: cw.src})
			}
			cw.src.add(s.Name, *s.CloudWatch)
			p.sources[cw.at].indexes = append(p.sources[cw.at].indexes, i)
		}
	}
	return p, nil
}

// Config returns the configuration the Poller was built from.
func (p *Poller) Config() Config { return p.cfg }

// Poll reads every alarm once, all sources at the same time, and returns when each has answered
// or the Config's timeout has passed. It never fails as a whole: an alarm that cannot be read is
// a State with Status PollFailed.
func (p *Poller) Poll(ctx context.Context) Snapshot {
	now := time.Now()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.PollTimeout())
	defer cancel()
	states := make([]State, len(p.cfg.Alarms))
	var wg sync.WaitGroup
	for _, b := range p.sources {
		wg.Go(func() {
			for k, st := range b.src.poll(ctx, now) {
				states[b.indexes[k]] = st
			}
		})
	}
	wg.Wait()
	return Snapshot{Time: now, States: states}
}

// newHTTPClient returns the client Prometheus queries and HTTP checks use by default. Its
// timeout is a backstop; each poll's context carries the Config's timeout.
func newHTTPClient() *http.Client {
	return &http.Client{
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Timeout: MaxTimeout,
	}
}

func okState(name, format string, args ...any) State {
	return State{Name: name, Status: OK, Reason: "alarm " + name + ": " + fmt.Sprintf(format, args...)}
}

func firingState(name, format string, args ...any) State {
	return State{Name: name, Status: Firing, Reason: "alarm " + name + " fired: " + fmt.Sprintf(format, args...)}
}

func failedState(name string, cause error) State {
	err := fmt.Errorf("alarm %s: %w: %w", name, ErrPoll, cause)
	return State{Name: name, Status: PollFailed, Reason: err.Error(), Err: err}
}

// fetcher is what the Prometheus and HTTP sources share: an alarm read with a GET under the
// poll's timeout.
type fetcher struct {
	name    string
	client  *http.Client
	timeout time.Duration
}

// get sends GET u. Its error is readable: without the *url.Error wrapper, whose text repeats the
// whole URL (query included), and "no answer within T" for a timeout.
func (f fetcher) get(ctx context.Context, u *url.URL) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, f.readable(err)
	}
	return resp, nil
}

// readable makes an error of the HTTP client or of reading a body fit for a message.
func (f fetcher) readable(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %v", f.timeout)
	}
	return err
}
