package orchestrator

import (
	"context"
	"sync"
)

// background runs the orchestrator's long-lived work (router queues, release commands, alarm
// polls) under Run's context, and Run waits for all of it before it returns. Work asked for
// before Run starts (Load re-issuing what a killed server left) waits for Run.
type background struct {
	mu      sync.Mutex
	ctx     context.Context
	wg      sync.WaitGroup
	pending []func(context.Context)
}

// Go runs f under Run's context, now if Run has started, else when it does.
func (b *background) Go(f func(context.Context)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctx == nil {
		b.pending = append(b.pending, f)
		return
	}
	if b.ctx.Err() != nil {
		return
	}
	b.wg.Go(func() { f(b.ctx) })
}

// start begins the work asked for so far; Run calls it.
func (b *background) start(ctx context.Context) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ctx = ctx
	for _, f := range b.pending {
		b.wg.Go(func() { f(ctx) })
	}
	b.pending = nil
}

// wait waits for the work once Run's context has ended.
func (b *background) wait() { b.wg.Wait() }
