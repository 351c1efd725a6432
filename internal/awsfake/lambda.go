package awsfake

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Lambda stands in for the Lambda API (REST-JSON, API version 2015-03-31): GetAlias,
// UpdateAlias and Invoke, over functions with published versions and aliases.
type Lambda struct {
	*stub
	functions  map[string]*function
	syncEvents bool
}

type function struct {
	name     string
	versions int // published versions are "1" to versions
	aliases  map[string]*alias
	invoked  []Invocation
	handler  func(Invocation)
}

type alias struct {
	name     string
	version  string
	weights  map[string]float64
	revision string
	history  []AliasState
}

// AliasState is an alias as it stood from At on.
type AliasState struct {
	At      time.Time
	Version string
	// Weights maps an additional version to its share of the traffic, 0 to 1.
	Weights map[string]float64
}

// Percent returns the share of traffic (0-100) that version gets from the alias.
func (a AliasState) Percent(version string) int {
	extra := 0.0
	for _, w := range a.Weights {
		extra += w
	}
	if version == a.Version {
		return int((1-extra)*100 + 0.5)
	}
	return int(a.Weights[version]*100 + 0.5)
}

// Invocation is one Invoke call that reached a function.
type Invocation struct {
	At       time.Time
	Function string
	// Type is Event, RequestResponse or DryRun.
	Type    string
	Payload []byte
}

// NewLambda starts a Lambda stand-in whose history is stamped by now (nil: time.Now).
func NewLambda(t testing.TB, now func() time.Time) *Lambda {
	l := &Lambda{functions: map[string]*function{}}
	l.stub = newStub(t, "lambda", now, http.HandlerFunc(l.serve))
	return l
}

// AddFunction creates a function with versions published versions ("1" to versions).
func (l *Lambda) AddFunction(name string, versions int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.functions[name] = &function{name: name, versions: versions, aliases: map[string]*alias{}}
}

// AddAlias points a new alias of function at version.
func (l *Lambda) AddAlias(fn, name, version string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := &alias{name: name, version: version, revision: uuid()}
	a.history = append(a.history, AliasState{At: l.now(), Version: version})
	l.functions[fn].aliases[name] = a
}

// OnInvoke sets what function does when invoked; an Event invocation runs h in its own
// goroutine after the 202 answer, as Lambda runs queued events.
func (l *Lambda) OnInvoke(fn string, h func(Invocation)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.functions[fn].handler = h
}

// SyncEvents makes an Event invocation run the function's handler before the 202 answer
// instead of after it. Lambda queues events, so a real verdict always comes later; a test that
// drives a manual clock wants the verdict in before the code under test starts waiting.
func (l *Lambda) SyncEvents() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.syncEvents = true
}

// Alias returns the alias as it stands.
func (l *Lambda) Alias(fn, name string) AliasState {
	h := l.AliasHistory(fn, name)
	return h[len(h)-1]
}

// AliasHistory returns every state the alias has been in, oldest first.
func (l *Lambda) AliasHistory(fn, name string) []AliasState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.functions[fn].aliases[name].history)
}

// Invocations returns the invocations of function so far.
func (l *Lambda) Invocations(fn string) []Invocation {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.functions[fn].invoked)
}

// aliasDoc is the AliasConfiguration shape.
type aliasDoc struct {
	AliasArn        string          `json:"AliasArn"`
	Name            string          `json:"Name"`
	FunctionVersion string          `json:"FunctionVersion"`
	Description     string          `json:"Description"`
	RevisionId      string          `json:"RevisionId"` //nolint:revive // the wire name
	RoutingConfig   *routingConfDoc `json:"RoutingConfig,omitempty"`
}

type routingConfDoc struct {
	AdditionalVersionWeights map[string]float64 `json:"AdditionalVersionWeights"`
}

type updateAliasDoc struct {
	FunctionVersion *string         `json:"FunctionVersion"`
	Description     *string         `json:"Description"`
	RoutingConfig   *routingConfDoc `json:"RoutingConfig"`
	RevisionId      *string         `json:"RevisionId"` //nolint:revive // the wire name
}

func (l *Lambda) serve(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	for i, p := range parts {
		if u, err := url.PathUnescape(p); err == nil {
			parts[i] = u
		}
	}
	var action string
	switch {
	case len(parts) == 5 && parts[0] == "2015-03-31" && parts[1] == "functions" && parts[3] == "aliases" && r.Method == http.MethodGet:
		action = "GetAlias"
	case len(parts) == 5 && parts[0] == "2015-03-31" && parts[1] == "functions" && parts[3] == "aliases" && r.Method == http.MethodPut:
		action = "UpdateAlias"
	case len(parts) == 4 && parts[0] == "2015-03-31" && parts[1] == "functions" && parts[3] == "invocations" && r.Method == http.MethodPost:
		action = "Invoke"
	default:
		writeLambdaError(w, notFound("UnknownOperationException", "Unknown operation %s %s", r.Method, r.URL.Path))
		return
	}
	l.mu.Lock()
	if f := l.admit(r, action); f != nil {
		l.mu.Unlock()
		writeLambdaError(w, f)
		return
	}
	fn, f := l.function(parts[2])
	if f != nil {
		l.mu.Unlock()
		writeLambdaError(w, f)
		return
	}
	if action == "Invoke" {
		l.invoke(w, r, fn) // unlocks
		return
	}
	defer l.mu.Unlock()
	a, ok := fn.aliases[parts[4]]
	if !ok {
		writeLambdaError(w, notFound("ResourceNotFoundException", "Alias not found: %s", l.aliasArn(fn, parts[4])))
		return
	}
	if action == "UpdateAlias" {
		if f := l.updateAlias(r, fn, a); f != nil {
			writeLambdaError(w, f)
			return
		}
	}
	writeJSON(w, http.StatusOK, l.aliasDoc(fn, a))
}

// function resolves a FunctionName: a name, a partial ARN or an ARN.
func (l *Lambda) function(name string) (*function, *Fault) {
	short := name
	if i := strings.LastIndex(name, ":function:"); i >= 0 {
		short = name[i+len(":function:"):]
	}
	if fn, ok := l.functions[short]; ok {
		return fn, nil
	}
	return nil, notFound("ResourceNotFoundException", "Function not found: %s", functionArn(short))
}

func functionArn(name string) string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region, account, name)
}

func (l *Lambda) aliasArn(fn *function, name string) string { return functionArn(fn.name) + ":" + name }

func (l *Lambda) aliasDoc(fn *function, a *alias) aliasDoc {
	d := aliasDoc{AliasArn: l.aliasArn(fn, a.name), Name: a.name, FunctionVersion: a.version, RevisionId: a.revision}
	if len(a.weights) > 0 {
		d.RoutingConfig = &routingConfDoc{AdditionalVersionWeights: maps.Clone(a.weights)}
	}
	return d
}

// updateAlias applies an UpdateAlias request with Lambda's checks: the revision matches when
// given, versions are published ones, at most one additional version with a weight from 0 to 1,
// never the alias's own version, and no weights on $LATEST.
func (l *Lambda) updateAlias(r *http.Request, fn *function, a *alias) *Fault {
	var in updateAliasDoc
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		return badRequest("InvalidRequestContentException", "Could not parse request body into json: %v", err)
	}
	if in.RevisionId != nil && *in.RevisionId != a.revision {
		return &Fault{Status: http.StatusPreconditionFailed, Code: "PreconditionFailedException",
			Message: "The Revision Id provided does not match the latest Revision Id. Call the GetAlias API to retrieve the latest Revision Id"}
	}
	version := a.version
	if in.FunctionVersion != nil {
		version = *in.FunctionVersion
	}
	if !fn.published(version) && version != "$LATEST" {
		return notFound("ResourceNotFoundException", "Function not found: %s:%s", functionArn(fn.name), version)
	}
	weights := a.weights
	if in.RoutingConfig != nil {
		weights = in.RoutingConfig.AdditionalVersionWeights
	}
	if len(weights) > 1 {
		return badRequest("InvalidParameterValueException", "Number of items in AdditionalVersionWeights cannot be greater than 1")
	}
	for v, w := range weights {
		switch {
		case w < 0 || w > 1:
			return badRequest("InvalidParameterValueException", "1 validation error detected: Value at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]")
		case v == version:
			return badRequest("InvalidParameterValueException", "Invalid function version %s. Function version %s is already included in routing configuration.", v, v)
		case version == "$LATEST" || v == "$LATEST":
			return badRequest("InvalidParameterValueException", "$LATEST is not supported for an alias pointing to more than 1 version")
		case !fn.published(v):
			return notFound("ResourceNotFoundException", "Function not found: %s:%s", functionArn(fn.name), v)
		}
	}
	a.version, a.weights, a.revision = version, maps.Clone(weights), uuid()
	a.history = append(a.history, AliasState{At: l.now(), Version: version, Weights: maps.Clone(weights)})
	return nil
}

func (fn *function) published(v string) bool {
	n, err := strconv.Atoi(v)
	return err == nil && n >= 1 && n <= fn.versions && strconv.Itoa(n) == v
}

// invoke answers Invoke; it is called with l.mu held and unlocks it.
func (l *Lambda) invoke(w http.ResponseWriter, r *http.Request, fn *function) {
	typ := r.Header.Get("X-Amz-Invocation-Type")
	if typ == "" {
		typ = "RequestResponse"
	}
	payload, err := io.ReadAll(r.Body)
	if err != nil {
		l.mu.Unlock()
		writeLambdaError(w, badRequest("InvalidRequestContentException", "read payload: %v", err))
		return
	}
	if len(payload) > 0 && !json.Valid(payload) {
		l.mu.Unlock()
		writeLambdaError(w, badRequest("InvalidRequestContentException", "Could not parse request body into json"))
		return
	}
	inv := Invocation{At: l.now(), Function: fn.name, Type: typ, Payload: payload}
	fn.invoked = append(fn.invoked, inv)
	h, sync := fn.handler, l.syncEvents
	l.mu.Unlock()
	switch typ {
	case "Event":
		if h != nil && sync {
			h(inv)
		}
		w.WriteHeader(http.StatusAccepted)
		if h != nil && !sync {
			go h(inv)
		}
	case "DryRun":
		w.WriteHeader(http.StatusNoContent)
	case "RequestResponse":
		if h != nil {
			h(inv)
		}
		writeJSON(w, http.StatusOK, nil)
	default:
		writeLambdaError(w, badRequest("InvalidParameterValueException", "Invalid InvocationType %q", typ))
	}
}

// writeLambdaError answers as Lambda does: the code in X-Amzn-ErrorType and a JSON body with
// Type and message.
func writeLambdaError(w http.ResponseWriter, f *Fault) {
	w.Header().Set("X-Amzn-ErrorType", f.Code)
	kind := "User"
	if f.Status >= 500 {
		kind = "Service"
	}
	writeJSON(w, f.Status, map[string]string{"Type": kind, "message": f.Message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-RequestId", uuid())
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// SetAlias changes an alias behind the deployment's back, as another user or tool would.
func (l *Lambda) SetAlias(fn, name, version string, weights map[string]float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.functions[fn].aliases[name]
	a.version, a.weights, a.revision = version, maps.Clone(weights), uuid()
	a.history = append(a.history, AliasState{At: l.now(), Version: version, Weights: maps.Clone(weights)})
}
