package awsfake

import (
	"testing"
	"time"
)

// The service BlueGreen creates.
const (
	BlueGreenCluster = "prod"
	BlueGreenService = "web"
	// BlueGreenTaskDefinition is the original task set's; NextTaskDefinition a new revision.
	BlueGreenTaskDefinition = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:6"
	NextTaskDefinition      = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7"
	BlueGreenContainer      = "web"
	BlueGreenPort           = 8000
	// BlueGreenDesired is the service's desired count.
	BlueGreenDesired = 3
)

// BlueGreen is an ECS service ready for a blue/green deployment: its primary task set (three
// Fargate tasks in subnet-0aa) serves in the blue target group, which a production listener
// (port 443) and a test listener (port 8443) forward to; the green target group is empty.
type BlueGreen struct {
	ECS         *ECS
	ELB         *ELB
	Blue, Green string // target group ARNs
	Production  string // listener ARNs
	Test        string
	// Original is the id of the primary task set.
	Original string
}

// NewBlueGreen starts ECS and ELBv2 stand-ins stamped by now (nil: time.Now) holding a
// BlueGreen service.
func NewBlueGreen(t testing.TB, now func() time.Time) *BlueGreen {
	w := &BlueGreen{ECS: NewECS(t, now), ELB: NewELB(t, now)}
	w.Blue, w.Green = w.ELB.AddTargetGroup("web-blue"), w.ELB.AddTargetGroup("web-green")
	w.Production, w.Test = w.ELB.AddListener(443, w.Blue), w.ELB.AddListener(8443, w.Blue)
	w.Original = w.ECS.AddService(ECSService{
		Cluster: BlueGreenCluster, Service: BlueGreenService, DesiredCount: BlueGreenDesired,
		TaskDefinition: BlueGreenTaskDefinition, TargetGroup: w.Blue, ContainerName: BlueGreenContainer, ContainerPort: BlueGreenPort,
		LaunchType: "FARGATE", Subnets: []string{"subnet-0aa"},
	})
	return w
}

// TaskSets returns the service's task sets as they stand.
func (w *BlueGreen) TaskSets() []TaskSet { return w.ECS.TaskSets(BlueGreenCluster, BlueGreenService) }

// Side names the side of a target group: "blue", "green", or its ARN.
func (w *BlueGreen) Side(targetGroup string) string {
	switch targetGroup {
	case w.Blue:
		return "blue"
	case w.Green:
		return "green"
	}
	return targetGroup
}
