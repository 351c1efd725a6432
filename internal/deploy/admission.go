package deploy

import (
	"fmt"
	"slices"
)

// Queue is a deployment group's admission state: at most one active deployment, the rest waiting
// in the order they will start. Waiting is empty whenever Active is.
type Queue struct {
	Active  string
	Waiting []string
}

// Admission is what Admit decided for a new deployment.
type Admission int

const (
	// AdmitStart means the group was idle; feed Start to the deployment now.
	AdmitStart Admission = iota + 1
	// AdmitQueued means: feed Enqueue now and Start when Release names it.
	AdmitQueued
)

var admissionNames = [...]string{"", "start", "queued"}

func (a Admission) String() string { return enumName(admissionNames[:], int(a)) }

// Admit places deployment id in the group's queue. A busy group queues it behind the others, or
// refuses it with ErrGroupBusy when refuseWhenBusy (the group setting). A rollback is never
// refused and goes to the head of the queue: it restores the last good revision before anything
// newer runs, instead of undoing it afterwards.
func Admit(q Queue, id string, c Creator, refuseWhenBusy bool) (Queue, Admission, error) {
	if id == "" {
		return q, 0, fmt.Errorf("admit: %w: empty deployment id", ErrInvalidInput)
	}
	if q.Active == id || slices.Contains(q.Waiting, id) {
		return q, 0, fmt.Errorf("admit %s: already admitted: %w", id, ErrStale)
	}
	if q.Active == "" {
		if len(q.Waiting) > 0 {
			return q, 0, fmt.Errorf("admit %s: %w: queue has waiting deployments but none active", id, ErrInvalidInput)
		}
		return Queue{Active: id}, AdmitStart, nil
	}
	switch {
	case c == CreatorRollback:
		q.Waiting = append([]string{id}, q.Waiting...)
	case refuseWhenBusy:
		return q, 0, fmt.Errorf("admit %s: deployment %s is in progress: %w", id, q.Active, ErrGroupBusy)
	default:
		q.Waiting = append(slices.Clip(q.Waiting), id)
	}
	return q, AdmitQueued, nil
}

// Release takes a finished (or cancelled while waiting) deployment out of the queue. When it was
// the active one, the oldest waiting deployment becomes active and is returned as next: feed it
// Start. next is empty when nothing is to start.
func Release(q Queue, id string) (_ Queue, next string, _ error) {
	if q.Active == id && id != "" {
		if len(q.Waiting) == 0 {
			return Queue{}, "", nil
		}
		r := Queue{Active: q.Waiting[0], Waiting: slices.Clone(q.Waiting[1:])}
		if len(r.Waiting) == 0 {
			r.Waiting = nil
		}
		return r, r.Active, nil
	}
	if i := slices.Index(q.Waiting, id); i >= 0 {
		w := slices.Delete(slices.Clone(q.Waiting), i, i+1)
		if len(w) == 0 {
			w = nil
		}
		return Queue{Active: q.Active, Waiting: w}, "", nil
	}
	return q, "", fmt.Errorf("release %s: not in the group's queue: %w", id, ErrStale)
}
