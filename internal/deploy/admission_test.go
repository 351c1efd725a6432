package deploy_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/slipway-deploy/slipway/internal/deploy"
)

func TestAdmit(t *testing.T) {
	tests := []struct {
		name      string
		q         deploy.Queue
		id        string
		creator   deploy.Creator
		refuse    bool
		want      deploy.Queue
		admission deploy.Admission
		err       error
	}{
		{"idle group starts", deploy.Queue{}, "d1", deploy.CreatorUser, false, deploy.Queue{Active: "d1"}, deploy.AdmitStart, nil},
		{"idle group starts even when refusing", deploy.Queue{}, "d1", deploy.CreatorGitHub, true, deploy.Queue{Active: "d1"}, deploy.AdmitStart, nil},
		{"busy group queues", deploy.Queue{Active: "d1", Waiting: []string{"d2"}}, "d3", deploy.CreatorUser, false,
			deploy.Queue{Active: "d1", Waiting: []string{"d2", "d3"}}, deploy.AdmitQueued, nil},
		{"busy group refuses", deploy.Queue{Active: "d1"}, "d2", deploy.CreatorUser, true, deploy.Queue{Active: "d1"}, 0, deploy.ErrGroupBusy},
		{"rollback jumps the queue", deploy.Queue{Active: "d1", Waiting: []string{"d2"}}, "rb", deploy.CreatorRollback, true,
			deploy.Queue{Active: "d1", Waiting: []string{"rb", "d2"}}, deploy.AdmitQueued, nil},
		{"twice", deploy.Queue{Active: "d1", Waiting: []string{"d2"}}, "d2", deploy.CreatorUser, false,
			deploy.Queue{Active: "d1", Waiting: []string{"d2"}}, 0, deploy.ErrStale},
		{"empty id", deploy.Queue{}, "", deploy.CreatorUser, false, deploy.Queue{}, 0, deploy.ErrInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := deploy.Queue{Active: tt.q.Active, Waiting: append([]string(nil), tt.q.Waiting...)}
			got, adm, err := deploy.Admit(tt.q, tt.id, tt.creator, tt.refuse)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error = %v, want %v", err, tt.err)
			}
			if adm != tt.admission {
				t.Errorf("admission = %v, want %v", adm, tt.admission)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("queue = %+v, want %+v", got, tt.want)
			}
			if !reflect.DeepEqual(tt.q, before) {
				t.Errorf("Admit changed its argument: %+v, was %+v", tt.q, before)
			}
		})
	}
}

func TestRelease(t *testing.T) {
	tests := []struct {
		name string
		q    deploy.Queue
		id   string
		want deploy.Queue
		next string
		err  error
	}{
		{"last one leaves the group idle", deploy.Queue{Active: "d1"}, "d1", deploy.Queue{}, "", nil},
		{"oldest waiting starts", deploy.Queue{Active: "d1", Waiting: []string{"d2", "d3"}}, "d1", deploy.Queue{Active: "d2", Waiting: []string{"d3"}}, "d2", nil},
		{"cancelled while waiting", deploy.Queue{Active: "d1", Waiting: []string{"d2", "d3"}}, "d3", deploy.Queue{Active: "d1", Waiting: []string{"d2"}}, "", nil},
		{"unknown", deploy.Queue{Active: "d1"}, "d9", deploy.Queue{Active: "d1"}, "", deploy.ErrStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := deploy.Queue{Active: tt.q.Active, Waiting: append([]string(nil), tt.q.Waiting...)}
			got, next, err := deploy.Release(tt.q, tt.id)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error = %v, want %v", err, tt.err)
			}
			if next != tt.next {
				t.Errorf("next = %q, want %q", next, tt.next)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("queue = %+v, want %+v", got, tt.want)
			}
			if !reflect.DeepEqual(tt.q, before) {
				t.Errorf("Release changed its argument")
			}
		})
	}
}

// A failed deployment's rollback, admitted before the group is released, runs before the
// deployment that was already waiting.
func TestAdmit_RollbackRunsBeforeQueued(t *testing.T) {
	q := deploy.Queue{}
	var err error
	steps := []struct {
		id string
		c  deploy.Creator
	}{{"d1", deploy.CreatorUser}, {"d2", deploy.CreatorGitHub}}
	for _, s := range steps {
		if q, _, err = deploy.Admit(q, s.id, s.c, false); err != nil {
			t.Fatal(err)
		}
	}
	if q, _, err = deploy.Admit(q, "rollback-of-d1", deploy.CreatorRollback, false); err != nil {
		t.Fatal(err)
	}
	q, next, err := deploy.Release(q, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if next != "rollback-of-d1" {
		t.Fatalf("next = %q, want the rollback", next)
	}
	if _, next, _ = deploy.Release(q, next); next != "d2" {
		t.Errorf("after the rollback next = %q, want d2", next)
	}
}
