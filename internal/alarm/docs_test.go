package alarm

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The examples and messages in docs/alarms.md are checked against the code, so the page cannot
// drift from what Slipway accepts and says.

const docsFile = "../../docs/alarms.md"

// group is how a deployment group's file holds its alarm configuration in docs/alarms.md.
type group struct {
	AlarmConfiguration Config `yaml:"alarm_configuration" json:"alarm_configuration"`
}

func TestConfig_DocsExamplesAreValid(t *testing.T) {
	doc, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(alarm_configuration:.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) < 2 {
		t.Fatalf("found %d alarm_configuration examples in %s, want at least 2", len(blocks), docsFile)
	}
	for i, b := range blocks {
		dec := yaml.NewDecoder(bytes.NewReader(b[1]))
		dec.KnownFields(true)
		var g group
		if err := dec.Decode(&g); err != nil {
			t.Fatalf("example %d: %v", i, err)
		}
		if err := g.AlarmConfiguration.Validate(); err != nil {
			t.Errorf("example %d: %v", i, err)
		}
		if _, err := NewPoller(g.AlarmConfiguration, Options{}); err != nil {
			t.Errorf("example %d: NewPoller: %v", i, err)
		}
		// The same configuration survives a JSON round trip, with the documented keys.
		js, err := json.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		jdec := json.NewDecoder(bytes.NewReader(js))
		jdec.DisallowUnknownFields()
		var back group
		if err := jdec.Decode(&back); err != nil {
			t.Fatalf("example %d: JSON %s: %v", i, js, err)
		}
		again, _ := json.Marshal(back)
		if !bytes.Equal(js, again) {
			t.Errorf("example %d: JSON round trip changed it:\n%s\n%s", i, js, again)
		}
	}

	var g group
	if err := yaml.Unmarshal(blocks[0][1], &g); err != nil {
		t.Fatal(err)
	}
	c := g.AlarmConfiguration
	if c.PollInterval() != 10*time.Second || c.PollTimeout() != 5*time.Second || *c.Alarms[0].Prometheus.Threshold != 0.05 ||
		c.Alarms[0].Prometheus.Op != Greater || c.Alarms[3].HTTP.Status[0] != 200 {
		t.Errorf("first example decoded to %+v", c)
	}
}

func TestConfig_DocsErrorsAreReal(t *testing.T) {
	doc, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	c := Config{Alarms: []Spec{
		{Name: "error-rate", Prometheus: &PrometheusQuery{URL: "http://prometheus.internal:9090", Query: "up", Op: "gt", Threshold: float(0.05)}},
		{Name: "shop-5xx-high", CloudWatch: &CloudWatchAlarm{}},
	}}
	for _, line := range strings.Split(c.Validate().Error(), "\n") {
		if !bytes.Contains(doc, []byte(line)) {
			t.Errorf("%s does not show the message %q", docsFile, line)
		}
	}
}
