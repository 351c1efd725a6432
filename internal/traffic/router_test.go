package traffic

import (
	"errors"
	"strings"
	"testing"
)

func weight(n int) *int { return &n }

func TestCheckChange_ZeroServingGuard(t *testing.T) {
	two := Backend{Name: "app", Servers: []Server{
		{Name: "blue", Weight: 100, Admin: Ready, Health: Up},
		{Name: "green", Weight: 0, Admin: Ready, Health: Up},
	}}
	greenDown := Backend{Name: "app", Servers: []Server{
		{Name: "blue", Weight: 100, Admin: Ready, Health: Up},
		{Name: "green", Weight: 0, Admin: Ready, Health: Down},
	}}
	allDown := Backend{Name: "app", Servers: []Server{
		{Name: "blue", Weight: 100, Admin: Ready, Health: Down},
		{Name: "green", Weight: 100, Admin: Ready, Health: Down},
	}}
	tests := []struct {
		name       string
		now        Backend
		change     map[string]target
		allowEmpty bool
		want       error
	}{
		{"shift to green", two, map[string]target{"blue": {weight: weight(0)}, "green": {weight: weight(100)}}, false, nil},
		{"all weights 0", two, map[string]target{"blue": {weight: weight(0)}}, false, ErrNoServing},
		{"drain the only weighted server", two, map[string]target{"blue": {admin: Drain}}, false, ErrNoServing},
		{"maint the only weighted server", two, map[string]target{"blue": {admin: Maint}}, false, ErrNoServing},
		{"drain blue once green has weight", two, map[string]target{"blue": {admin: Drain}, "green": {weight: weight(1)}}, false, nil},
		{"shift to a server failing its checks", greenDown, map[string]target{"blue": {weight: weight(0)}, "green": {weight: weight(100)}}, false, ErrNoServing},
		{"take down on purpose", two, map[string]target{"blue": {admin: Drain}, "green": {admin: Drain}}, true, nil},
		{"already empty by health: a change is not the cause", allDown, map[string]target{"blue": {weight: weight(0)}}, false, nil},
		{"unknown server", two, map[string]target{"purple": {weight: weight(1)}}, false, ErrUnknownServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkChange(tt.now, tt.change, tt.allowEmpty)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("checkChange = %v; want %v", err, tt.want)
			}
		})
	}
}

func TestCheckChange_MessageNamesTheFix(t *testing.T) {
	b := Backend{Name: "app", Servers: []Server{{Name: "blue", Weight: 100, Admin: Ready, Health: Up}}}
	err := checkChange(b, map[string]target{"blue": {admin: Drain}}, false)
	for _, want := range []string{"backend app", "blue drain/up weight 100", "keep at least one ready, healthy server with a weight above 0"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v; want it to say %q", err, want)
		}
	}
}

func TestServer_Serving(t *testing.T) {
	tests := []struct {
		s    Server
		want bool
	}{
		{Server{Weight: 1, Admin: Ready, Health: Up}, true},
		{Server{Weight: 1, Admin: Ready, Health: Starting}, true},
		{Server{Weight: 0, Admin: Ready, Health: Up}, false},
		{Server{Weight: 1, Admin: Drain, Health: Up}, false},
		{Server{Weight: 1, Admin: Maint, Health: Up}, false},
		{Server{Weight: 1, Admin: Ready, Health: Down}, false},
		{Server{Weight: 1, Admin: Ready, Health: Stopping}, false},
	}
	for _, tt := range tests {
		if got := tt.s.Serving(); got != tt.want {
			t.Errorf("%+v.Serving() = %v; want %v", tt.s, got, tt.want)
		}
	}
}

func TestCommands_OnlyWhatDiffers(t *testing.T) {
	now := []serverState{
		{Server: Server{Name: "blue", Weight: 100, Admin: Ready, Health: Up}, forced: Ready},
		{Server: Server{Name: "green", Weight: 0, Admin: Drain, Health: Up}, forced: Drain},
		{Server: Server{Name: "grey", Weight: 5, Admin: Maint, Health: Up}, forced: Ready}, // inherited maint
	}
	got := commands("app", now, map[string]target{
		"blue":  {weight: weight(100), admin: Drain},
		"green": {weight: weight(50), admin: Ready},
		"grey":  {admin: Ready},
	})
	var texts []string
	for _, c := range got {
		texts = append(texts, c.text)
	}
	want := "set server app/blue state drain|set server app/green state ready|set server app/green weight 50"
	if strings.Join(texts, "|") != want {
		t.Errorf("commands = %q; want %q", texts, want)
	}
}

func TestMerge_LaterRequestWinsFieldByField(t *testing.T) {
	got := target{weight: weight(10), admin: Drain}.merge(target{weight: weight(20)})
	if *got.weight != 20 || got.admin != Drain {
		t.Errorf("merge = {%d %v}; want {20 drain}", *got.weight, got.admin)
	}
	got = got.merge(target{admin: Ready})
	if *got.weight != 20 || got.admin != Ready {
		t.Errorf("merge = {%d %v}; want {20 ready}", *got.weight, got.admin)
	}
}

func TestCapacityFirst(t *testing.T) {
	cmds := []command{{text: "a-down"}, {text: "b-up", up: true}, {text: "c-down"}, {text: "d-up", up: true}}
	capacityFirst(cmds)
	var got []string
	for _, c := range cmds {
		got = append(got, c.text)
	}
	if want := "b-up d-up a-down c-down"; strings.Join(got, " ") != want {
		t.Errorf("order = %v; want %s", got, want)
	}
}

func TestPlan_ReapplyingKeepsTheGuard(t *testing.T) {
	// After a reload: the configuration's weights, and green (desired at 100) now failing its checks.
	states := []serverState{
		{Server: Server{Name: "blue", Weight: 100, Admin: Ready, Health: Up}, forced: Ready},
		{Server: Server{Name: "green", Weight: 0, Admin: Ready, Health: Down}, forced: Ready},
	}
	d := &desired{servers: map[string]target{
		"blue":  {weight: weight(0)},
		"green": {weight: weight(100)},
		"gone":  {weight: weight(1)},
	}}
	// Only what adds capacity goes: blue keeps its weight until green serves.
	if cmds, err := d.plan("app", states); !errors.Is(err, ErrNoServing) || !errors.Is(err, ErrUnknownServer) ||
		len(cmds) != 1 || cmds[0].text != "set server app/green weight 100" {
		t.Errorf("plan = %v, %v; want green's weight only, ErrNoServing and ErrUnknownServer", cmds, err)
	}
	d.down = true // taken down on purpose: re-applying may empty it
	cmds, err := d.plan("app", states)
	if len(cmds) != 2 || !errors.Is(err, ErrUnknownServer) || errors.Is(err, ErrNoServing) {
		t.Errorf("plan when down on purpose = %v, %v; want 2 commands and ErrUnknownServer only", cmds, err)
	}
}

func TestDesired_ForgetPutsBackTheRefusedField(t *testing.T) {
	d := &desired{servers: map[string]target{"blue": {weight: weight(10), admin: Ready}}}
	prev := map[string]target{"blue": {weight: weight(10), admin: Ready}}
	d.remember(map[string]target{"blue": {weight: weight(50), admin: Drain}}, false)
	d.forget(command{server: "blue"}, prev) // the weight command was refused
	if got := d.servers["blue"]; *got.weight != 10 || got.admin != Drain {
		t.Errorf("desired = {%d %v}; want {10 drain}", *got.weight, got.admin)
	}
}
