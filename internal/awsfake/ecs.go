package awsfake

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// ECS stands in for the ECS API (JSON 1.1, target prefix AmazonEC2ContainerServiceV20141113):
// DescribeServices, CreateTaskSet, UpdateServicePrimaryTaskSet and DeleteTaskSet, over services
// with the EXTERNAL deployment controller.
type ECS struct {
	*stub
	services map[string]*ecsService // by cluster/service
	// steadyAfter is how many describes a new task set reports STABILIZING before STEADY_STATE;
	// negative: never.
	steadyAfter int
}

const ecsTargetPrefix = "AmazonEC2ContainerServiceV20141113."

type ecsService struct {
	cluster, name string
	controller    string
	desired       int
	taskSets      []*ecsTaskSet
	history       []TaskSetChange
}

type ecsTaskSet struct {
	doc         taskSetDoc
	describes   int // describes since creation, for stabilising
	clientToken string
}

// TaskSetChange is one change to a service's task sets.
type TaskSetChange struct {
	At      time.Time
	TaskSet string // id
	// Change is created, steady, primary, or deleted.
	Change string
	// TargetGroup is the task set's target group.
	TargetGroup string
}

// TaskSet is a task set as it stands.
type TaskSet struct {
	ID, ARN         string
	Status          string // PRIMARY, ACTIVE or DRAINING
	TaskDefinition  string
	ExternalID      string
	Scale           float64 // percent
	StabilityStatus string  // STEADY_STATE or STABILIZING
	TargetGroup     string
	ContainerName   string
	ContainerPort   int
	LaunchType      string
	PlatformVersion string
	Subnets         []string
	SecurityGroups  []string
	AssignPublicIP  string
	// CapacityProviders lists "provider:base:weight" entries.
	CapacityProviders []string
}

// The JSON documents, with ECS's member names.
type taskSetDoc struct {
	ID                       string            `json:"id"`
	TaskSetArn               string            `json:"taskSetArn"`
	ServiceArn               string            `json:"serviceArn"`
	ClusterArn               string            `json:"clusterArn"`
	ExternalID               string            `json:"externalId,omitempty"`
	Status                   string            `json:"status"`
	TaskDefinition           string            `json:"taskDefinition"`
	ComputedDesiredCount     int               `json:"computedDesiredCount"`
	PendingCount             int               `json:"pendingCount"`
	RunningCount             int               `json:"runningCount"`
	CreatedAt                float64           `json:"createdAt"`
	UpdatedAt                float64           `json:"updatedAt"`
	LaunchType               string            `json:"launchType,omitempty"`
	CapacityProviderStrategy []capacityItemDoc `json:"capacityProviderStrategy,omitempty"`
	PlatformVersion          string            `json:"platformVersion,omitempty"`
	NetworkConfiguration     *networkConfDoc   `json:"networkConfiguration,omitempty"`
	LoadBalancers            []loadBalancerDoc `json:"loadBalancers,omitempty"`
	Scale                    *scaleDoc         `json:"scale,omitempty"`
	StabilityStatus          string            `json:"stabilityStatus"`
	StabilityStatusAt        float64           `json:"stabilityStatusAt"`
}

type capacityItemDoc struct {
	CapacityProvider string `json:"capacityProvider"`
	Base             int    `json:"base,omitempty"`
	Weight           int    `json:"weight,omitempty"`
}

type networkConfDoc struct {
	AwsvpcConfiguration *awsvpcDoc `json:"awsvpcConfiguration,omitempty"`
}

type awsvpcDoc struct {
	Subnets        []string `json:"subnets"`
	SecurityGroups []string `json:"securityGroups,omitempty"`
	AssignPublicIP string   `json:"assignPublicIp,omitempty"`
}

type controllerDoc struct {
	Type string `json:"type"`
}

type loadBalancerDoc struct {
	TargetGroupArn string `json:"targetGroupArn,omitempty"`
	ContainerName  string `json:"containerName,omitempty"`
	ContainerPort  int    `json:"containerPort,omitempty"`
}

type scaleDoc struct {
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

type serviceDoc struct {
	ServiceArn           string         `json:"serviceArn"`
	ServiceName          string         `json:"serviceName"`
	ClusterArn           string         `json:"clusterArn"`
	Status               string         `json:"status"`
	DesiredCount         int            `json:"desiredCount"`
	RunningCount         int            `json:"runningCount"`
	DeploymentController *controllerDoc `json:"deploymentController,omitempty"`
	TaskSets             []taskSetDoc   `json:"taskSets"`
}

type failureDoc struct {
	Arn    string `json:"arn"`
	Reason string `json:"reason"`
}

// ECSService is a service to create, with its first (primary, steady) task set.
type ECSService struct {
	Cluster, Service string
	// Controller is the deployment controller type; "" means EXTERNAL.
	Controller     string
	DesiredCount   int
	TaskDefinition string
	TargetGroup    string
	ContainerName  string
	ContainerPort  int
	LaunchType     string
	Subnets        []string
}

// NewECS starts an ECS stand-in whose history is stamped by now (nil: time.Now). New task sets
// are steady from their second describe on.
func NewECS(t testing.TB, now func() time.Time) *ECS {
	e := &ECS{services: map[string]*ecsService{}, steadyAfter: 1}
	e.stub = newStub(t, "ecs", now, http.HandlerFunc(e.serve))
	return e
}

// SteadyAfter sets how many describes a new task set reports STABILIZING before it is steady;
// negative keeps new task sets stabilising for ever (their tasks never start).
func (e *ECS) SteadyAfter(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.steadyAfter = n
}

// AddService creates a service and its primary task set. It returns the task set's id.
func (e *ECS) AddService(s ECSService) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s.Controller == "" {
		s.Controller = "EXTERNAL"
	}
	svc := &ecsService{cluster: s.Cluster, name: s.Service, controller: s.Controller, desired: s.DesiredCount}
	e.services[s.Cluster+"/"+s.Service] = svc
	if s.TaskDefinition == "" {
		return ""
	}
	ts := e.newTaskSet(svc, taskSetDoc{
		TaskDefinition: s.TaskDefinition, LaunchType: s.LaunchType,
		LoadBalancers: []loadBalancerDoc{{TargetGroupArn: s.TargetGroup, ContainerName: s.ContainerName, ContainerPort: s.ContainerPort}},
		Scale:         &scaleDoc{Value: 100, Unit: "PERCENT"},
	})
	if len(s.Subnets) > 0 {
		ts.doc.NetworkConfiguration = &networkConfDoc{AwsvpcConfiguration: &awsvpcDoc{Subnets: s.Subnets}}
	}
	e.steady(svc, ts)
	ts.doc.Status = "PRIMARY"
	svc.history = append(svc.history, TaskSetChange{At: e.now(), TaskSet: ts.doc.ID, Change: "primary", TargetGroup: s.TargetGroup})
	return ts.doc.ID
}

// TaskSets returns the service's task sets as they stand.
func (e *ECS) TaskSets(cluster, service string) []TaskSet {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []TaskSet
	for _, ts := range e.services[cluster+"/"+service].taskSets {
		out = append(out, ts.public())
	}
	return out
}

// History returns the changes to the service's task sets, oldest first.
func (e *ECS) History(cluster, service string) []TaskSetChange {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.services[cluster+"/"+service].history)
}

func (ts *ecsTaskSet) public() TaskSet {
	d := ts.doc
	p := TaskSet{ID: d.ID, ARN: d.TaskSetArn, Status: d.Status, TaskDefinition: d.TaskDefinition, ExternalID: d.ExternalID,
		StabilityStatus: d.StabilityStatus, LaunchType: d.LaunchType, PlatformVersion: d.PlatformVersion}
	if d.Scale != nil {
		p.Scale = d.Scale.Value
	}
	if len(d.LoadBalancers) > 0 {
		p.TargetGroup, p.ContainerName, p.ContainerPort = d.LoadBalancers[0].TargetGroupArn, d.LoadBalancers[0].ContainerName, d.LoadBalancers[0].ContainerPort
	}
	if n := d.NetworkConfiguration; n != nil && n.AwsvpcConfiguration != nil {
		p.Subnets, p.SecurityGroups, p.AssignPublicIP = n.AwsvpcConfiguration.Subnets, n.AwsvpcConfiguration.SecurityGroups, n.AwsvpcConfiguration.AssignPublicIP
	}
	for _, c := range d.CapacityProviderStrategy {
		p.CapacityProviders = append(p.CapacityProviders, fmt.Sprintf("%s:%d:%d", c.CapacityProvider, c.Base, c.Weight))
	}
	return p
}

func (svc *ecsService) arn() string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:service/%s/%s", region, account, svc.cluster, svc.name)
}

func clusterArn(name string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:cluster/%s", region, account, name)
}

func (e *ECS) newTaskSet(svc *ecsService, d taskSetDoc) *ecsTaskSet {
	now := epochSeconds(e.now())
	var b [8]byte
	_, _ = rand.Read(b[:])
	d.ID = fmt.Sprintf("ecs-svc/%019d", binary.BigEndian.Uint64(b[:])>>1)
	d.TaskSetArn = fmt.Sprintf("arn:aws:ecs:%s:%s:task-set/%s/%s/%s", region, account, svc.cluster, svc.name, d.ID)
	d.ServiceArn, d.ClusterArn = svc.arn(), clusterArn(svc.cluster)
	d.Status = "ACTIVE"
	d.CreatedAt, d.UpdatedAt, d.StabilityStatusAt = now, now, now
	d.StabilityStatus = "STABILIZING"
	d.ComputedDesiredCount = int(math.Ceil(float64(svc.desired) * d.Scale.Value / 100))
	d.PendingCount = d.ComputedDesiredCount
	ts := &ecsTaskSet{doc: d}
	svc.taskSets = append(svc.taskSets, ts)
	svc.history = append(svc.history, TaskSetChange{At: e.now(), TaskSet: d.ID, Change: "created", TargetGroup: ts.public().TargetGroup})
	return ts
}

func (e *ECS) steady(svc *ecsService, ts *ecsTaskSet) {
	ts.doc.StabilityStatus = "STEADY_STATE"
	ts.doc.StabilityStatusAt = epochSeconds(e.now())
	ts.doc.RunningCount, ts.doc.PendingCount = ts.doc.ComputedDesiredCount, 0
	svc.history = append(svc.history, TaskSetChange{At: e.now(), TaskSet: ts.doc.ID, Change: "steady", TargetGroup: ts.public().TargetGroup})
}

// described counts a describe of ts and makes it steady when its time has come.
func (e *ECS) described(svc *ecsService, ts *ecsTaskSet) {
	if ts.doc.StabilityStatus == "STEADY_STATE" {
		return
	}
	ts.describes++
	if e.steadyAfter >= 0 && ts.describes > e.steadyAfter {
		e.steady(svc, ts)
	}
}

func epochSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func (e *ECS) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	action, ok := strings.CutPrefix(target, ecsTargetPrefix)
	if r.Method != http.MethodPost || !ok || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		writeECSError(w, badRequest("UnknownOperationException", "unknown operation %q", target))
		return
	}
	out, f := e.handle(r, action, map[string]op{
		"DescribeServices":            e.describeServices,
		"CreateTaskSet":               e.createTaskSet,
		"UpdateServicePrimaryTaskSet": e.updatePrimary,
		"DeleteTaskSet":               e.deleteTaskSet,
	})
	if f != nil {
		writeECSError(w, f)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", uuid())
	_ = json.NewEncoder(w).Encode(out)
}

func decodeECS(r *http.Request, v any) *Fault {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return badRequest("SerializationException", "decode request: %v", err)
	}
	return nil
}

// lastPart reads a name or an ARN's last path element.
func lastPart(s string) string {
	if i := strings.LastIndex(s, "/"); i >= 0 && strings.HasPrefix(s, "arn:") {
		return s[i+1:]
	}
	return s
}

func (e *ECS) service(cluster, service string) (*ecsService, *Fault) {
	c, s := lastPart(cluster), lastPart(service)
	if c == "" {
		c = "default"
	}
	svc, ok := e.services[c+"/"+s]
	if !ok {
		if !e.hasCluster(c) {
			return nil, badRequest("ClusterNotFoundException", "Cluster not found.")
		}
		return nil, badRequest("ServiceNotFoundException", "Service not found.")
	}
	return svc, nil
}

func (e *ECS) hasCluster(c string) bool {
	for _, svc := range e.services {
		if svc.cluster == c {
			return true
		}
	}
	return false
}

func (svc *ecsService) taskSet(idOrArn string) (*ecsTaskSet, *Fault) {
	for _, ts := range svc.taskSets {
		if ts.doc.ID == idOrArn || ts.doc.TaskSetArn == idOrArn {
			return ts, nil
		}
	}
	return nil, badRequest("TaskSetNotFoundException", "The specified task set does not exist.")
}

func (e *ECS) describeServices(r *http.Request) (any, *Fault) {
	var in struct {
		Cluster  string   `json:"cluster"`
		Services []string `json:"services"`
	}
	if f := decodeECS(r, &in); f != nil {
		return nil, f
	}
	out := struct {
		Services []serviceDoc `json:"services"`
		Failures []failureDoc `json:"failures"`
	}{Services: []serviceDoc{}, Failures: []failureDoc{}}
	for _, name := range in.Services {
		svc, f := e.service(in.Cluster, name)
		if f != nil {
			if f.Code == "ClusterNotFoundException" {
				return nil, f
			}
			out.Failures = append(out.Failures, failureDoc{Arn: name, Reason: "MISSING"})
			continue
		}
		d := serviceDoc{ServiceArn: svc.arn(), ServiceName: svc.name, ClusterArn: clusterArn(svc.cluster), Status: "ACTIVE",
			DesiredCount: svc.desired, DeploymentController: &controllerDoc{svc.controller}, TaskSets: []taskSetDoc{}}
		for _, ts := range svc.taskSets {
			e.described(svc, ts)
			d.TaskSets = append(d.TaskSets, ts.doc)
			d.RunningCount += ts.doc.RunningCount
		}
		out.Services = append(out.Services, d)
	}
	return out, nil
}

func (e *ECS) createTaskSet(r *http.Request) (any, *Fault) {
	var in struct {
		Cluster                  string            `json:"cluster"`
		Service                  string            `json:"service"`
		TaskDefinition           string            `json:"taskDefinition"`
		ExternalID               string            `json:"externalId"`
		NetworkConfiguration     *networkConfDoc   `json:"networkConfiguration"`
		LoadBalancers            []loadBalancerDoc `json:"loadBalancers"`
		LaunchType               string            `json:"launchType"`
		CapacityProviderStrategy []capacityItemDoc `json:"capacityProviderStrategy"`
		PlatformVersion          string            `json:"platformVersion"`
		Scale                    *scaleDoc         `json:"scale"`
		ClientToken              string            `json:"clientToken"`
	}
	if f := decodeECS(r, &in); f != nil {
		return nil, f
	}
	svc, f := e.service(in.Cluster, in.Service)
	if f != nil {
		return nil, f
	}
	switch {
	case svc.controller != "EXTERNAL":
		return nil, badRequest("InvalidParameterException", "Task sets can only be created for services using the EXTERNAL deployment controller.")
	case in.TaskDefinition == "":
		return nil, badRequest("InvalidParameterException", "Task Definition can not be blank.")
	case in.LaunchType != "" && len(in.CapacityProviderStrategy) > 0:
		return nil, badRequest("InvalidParameterException", "Specifying both a launch type and capacity provider strategy is not supported.")
	case len(in.LoadBalancers) > 1:
		return nil, badRequest("InvalidParameterException", "the stand-in takes one load balancer per task set")
	}
	if in.ClientToken != "" {
		for _, ts := range svc.taskSets {
			if ts.clientToken == in.ClientToken {
				return map[string]taskSetDoc{"taskSet": ts.doc}, nil
			}
		}
	}
	if in.Scale == nil {
		in.Scale = &scaleDoc{Value: 100, Unit: "PERCENT"}
	}
	ts := e.newTaskSet(svc, taskSetDoc{
		TaskDefinition: in.TaskDefinition, ExternalID: in.ExternalID, LaunchType: in.LaunchType,
		CapacityProviderStrategy: in.CapacityProviderStrategy, PlatformVersion: in.PlatformVersion,
		NetworkConfiguration: in.NetworkConfiguration, LoadBalancers: in.LoadBalancers, Scale: in.Scale,
	})
	ts.clientToken = in.ClientToken
	if e.steadyAfter == 0 {
		e.steady(svc, ts)
	}
	return map[string]taskSetDoc{"taskSet": ts.doc}, nil
}

func (e *ECS) updatePrimary(r *http.Request) (any, *Fault) {
	var in struct {
		Cluster        string `json:"cluster"`
		Service        string `json:"service"`
		PrimaryTaskSet string `json:"primaryTaskSet"`
	}
	if f := decodeECS(r, &in); f != nil {
		return nil, f
	}
	svc, f := e.service(in.Cluster, in.Service)
	if f != nil {
		return nil, f
	}
	ts, f := svc.taskSet(in.PrimaryTaskSet)
	if f != nil {
		return nil, f
	}
	for _, other := range svc.taskSets {
		if other.doc.Status == "PRIMARY" {
			other.doc.Status = "ACTIVE"
		}
	}
	ts.doc.Status = "PRIMARY"
	ts.doc.UpdatedAt = epochSeconds(e.now())
	svc.history = append(svc.history, TaskSetChange{At: e.now(), TaskSet: ts.doc.ID, Change: "primary", TargetGroup: ts.public().TargetGroup})
	return map[string]taskSetDoc{"taskSet": ts.doc}, nil
}

func (e *ECS) deleteTaskSet(r *http.Request) (any, *Fault) {
	var in struct {
		Cluster string `json:"cluster"`
		Service string `json:"service"`
		TaskSet string `json:"taskSet"`
		Force   bool   `json:"force"`
	}
	if f := decodeECS(r, &in); f != nil {
		return nil, f
	}
	svc, f := e.service(in.Cluster, in.Service)
	if f != nil {
		return nil, f
	}
	ts, f := svc.taskSet(in.TaskSet)
	if f != nil {
		return nil, f
	}
	if ts.doc.Status == "PRIMARY" {
		return nil, badRequest("InvalidParameterException", "The primary task set of a service cannot be deleted; make another task set primary first.")
	}
	if !in.Force && ts.doc.Scale != nil && ts.doc.Scale.Value > 0 {
		return nil, badRequest("InvalidParameterException", "The task set must be scaled down to zero before it can be deleted, or be deleted with force.")
	}
	ts.doc.Status = "DRAINING"
	ts.doc.UpdatedAt = epochSeconds(e.now())
	svc.taskSets = slices.DeleteFunc(svc.taskSets, func(o *ecsTaskSet) bool { return o == ts })
	svc.history = append(svc.history, TaskSetChange{At: e.now(), TaskSet: ts.doc.ID, Change: "deleted", TargetGroup: ts.public().TargetGroup})
	return map[string]taskSetDoc{"taskSet": ts.doc}, nil
}

// writeECSError answers as the JSON 1.1 services do: a body with __type and message.
func writeECSError(w http.ResponseWriter, f *Fault) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", uuid())
	w.WriteHeader(f.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": f.Code, "message": f.Message})
}
