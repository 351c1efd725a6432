package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
	"github.com/slipway-deploy/slipway/internal/traffic"
)

// The JSON forms below mirror deploy's types with enumerations written by name. deploy's enums
// are iota ints; storing those numbers would tie every stored deployment to the order of a
// const block, and a reordering would silently rewrite history. Names also keep the database
// readable with a plain sqlite3 shell. TestCodec_RoundTripEveryField fails when deploy gains a
// field these forms do not carry.

type deploymentJSON struct {
	ID                            string           `json:"id"`
	Application                   string           `json:"application"`
	Group                         string           `json:"group"`
	Revision                      string           `json:"revision"`
	GroupRevision                 string           `json:"group_revision,omitempty"`
	Creator                       string           `json:"creator"`
	Description                   string           `json:"description,omitempty"`
	FileExistsBehavior            string           `json:"file_exists_behavior,omitempty"`
	RollbackOf                    string           `json:"rollback_of,omitempty"`
	RolledBackBy                  string           `json:"rolled_back_by,omitempty"`
	RequestKey                    string           `json:"request_key,omitempty"`
	OnlyInstances                 []string         `json:"only_instances,omitempty"`
	Config                        configJSON       `json:"config"`
	IgnoreApplicationStopFailures bool             `json:"ignore_application_stop_failures,omitempty"`
	UpdateOutdatedInstancesOnly   bool             `json:"update_outdated_instances_only,omitempty"`
	Type                          string           `json:"type,omitempty"`
	Router                        routerJSON       `json:"router,omitzero"`
	BlueGreen                     blueGreenJSON    `json:"blue_green,omitzero"`
	Platform                      string           `json:"platform,omitempty"`
	Function                      functionJSON     `json:"function,omitzero"`
	AutoRollback                  autoRollbackJSON `json:"auto_rollback"`
	Lease                         string           `json:"lease,omitempty"`
	Status                        string           `json:"status"`
	Error                         errorJSON        `json:"error"`
	Minimum                       int              `json:"minimum"`
	Batch                         int              `json:"batch"`
	Targets                       []targetJSON     `json:"targets,omitempty"` // in deployment_targets since; see decodeDeployment
	Stop                          stopJSON         `json:"stop"`
	RollbackRevision              string           `json:"rollback_revision,omitempty"`
	Shift                         shiftJSON        `json:"shift,omitzero"`
	CreateTime                    time.Time        `json:"create_time"`
	StartTime                     time.Time        `json:"start_time"`
	EndTime                       time.Time        `json:"end_time"`
}

type configJSON struct {
	Name         string `json:"name"`
	MinimumType  string `json:"minimum_type"`
	MinimumValue int    `json:"minimum_value"`
}

// routerJSON converts to and from deploy.Router.
type routerJSON struct {
	Type       string `json:"type,omitempty"`
	Address    string `json:"address,omitempty"`
	Backend    string `json:"backend,omitempty"`
	ServerName string `json:"server_name,omitempty"`
}

type blueGreenJSON struct {
	// Traffic is the shape as the user wrote it: traffic.Config is already a JSON form.
	Traffic        traffic.Config `json:"traffic,omitzero"`
	ReadyWait      string         `json:"ready_wait,omitempty"`
	ReleaseCommand string         `json:"release_command,omitempty"`
	ReleaseWait    string         `json:"release_wait,omitempty"`
}

// functionJSON is a lambda or ecs deployment's FunctionOptions.
type functionJSON struct {
	Target          string `json:"target,omitempty"`
	Original        string `json:"original,omitempty"`
	HookTimeout     string `json:"hook_timeout,omitempty"`
	TerminationWait string `json:"termination_wait,omitempty"`
	// Spec is opaque to the store as it is to deploy: the runtime's own JSON.
	Spec string `json:"spec,omitempty"`
}

type shiftJSON struct {
	Phase       string              `json:"phase"`
	Step        int                 `json:"step,omitempty"`
	StepStart   time.Time           `json:"step_start,omitzero"`
	Deadline    time.Time           `json:"deadline,omitzero"`
	Paused      bool                `json:"paused,omitempty"`
	Percent     int                 `json:"percent,omitempty"`
	Change      int                 `json:"change,omitempty"`
	Applying    bool                `json:"applying,omitempty"`
	Servers     []serverTrafficJSON `json:"servers,omitempty"`
	Reverting   bool                `json:"reverting,omitempty"`
	RevertError string              `json:"revert_error,omitempty"`
	RevertSkip  []string            `json:"revert_skipped,omitempty"`
	Failure     errorJSON           `json:"failure,omitzero"`
	Timeline    []trafficPointJSON  `json:"timeline,omitempty"`
	Release     releaseJSON         `json:"release,omitzero"`
}

type serverTrafficJSON struct {
	Server    string `json:"server"`
	Admin     string `json:"admin"`
	Weight    int    `json:"weight,omitempty"`
	SetWeight bool   `json:"set_weight,omitempty"`
}

type trafficPointJSON struct {
	Time    time.Time `json:"time"`
	Percent int       `json:"percent"`
}

type releaseJSON struct {
	StartTime time.Time `json:"start_time,omitzero"`
	EndTime   time.Time `json:"end_time,omitzero"`
	OK        bool      `json:"ok,omitempty"`
	Message   string    `json:"message,omitempty"`
}

type autoRollbackJSON struct {
	OnFailure       bool `json:"on_failure,omitempty"`
	OnAlarm         bool `json:"on_alarm,omitempty"`
	OnStopRequested bool `json:"on_stop_requested,omitempty"`
}

type errorJSON struct {
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

type stopJSON struct {
	Requested bool      `json:"requested,omitempty"`
	Time      time.Time `json:"time"`
	Error     errorJSON `json:"error"`
	Rollback  bool      `json:"rollback,omitempty"`
}

type targetJSON struct {
	Instance          string      `json:"instance"`
	Name              string      `json:"name,omitempty"`
	Fleet             string      `json:"fleet,omitempty"`
	Server            string      `json:"server,omitempty"`
	HealthAtStart     string      `json:"health_at_start"`
	RevisionAtStart   string      `json:"revision_at_start"`
	InstalledRevision string      `json:"installed_revision,omitempty"`
	Status            string      `json:"status"`
	Events            []eventJSON `json:"events,omitempty"`
	Attempt           int         `json:"attempt,omitempty"`
	UpToDate          bool        `json:"up_to_date,omitempty"`
	Gone              bool        `json:"gone,omitempty"`
	Message           string      `json:"message,omitempty"`
	StartTime         time.Time   `json:"start_time"`
	EndTime           time.Time   `json:"end_time"`
}

type eventJSON struct {
	Name          string          `json:"name"`
	Status        string          `json:"status"`
	Attempt       int             `json:"attempt,omitempty"`
	LeaseDeadline time.Time       `json:"lease_deadline"`
	Diagnostics   diagnosticsJSON `json:"diagnostics"`
	StartTime     time.Time       `json:"start_time"`
	EndTime       time.Time       `json:"end_time"`
}

type diagnosticsJSON struct {
	ErrorCode  string `json:"error_code,omitempty"`
	ScriptName string `json:"script_name,omitempty"`
	Message    string `json:"message,omitempty"`
	LogTail    string `json:"log_tail,omitempty"`
}

// encodeDeployment is the JSON of d without its targets (deployments.state); encodeTarget
// writes each target's.
func encodeDeployment(d deploy.Deployment) ([]byte, error) {
	j := deploymentJSON{
		ID: d.ID, Application: d.Application, Group: d.Group,
		Revision: d.Revision, GroupRevision: d.GroupRevision,
		Creator:                       d.Creator.String(),
		Description:                   d.Description,
		FileExistsBehavior:            d.FileExistsBehavior,
		RollbackOf:                    d.RollbackOf,
		RolledBackBy:                  d.RolledBackBy,
		RequestKey:                    d.RequestKey,
		OnlyInstances:                 d.OnlyInstances,
		Config:                        encodeConfig(d.Config),
		IgnoreApplicationStopFailures: d.IgnoreApplicationStopFailures,
		UpdateOutdatedInstancesOnly:   d.UpdateOutdatedInstancesOnly,
		Router:                        routerJSON(d.Router),
		BlueGreen:                     encodeBlueGreen(d.BlueGreen),
		AutoRollback:                  autoRollbackJSON(d.AutoRollback),
		Status:                        d.Status.String(),
		Error:                         errorJSON{Code: string(d.Error.Code), Message: d.Error.Message},
		Minimum:                       d.Minimum,
		Batch:                         d.Batch,
		Stop: stopJSON{Requested: d.Stop.Requested, Time: d.Stop.Time, Rollback: d.Stop.Rollback,
			Error: errorJSON{Code: string(d.Stop.Error.Code), Message: d.Stop.Error.Message}},
		RollbackRevision: d.RollbackRevision,
		CreateTime:       d.CreateTime, StartTime: d.StartTime, EndTime: d.EndTime,
	}
	if d.Type != deploy.InPlace {
		j.Type = d.Type.String()
		j.Shift = encodeShift(d.Shift)
	}
	if d.Platform != deploy.PlatformServer {
		f := d.Function
		j.Platform = d.Platform.String()
		j.Function = functionJSON{Target: f.Target, Original: f.Original, HookTimeout: durationText(f.HookTimeout),
			TerminationWait: durationText(f.TerminationWait), Spec: f.Spec}
	}
	if d.Lease != 0 {
		// A duration string is exact and readable; a number would need a unit everyone agrees on.
		j.Lease = d.Lease.String()
	}
	b, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("encode deployment %s: %w", d.ID, err)
	}
	return b, nil
}

// encodeTarget is the JSON of one target, a row of deployment_targets.
func encodeTarget(t deploy.Target) ([]byte, error) {
	tj := targetJSON{
		Instance: t.Instance, Name: t.Name, Server: t.Server,
		HealthAtStart: t.HealthAtStart.String(), RevisionAtStart: t.RevisionAtStart.String(),
		InstalledRevision: t.InstalledRevision, Status: t.Status.String(), Attempt: t.Attempt,
		UpToDate: t.UpToDate, Gone: t.Gone, Message: t.Message, StartTime: t.StartTime, EndTime: t.EndTime,
	}
	if t.Fleet != deploy.InPlaceFleet {
		tj.Fleet = t.Fleet.String()
	}
	for _, e := range t.Events {
		tj.Events = append(tj.Events, eventJSON{
			Name: e.Name, Status: e.Status.String(), Attempt: e.Attempt, LeaseDeadline: e.LeaseDeadline,
			Diagnostics: diagnosticsJSON(e.Diagnostics), StartTime: e.StartTime, EndTime: e.EndTime,
		})
	}
	b, err := json.Marshal(tj)
	if err != nil {
		return nil, fmt.Errorf("encode target %s: %w", t.Instance, err)
	}
	return b, nil
}

// decodeDeployment reads a deployment from its state (encodeDeployment's JSON) and its targets'
// rows (encodeTarget's), in order. A deployment last saved before targets had rows of their own
// has them in its state and no rows.
func decodeDeployment(state []byte, targets [][]byte) (deploy.Deployment, error) {
	var j deploymentJSON
	if err := json.Unmarshal(state, &j); err != nil {
		return deploy.Deployment{}, fmt.Errorf("decode deployment: %w", err)
	}
	if len(targets) > 0 {
		j.Targets = make([]targetJSON, len(targets))
		for i, b := range targets {
			if err := json.Unmarshal(b, &j.Targets[i]); err != nil {
				return deploy.Deployment{}, fmt.Errorf("decode deployment %s: target %d: %w", j.ID, i, err)
			}
		}
	}
	p := parser{}
	d := deploy.Deployment{
		ID: j.ID, Application: j.Application, Group: j.Group,
		Revision: j.Revision, GroupRevision: j.GroupRevision,
		Creator:                       p.creator(j.Creator),
		Description:                   j.Description,
		FileExistsBehavior:            j.FileExistsBehavior,
		RollbackOf:                    j.RollbackOf,
		RolledBackBy:                  j.RolledBackBy,
		RequestKey:                    j.RequestKey,
		OnlyInstances:                 j.OnlyInstances,
		Config:                        p.config(j.Config),
		IgnoreApplicationStopFailures: j.IgnoreApplicationStopFailures,
		UpdateOutdatedInstancesOnly:   j.UpdateOutdatedInstancesOnly,
		Router:                        deploy.Router(j.Router),
		BlueGreen:                     p.blueGreen(j.BlueGreen),
		AutoRollback:                  deploy.AutoRollback(j.AutoRollback),
		Status:                        p.status(j.Status),
		Error:                         deploy.ErrorInfo{Code: deploy.ErrorCode(j.Error.Code), Message: j.Error.Message},
		Minimum:                       j.Minimum,
		Batch:                         j.Batch,
		Stop: deploy.StopInfo{Requested: j.Stop.Requested, Time: j.Stop.Time, Rollback: j.Stop.Rollback,
			Error: deploy.ErrorInfo{Code: deploy.ErrorCode(j.Stop.Error.Code), Message: j.Stop.Error.Message}},
		RollbackRevision: j.RollbackRevision,
		CreateTime:       j.CreateTime, StartTime: j.StartTime, EndTime: j.EndTime,
	}
	d.Lease = p.duration("lease", j.Lease)
	if j.Type != "" {
		t, err := deploy.ParseType(j.Type)
		p.fail(err)
		d.Type = t
		d.Shift = p.shift(j.Shift)
	}
	if j.Platform != "" {
		pl, err := deploy.ParsePlatform(j.Platform)
		p.fail(err)
		d.Platform = pl
		f := j.Function
		d.Function = deploy.FunctionOptions{Target: f.Target, Original: f.Original, Spec: f.Spec,
			HookTimeout: p.duration("function.hook_timeout", f.HookTimeout), TerminationWait: p.duration("function.termination_wait", f.TerminationWait)}
	}
	if j.Targets != nil {
		d.Targets = make([]deploy.Target, 0, len(j.Targets))
	}
	for _, tj := range j.Targets {
		t := deploy.Target{
			Instance: tj.Instance, Name: tj.Name, Server: tj.Server, HealthAtStart: p.health(tj.HealthAtStart),
			RevisionAtStart: p.revisionHealth(tj.RevisionAtStart), InstalledRevision: tj.InstalledRevision,
			Status: p.instanceStatus(tj.Status), Attempt: tj.Attempt, UpToDate: tj.UpToDate, Gone: tj.Gone,
			Message: tj.Message, StartTime: tj.StartTime, EndTime: tj.EndTime,
		}
		if tj.Fleet != "" {
			f, err := deploy.ParseFleet(tj.Fleet)
			p.fail(err)
			t.Fleet = f
		}
		if tj.Events != nil {
			t.Events = make([]deploy.Event, 0, len(tj.Events))
		}
		for _, e := range tj.Events {
			t.Events = append(t.Events, deploy.Event{
				Name: e.Name, Status: p.eventStatus(e.Status), Attempt: e.Attempt, LeaseDeadline: e.LeaseDeadline,
				Diagnostics: deploy.Diagnostics(e.Diagnostics), StartTime: e.StartTime, EndTime: e.EndTime,
			})
		}
		d.Targets = append(d.Targets, t)
	}
	if p.err != nil {
		return deploy.Deployment{}, fmt.Errorf("decode deployment %s: %w", j.ID, p.err)
	}
	return d, nil
}

func encodeBlueGreen(o deploy.BlueGreenOptions) blueGreenJSON {
	return blueGreenJSON{Traffic: o.Traffic, ReadyWait: durationText(o.ReadyWait), ReleaseCommand: o.ReleaseCommand, ReleaseWait: durationText(o.ReleaseWait)}
}

// durationText is a duration as a string ("" for 0): exact and readable, where a number would
// need a unit everyone agrees on.
func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func encodeShift(s deploy.Shift) shiftJSON {
	j := shiftJSON{
		Phase: s.Phase.String(), Step: s.Step, StepStart: s.StepStart, Deadline: s.Deadline, Paused: s.Paused,
		Percent: s.Percent, Change: s.Change, Applying: s.Applying, Servers: encodeServers(s.Servers),
		Reverting: s.Reverting, RevertError: s.RevertError, RevertSkip: s.RevertSkipped,
		Failure: errorJSON{Code: string(s.Failure.Code), Message: s.Failure.Message},
		Release: releaseJSON(s.Release),
	}
	for _, p := range s.Timeline {
		j.Timeline = append(j.Timeline, trafficPointJSON(p))
	}
	return j
}

func encodeServers(servers []deploy.ServerTraffic) []serverTrafficJSON {
	var out []serverTrafficJSON
	for _, st := range servers {
		out = append(out, serverTrafficJSON{Server: st.Server, Admin: st.Admin.String(), Weight: st.Weight, SetWeight: st.SetWeight})
	}
	return out
}

func encodeConfig(c deploy.Config) configJSON {
	j := configJSON{Name: c.Name, MinimumValue: c.MinimumHealthyHosts.Value}
	if c.MinimumHealthyHosts.Type != 0 {
		j.MinimumType = c.MinimumHealthyHosts.Type.String()
	}
	return j
}

// parser collects the first error of a series of enum parses, so decoding reads as a plain
// struct literal.
type parser struct{ err error }

func (p *parser) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

func (p *parser) status(s string) deploy.Status {
	v, err := deploy.ParseStatus(s)
	p.fail(err)
	return v
}

func (p *parser) creator(s string) deploy.Creator {
	v, err := deploy.ParseCreator(s)
	p.fail(err)
	return v
}

func (p *parser) health(s string) deploy.Health {
	v, err := deploy.ParseHealth(s)
	p.fail(err)
	return v
}

func (p *parser) instanceStatus(s string) deploy.InstanceStatus {
	v, err := deploy.ParseInstanceStatus(s)
	p.fail(err)
	return v
}

func (p *parser) eventStatus(s string) deploy.EventStatus {
	v, err := deploy.ParseEventStatus(s)
	p.fail(err)
	return v
}

func (p *parser) duration(field, s string) time.Duration {
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.fail(fmt.Errorf("%s: %w", field, err))
	}
	return d
}

func (p *parser) blueGreen(j blueGreenJSON) deploy.BlueGreenOptions {
	return deploy.BlueGreenOptions{
		Traffic: j.Traffic, ReadyWait: p.duration("ready_wait", j.ReadyWait),
		ReleaseCommand: j.ReleaseCommand, ReleaseWait: p.duration("release_wait", j.ReleaseWait),
	}
}

func (p *parser) shift(j shiftJSON) deploy.Shift {
	phase, err := deploy.ParsePhase(j.Phase)
	p.fail(err)
	s := deploy.Shift{
		Phase: phase, Step: j.Step, StepStart: j.StepStart, Deadline: j.Deadline, Paused: j.Paused,
		Percent: j.Percent, Change: j.Change, Applying: j.Applying, Servers: p.servers(j.Servers),
		Reverting: j.Reverting, RevertError: j.RevertError, RevertSkipped: j.RevertSkip,
		Failure: deploy.ErrorInfo{Code: deploy.ErrorCode(j.Failure.Code), Message: j.Failure.Message},
		Release: deploy.ReleaseRecord(j.Release),
	}
	for _, tp := range j.Timeline {
		s.Timeline = append(s.Timeline, deploy.TrafficPoint(tp))
	}
	return s
}

func (p *parser) servers(j []serverTrafficJSON) []deploy.ServerTraffic {
	var out []deploy.ServerTraffic
	for _, st := range j {
		out = append(out, deploy.ServerTraffic{Server: st.Server, Admin: p.admin(st.Admin), Weight: st.Weight, SetWeight: st.SetWeight})
	}
	return out
}

// admin parses traffic.AdminState names; traffic has no parser for them.
func (p *parser) admin(s string) traffic.AdminState {
	return parseName(p, "server admin state", s, traffic.Ready, traffic.Drain, traffic.Maint)
}

// revisionHealth parses deploy.RevisionHealth names; deploy has no parser for them.
func (p *parser) revisionHealth(s string) deploy.RevisionHealth {
	return parseName(p, "revision health", s, deploy.RevisionUnknown, deploy.RevisionOld, deploy.RevisionCurrent)
}

// parseName returns the value of values whose String is s.
func parseName[T fmt.Stringer](p *parser, what, s string, values ...T) T {
	for _, v := range values {
		if v.String() == s {
			return v
		}
	}
	p.fail(fmt.Errorf("unknown %s %q", what, s))
	var zero T
	return zero
}

func (p *parser) config(c configJSON) deploy.Config {
	out := deploy.Config{Name: c.Name, MinimumHealthyHosts: deploy.MinimumHealthyHosts{Value: c.MinimumValue}}
	if c.MinimumType == "" {
		// An unset type is kept unset: Start rejects it, the store need not.
		return out
	}
	t, err := deploy.ParseMinimumType(c.MinimumType)
	p.fail(err)
	out.MinimumHealthyHosts.Type = t
	return out
}

// Effects are stored as a kind and a JSON payload. The kinds are the names of deploy's effect
// types, so a row reads as what it asks for.
const (
	kindSendCommand       = "SendCommand"
	kindSetInstanceHealth = "SetInstanceHealth"
	kindSetGroupRevision  = "SetGroupRevision"
	kindFinished          = "Finished"
	kindStartRollback     = "StartRollback"
	kindSetTraffic        = "SetTraffic"
	kindReleaseOriginals  = "ReleaseOriginals"
	kindSwapFleets        = "SwapFleets"
	kindInvokeHook        = "InvokeHook"
	kindRunStep           = "RunStep"
)

// functionWorkJSON is an InvokeHook or a RunStep.
type functionWorkJSON struct {
	Deployment string `json:"deployment"`
	Instance   string `json:"instance"`
	Event      string `json:"event"`
	Attempt    int    `json:"attempt"`
}

type sendCommandJSON struct {
	Deployment    string    `json:"deployment"`
	Instance      string    `json:"instance"`
	Event         string    `json:"event"`
	Attempt       int       `json:"attempt"`
	LeaseDeadline time.Time `json:"lease_deadline"`
}

type setInstanceHealthJSON struct {
	Instance string `json:"instance"`
	Health   string `json:"health"`
	Revision string `json:"revision,omitempty"`
}

type setGroupRevisionJSON struct {
	Group    string `json:"group"`
	Revision string `json:"revision"`
}

type finishedJSON struct {
	Deployment string    `json:"deployment"`
	Status     string    `json:"status"`
	Error      errorJSON `json:"error"`
}

type startRollbackJSON struct {
	Deployment string `json:"deployment"`
	Group      string `json:"group"`
	Revision   string `json:"revision"`
}

type setTrafficJSON struct {
	Deployment  string              `json:"deployment"`
	Router      routerJSON          `json:"router"`
	Servers     []serverTrafficJSON `json:"servers"`
	WaitDrained bool                `json:"wait_drained,omitempty"`
	Instance    string              `json:"instance,omitempty"`
	Event       string              `json:"event,omitempty"`
	Attempt     int                 `json:"attempt,omitempty"`
	Change      int                 `json:"change,omitempty"`
	Platform    string              `json:"platform,omitempty"`
	Percent     int                 `json:"percent,omitempty"`
	Revert      bool                `json:"revert,omitempty"`
}

type releaseOriginalsJSON struct {
	Deployment  string   `json:"deployment"`
	Command     string   `json:"command"`
	Instances   []string `json:"instances"`
	InstanceIDs []string `json:"instance_ids"`
}

type swapFleetsJSON struct {
	Group string `json:"group"`
}

// EncodeEffect returns the kind tag and JSON payload the outbox stores for e.
func EncodeEffect(e deploy.Effect) (kind string, payload []byte, err error) {
	var v any
	switch e := e.(type) {
	case deploy.SendCommand:
		kind, v = kindSendCommand, sendCommandJSON(e)
	case deploy.SetInstanceHealth:
		kind, v = kindSetInstanceHealth, setInstanceHealthJSON{Instance: e.Instance, Health: e.Health.String(), Revision: e.Revision}
	case deploy.SetGroupRevision:
		kind, v = kindSetGroupRevision, setGroupRevisionJSON(e)
	case deploy.Finished:
		kind, v = kindFinished, finishedJSON{Deployment: e.Deployment, Status: e.Status.String(),
			Error: errorJSON{Code: string(e.Error.Code), Message: e.Error.Message}}
	case deploy.StartRollback:
		kind, v = kindStartRollback, startRollbackJSON(e)
	case deploy.SetTraffic:
		j := setTrafficJSON{Deployment: e.Deployment, Router: routerJSON(e.Router), Servers: encodeServers(e.Servers),
			WaitDrained: e.WaitDrained, Instance: e.Instance, Event: e.Event, Attempt: e.Attempt, Change: e.Change,
			Percent: e.Percent, Revert: e.Revert}
		if e.Platform != deploy.PlatformServer {
			j.Platform = e.Platform.String()
		}
		kind, v = kindSetTraffic, j
	case deploy.InvokeHook:
		kind, v = kindInvokeHook, functionWorkJSON(e)
	case deploy.RunStep:
		kind, v = kindRunStep, functionWorkJSON(e)
	case deploy.ReleaseOriginals:
		kind, v = kindReleaseOriginals, releaseOriginalsJSON(e)
	case deploy.SwapFleets:
		kind, v = kindSwapFleets, swapFleetsJSON(e)
	default:
		return "", nil, fmt.Errorf("encode effect: %w: unknown effect %T", ErrInvalid, e)
	}
	payload, err = json.Marshal(v)
	if err != nil {
		return "", nil, fmt.Errorf("encode effect %s: %w", kind, err)
	}
	return kind, payload, nil
}

// unmarshal decodes payload as a J, setting *err when it cannot.
func unmarshal[J any](payload []byte, err *error) J {
	var j J
	*err = json.Unmarshal(payload, &j)
	return j
}

// DecodeEffect reads an effect written by EncodeEffect.
func DecodeEffect(kind string, payload []byte) (deploy.Effect, error) {
	var p parser
	var out deploy.Effect
	var err error
	switch kind {
	case kindSendCommand:
		out = deploy.SendCommand(unmarshal[sendCommandJSON](payload, &err))
	case kindSetInstanceHealth:
		j := unmarshal[setInstanceHealthJSON](payload, &err)
		out = deploy.SetInstanceHealth{Instance: j.Instance, Health: p.health(j.Health), Revision: j.Revision}
	case kindSetGroupRevision:
		out = deploy.SetGroupRevision(unmarshal[setGroupRevisionJSON](payload, &err))
	case kindFinished:
		j := unmarshal[finishedJSON](payload, &err)
		out = deploy.Finished{Deployment: j.Deployment, Status: p.status(j.Status),
			Error: deploy.ErrorInfo{Code: deploy.ErrorCode(j.Error.Code), Message: j.Error.Message}}
	case kindStartRollback:
		out = deploy.StartRollback(unmarshal[startRollbackJSON](payload, &err))
	case kindSetTraffic:
		j := unmarshal[setTrafficJSON](payload, &err)
		st := deploy.SetTraffic{Deployment: j.Deployment, Router: deploy.Router(j.Router), Servers: p.servers(j.Servers),
			WaitDrained: j.WaitDrained, Instance: j.Instance, Event: j.Event, Attempt: j.Attempt, Change: j.Change,
			Percent: j.Percent, Revert: j.Revert}
		if j.Platform != "" {
			pl, perr := deploy.ParsePlatform(j.Platform)
			p.fail(perr)
			st.Platform = pl
		}
		out = st
	case kindInvokeHook:
		out = deploy.InvokeHook(unmarshal[functionWorkJSON](payload, &err))
	case kindRunStep:
		out = deploy.RunStep(unmarshal[functionWorkJSON](payload, &err))
	case kindReleaseOriginals:
		out = deploy.ReleaseOriginals(unmarshal[releaseOriginalsJSON](payload, &err))
	case kindSwapFleets:
		out = deploy.SwapFleets(unmarshal[swapFleetsJSON](payload, &err))
	default:
		return nil, fmt.Errorf("decode effect: unknown kind %q", kind)
	}
	if err == nil {
		err = p.err
	}
	if err != nil {
		return nil, fmt.Errorf("decode effect %s: %w", kind, err)
	}
	return out, nil
}

type tagFilterJSON struct {
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
	Type  string `json:"type"`
}

func encodeTagSet(s deploy.TagSet) ([]byte, error) {
	out := make([][]tagFilterJSON, 0, len(s))
	for _, g := range s {
		out = append(out, encodeTagGroup(g))
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode tag set: %w", err)
	}
	return b, nil
}

func encodeTagGroup(g []deploy.TagFilter) []tagFilterJSON {
	out := make([]tagFilterJSON, 0, len(g))
	for _, f := range g {
		out = append(out, tagFilterJSON{Key: f.Key, Value: f.Value, Type: f.Type.String()})
	}
	return out
}

func decodeTagSet(b []byte) (deploy.TagSet, error) {
	var in [][]tagFilterJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("decode tag set: %w", err)
	}
	if len(in) == 0 {
		return nil, nil
	}
	out := make(deploy.TagSet, 0, len(in))
	for _, g := range in {
		fg, err := decodeTagGroup(g)
		if err != nil {
			return nil, err
		}
		out = append(out, fg)
	}
	return out, nil
}

// decodeTagGroup reads one tag group; nil when it has no filter.
func decodeTagGroup(in []tagFilterJSON) ([]deploy.TagFilter, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]deploy.TagFilter, 0, len(in))
	for _, f := range in {
		t, err := deploy.ParseTagFilterType(f.Type)
		if err != nil {
			return nil, fmt.Errorf("decode tag set: %w", err)
		}
		out = append(out, deploy.TagFilter{Key: f.Key, Value: f.Value, Type: t})
	}
	return out, nil
}

type queueJSON struct {
	Active  string   `json:"active,omitempty"`
	Waiting []string `json:"waiting,omitempty"`
}

func encodeQueue(q deploy.Queue) ([]byte, error) {
	b, err := json.Marshal(queueJSON(q))
	if err != nil {
		return nil, fmt.Errorf("encode queue: %w", err)
	}
	return b, nil
}

func decodeQueue(b []byte) (deploy.Queue, error) {
	var q queueJSON
	if err := json.Unmarshal(b, &q); err != nil {
		return deploy.Queue{}, fmt.Errorf("decode queue: %w", err)
	}
	return deploy.Queue(q), nil
}
