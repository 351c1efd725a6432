package deploy_test

import (
	"errors"
	"testing"

	"github.com/slipway-deploy/slipway/internal/deploy"
)

func TestTagSet_Match(t *testing.T) {
	web := deploy.TagFilter{Key: "role", Value: "web", Type: deploy.KeyAndValue}
	prod := deploy.TagFilter{Key: "env", Value: "prod", Type: deploy.KeyAndValue}
	staging := deploy.TagFilter{Key: "env", Value: "staging", Type: deploy.KeyAndValue}
	hasOwner := deploy.TagFilter{Key: "owner", Type: deploy.KeyOnly}
	anyBlue := deploy.TagFilter{Value: "blue", Type: deploy.ValueOnly}

	tests := []struct {
		name string
		set  deploy.TagSet
		tags map[string]string
		want bool
	}{
		{"empty set selects nothing", nil, map[string]string{"role": "web"}, false},
		{"one group, one filter", deploy.TagSet{{web}}, map[string]string{"role": "web"}, true},
		{"key and value: value differs", deploy.TagSet{{web}}, map[string]string{"role": "db"}, false},
		{"key and value: case matters", deploy.TagSet{{web}}, map[string]string{"Role": "web"}, false},
		{"one group: any filter", deploy.TagSet{{prod, staging}}, map[string]string{"env": "staging"}, true},
		{"one group: none", deploy.TagSet{{prod, staging}}, map[string]string{"env": "dev"}, false},
		{"two groups: both", deploy.TagSet{{web}, {prod, staging}}, map[string]string{"role": "web", "env": "prod"}, true},
		{"two groups: only the first", deploy.TagSet{{web}, {prod, staging}}, map[string]string{"role": "web", "env": "dev"}, false},
		{"two groups: only the second", deploy.TagSet{{web}, {prod}}, map[string]string{"env": "prod"}, false},
		{"key only", deploy.TagSet{{hasOwner}}, map[string]string{"owner": ""}, true},
		{"key only: missing", deploy.TagSet{{hasOwner}}, map[string]string{"team": "owner"}, false},
		{"value only: any key", deploy.TagSet{{anyBlue}}, map[string]string{"colour": "blue"}, true},
		{"value only: missing", deploy.TagSet{{anyBlue}}, map[string]string{"blue": "green"}, false},
		{"three groups", deploy.TagSet{{web}, {prod}, {hasOwner, anyBlue}}, map[string]string{"role": "web", "env": "prod", "slot": "blue"}, true},
		{"no tags", deploy.TagSet{{hasOwner}}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.set.Match(tt.tags); got != tt.want {
				t.Errorf("Match(%v) = %v, want %v", tt.tags, got, tt.want)
			}
		})
	}
}

func TestTagSet_Validate(t *testing.T) {
	ok := deploy.TagFilter{Key: "role", Value: "web", Type: deploy.KeyAndValue}
	tests := []struct {
		name  string
		set   deploy.TagSet
		valid bool
	}{
		{"one filter", deploy.TagSet{{ok}}, true},
		{"empty value allowed", deploy.TagSet{{{Key: "k", Type: deploy.KeyAndValue}}}, true},
		{"four groups", deploy.TagSet{{ok}, {ok}, {ok}, {ok}}, false},
		{"empty group", deploy.TagSet{{ok}, {}}, false},
		{"key only without key", deploy.TagSet{{{Value: "v", Type: deploy.KeyOnly}}}, false},
		{"value only without value", deploy.TagSet{{{Key: "k", Type: deploy.ValueOnly}}}, false},
		{"no type", deploy.TagSet{{{Key: "k", Value: "v"}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.set.Validate()
			if got := err == nil; got != tt.valid {
				t.Fatalf("Validate() = %v, want valid %v", err, tt.valid)
			}
			if err != nil && !errors.Is(err, deploy.ErrInvalidConfig) {
				t.Errorf("error %v is not ErrInvalidConfig", err)
			}
		})
	}
}

// The replacement fleet shares every tag group but the first with the group: an instance of
// another application with the replacement fleet's tag is not in it.
func TestTagSet_WithFirst(t *testing.T) {
	blue := deploy.TagFilter{Key: "fleet", Value: "blue", Type: deploy.KeyAndValue}
	green := deploy.TagFilter{Key: "fleet", Value: "green", Type: deploy.KeyAndValue}
	shop := deploy.TagFilter{Key: "app", Value: "shop", Type: deploy.KeyAndValue}
	serving := deploy.TagSet{{blue}, {shop}}
	replacement := serving.WithFirst([]deploy.TagFilter{green})
	for _, tc := range []struct {
		tags        map[string]string
		inServing   bool
		inReplacing bool
	}{
		{map[string]string{"fleet": "blue", "app": "shop"}, true, false},
		{map[string]string{"fleet": "green", "app": "shop"}, false, true},
		{map[string]string{"fleet": "green", "app": "other"}, false, false},
		{map[string]string{"fleet": "green"}, false, false},
	} {
		if got := serving.Match(tc.tags); got != tc.inServing {
			t.Errorf("serving fleet Match(%v) = %v, want %v", tc.tags, got, tc.inServing)
		}
		if got := replacement.Match(tc.tags); got != tc.inReplacing {
			t.Errorf("replacement fleet Match(%v) = %v, want %v", tc.tags, got, tc.inReplacing)
		}
	}
	if len(serving[0]) != 1 || serving[0][0] != blue {
		t.Errorf("WithFirst changed the set it was called on: %v", serving)
	}
	if got := (deploy.TagSet{}).WithFirst([]deploy.TagFilter{green}); len(got) != 1 || got[0][0] != green {
		t.Errorf("empty set WithFirst = %v, want the one group", got)
	}
}
