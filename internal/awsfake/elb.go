package awsfake

import (
	"encoding/xml"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ELB stands in for the Elastic Load Balancing v2 API (the query protocol: form-encoded
// requests, XML answers; version 2015-12-01): DescribeListeners and ModifyListener, over
// listeners whose default action forwards to weighted target groups.
type ELB struct {
	*stub
	targetGroups map[string]bool
	listeners    map[string]*elbListener
	order        []string // listener ARNs in creation order
}

const elbNamespace = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"

type elbListener struct {
	arn     string
	port    int
	actions []actionDoc
	history []ListenerState
}

// ListenerState is where a listener's default action forwarded from At on.
type ListenerState struct {
	At time.Time
	// Weights maps each target group the listener forwards to to its weight.
	Weights map[string]int
}

// Percent returns the share of traffic (0-100) that targetGroup gets.
func (s ListenerState) Percent(targetGroup string) int {
	total := 0
	for _, w := range s.Weights {
		total += w
	}
	if total == 0 {
		return 0
	}
	return (s.Weights[targetGroup]*100 + total/2) / total
}

// The XML documents, with ELB's member names; lists are <member> elements.
type actionDoc struct {
	Type           string            `xml:"Type"`
	TargetGroupArn string            `xml:"TargetGroupArn,omitempty"`
	ForwardConfig  *forwardConfigDoc `xml:"ForwardConfig,omitempty"`
	Order          int               `xml:"Order,omitempty"`
}

type forwardConfigDoc struct {
	TargetGroups []targetGroupTupleDoc `xml:"TargetGroups>member"`
	Stickiness   struct {
		Enabled bool `xml:"Enabled"`
	} `xml:"TargetGroupStickinessConfig"`
}

type targetGroupTupleDoc struct {
	TargetGroupArn string `xml:"TargetGroupArn"`
	Weight         int    `xml:"Weight"`
}

type listenerDoc struct {
	ListenerArn     string      `xml:"ListenerArn"`
	LoadBalancerArn string      `xml:"LoadBalancerArn"`
	Port            int         `xml:"Port"`
	Protocol        string      `xml:"Protocol"`
	DefaultActions  []actionDoc `xml:"DefaultActions>member"`
}

// listenersResult is the result of both actions served; XMLName is set to the action's.
type listenersResult struct {
	XMLName   xml.Name
	Listeners []listenerDoc `xml:"Listeners>member"`
}

type elbResponse struct {
	XMLName   xml.Name
	Namespace string `xml:"xmlns,attr"`
	Result    listenersResult
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

// NewELB starts an ELBv2 stand-in whose history is stamped by now (nil: time.Now).
func NewELB(t testing.TB, now func() time.Time) *ELB {
	e := &ELB{targetGroups: map[string]bool{}, listeners: map[string]*elbListener{}}
	e.stub = newStub(t, "elasticloadbalancing", now, http.HandlerFunc(e.serve))
	return e
}

const loadBalancerArn = "arn:aws:elasticloadbalancing:" + region + ":" + account + ":loadbalancer/app/slipway/50dc6c495c0c9188"

// AddTargetGroup creates a target group and returns its ARN.
func (e *ELB) AddTargetGroup(name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	arn := fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:targetgroup/%s/%s", region, account, name, newID()[:16])
	e.targetGroups[arn] = true
	return arn
}

// AddListener creates a listener on port whose default action forwards to targetGroup, and
// returns its ARN.
func (e *ELB) AddListener(port int, targetGroup string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	arn := fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:listener/app/slipway/50dc6c495c0c9188/%s", region, account, newID()[:16])
	l := &elbListener{arn: arn, port: port}
	e.listeners[arn] = l
	e.order = append(e.order, arn)
	l.set(e.now(), []actionDoc{{Type: "forward", TargetGroupArn: targetGroup,
		ForwardConfig: &forwardConfigDoc{TargetGroups: []targetGroupTupleDoc{{TargetGroupArn: targetGroup, Weight: 1}}}}})
	return arn
}

// Listener returns where the listener forwards now.
func (e *ELB) Listener(arn string) ListenerState {
	h := e.ListenerHistory(arn)
	return h[len(h)-1]
}

// ListenerHistory returns every state of the listener, oldest first.
func (e *ELB) ListenerHistory(arn string) []ListenerState {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.listeners[arn].history)
}

func (l *elbListener) set(at time.Time, actions []actionDoc) {
	l.actions = actions
	weights := map[string]int{}
	for _, a := range actions {
		if a.Type != "forward" {
			continue
		}
		for _, tg := range a.ForwardConfig.TargetGroups {
			weights[tg.TargetGroupArn] = tg.Weight
		}
	}
	l.history = append(l.history, ListenerState{At: at, Weights: weights})
}

func (l *elbListener) doc() listenerDoc {
	return listenerDoc{ListenerArn: l.arn, LoadBalancerArn: loadBalancerArn, Port: l.port, Protocol: "HTTP", DefaultActions: l.actions}
}

func (e *ELB) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		writeELBError(w, badRequest("InvalidAction", "the query protocol posts a form"))
		return
	}
	if err := r.ParseForm(); err != nil {
		writeELBError(w, badRequest("MalformedQueryString", "%v", err))
		return
	}
	action := r.PostForm.Get("Action")
	if v := r.PostForm.Get("Version"); v != "2015-12-01" {
		writeELBError(w, badRequest("InvalidAction", "Version %q is not 2015-12-01", v))
		return
	}
	out, f := e.handle(r, action, map[string]op{
		"DescribeListeners": e.describeListeners,
		"ModifyListener":    e.modifyListener,
	})
	if f != nil {
		writeELBError(w, f)
		return
	}
	result := out.(listenersResult)
	result.XMLName = xml.Name{Local: action + "Result"}
	w.Header().Set("Content-Type", "text/xml")
	_ = xml.NewEncoder(w).Encode(elbResponse{
		XMLName:   xml.Name{Local: action + "Response"},
		Namespace: elbNamespace,
		Result:    result,
		RequestID: uuid(),
	})
}

func (e *ELB) describeListeners(r *http.Request) (any, *Fault) {
	arns := members(r, "ListenerArns.member.")
	if len(arns) == 0 {
		return nil, badRequest("ValidationError", "the stand-in describes listeners by ListenerArns only")
	}
	var out listenersResult
	for _, arn := range arns {
		l, ok := e.listeners[arn]
		if !ok {
			return nil, badRequest("ListenerNotFound", "One or more listeners not found")
		}
		out.Listeners = append(out.Listeners, l.doc())
	}
	return out, nil
}

var actionKeyRE = regexp.MustCompile(`^DefaultActions\.member\.(\d+)\.(Type|TargetGroupArn|Order|ForwardConfig\.TargetGroups\.member\.(\d+)\.(TargetGroupArn|Weight)|ForwardConfig\.TargetGroupStickinessConfig\.(Enabled|DurationSeconds))$`)

// modifyListener replaces the listener's default actions, with ELB's checks on forward
// actions: known target groups, weights from 0 to 999, and a TargetGroupArn that agrees with a
// one-group ForwardConfig.
func (e *ELB) modifyListener(r *http.Request) (any, *Fault) {
	arn := r.PostForm.Get("ListenerArn")
	l, ok := e.listeners[arn]
	if !ok {
		return nil, badRequest("ListenerNotFound", "One or more listeners not found")
	}
	byIndex := map[int]*actionDoc{}
	for key, vals := range r.PostForm {
		if !strings.HasPrefix(key, "DefaultActions.") {
			continue
		}
		m := actionKeyRE.FindStringSubmatch(key)
		if m == nil {
			return nil, badRequest("ValidationError", "the stand-in does not take %s", key)
		}
		i, _ := strconv.Atoi(m[1])
		a := byIndex[i]
		if a == nil {
			a = &actionDoc{}
			byIndex[i] = a
		}
		v := vals[0]
		switch {
		case m[2] == "Type":
			a.Type = v
		case m[2] == "TargetGroupArn":
			a.TargetGroupArn = v
		case m[2] == "Order":
			a.Order, _ = strconv.Atoi(v)
		case m[3] != "":
			j, _ := strconv.Atoi(m[3])
			if a.ForwardConfig == nil {
				a.ForwardConfig = &forwardConfigDoc{}
			}
			for len(a.ForwardConfig.TargetGroups) < j {
				a.ForwardConfig.TargetGroups = append(a.ForwardConfig.TargetGroups, targetGroupTupleDoc{Weight: -1})
			}
			tg := &a.ForwardConfig.TargetGroups[j-1]
			if m[4] == "TargetGroupArn" {
				tg.TargetGroupArn = v
			} else if tg.Weight, ok = atoi(v); !ok {
				return nil, badRequest("ValidationError", "%s %q is not a number", key, v)
			}
		}
	}
	if len(byIndex) == 0 {
		return listenersResult{Listeners: []listenerDoc{l.doc()}}, nil // DefaultActions not given: unchanged
	}
	var actions []actionDoc
	for _, i := range slices.Sorted(maps.Keys(byIndex)) {
		a := *byIndex[i]
		if f := e.checkForward(&a); f != nil {
			return nil, f
		}
		actions = append(actions, a)
	}
	l.set(e.now(), actions)
	return listenersResult{Listeners: []listenerDoc{l.doc()}}, nil
}

func atoi(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func (e *ELB) checkForward(a *actionDoc) *Fault {
	if a.Type != "forward" {
		return badRequest("ValidationError", "the stand-in takes forward actions only, not %q", a.Type)
	}
	if a.ForwardConfig == nil {
		if a.TargetGroupArn == "" {
			return badRequest("ValidationError", "A target group ARN must be specified")
		}
		a.ForwardConfig = &forwardConfigDoc{TargetGroups: []targetGroupTupleDoc{{TargetGroupArn: a.TargetGroupArn, Weight: 1}}}
	}
	tgs := a.ForwardConfig.TargetGroups
	if len(tgs) == 0 || len(tgs) > 5 {
		return badRequest("ValidationError", "A forward action takes 1 to 5 target groups, not %d", len(tgs))
	}
	seen := map[string]bool{}
	for _, tg := range tgs {
		switch {
		case tg.TargetGroupArn == "" || !e.targetGroups[tg.TargetGroupArn]:
			return badRequest("TargetGroupNotFound", "Target groups '%s' not found", tg.TargetGroupArn)
		case seen[tg.TargetGroupArn]:
			return badRequest("ValidationError", "Target group '%s' is listed twice", tg.TargetGroupArn)
		case tg.Weight < 0 || tg.Weight > 999:
			return badRequest("ValidationError", "Target group weight must be between 0 and 999")
		}
		seen[tg.TargetGroupArn] = true
	}
	if a.TargetGroupArn != "" && (len(tgs) != 1 || tgs[0].TargetGroupArn != a.TargetGroupArn) {
		return badRequest("ValidationError", "You cannot specify both a target group ARN and a forward config with a different or several target groups")
	}
	if len(tgs) == 1 {
		a.TargetGroupArn = tgs[0].TargetGroupArn
	}
	return nil
}

// members reads a query list: prefix1, prefix2, ... in order.
func members(r *http.Request, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := r.PostForm[prefix+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

// writeELBError answers as the query protocol does: an ErrorResponse document.
func writeELBError(w http.ResponseWriter, f *Fault) {
	kind := "Sender"
	if f.Status >= 500 {
		kind = "Receiver"
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(f.Status)
	_ = xml.NewEncoder(w).Encode(struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		Namespace string   `xml:"xmlns,attr"`
		Type      string   `xml:"Error>Type"`
		Code      string   `xml:"Error>Code"`
		Message   string   `xml:"Error>Message"`
		RequestID string   `xml:"RequestId"`
	}{Namespace: elbNamespace, Type: kind, Code: f.Code, Message: f.Message, RequestID: uuid()})
}
