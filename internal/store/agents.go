package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"
)

// seenFlushEvery is how long a last_seen time may wait in memory before it is written. Every
// agent poll touches its instance; writing each touch on its own would be a durable
// transaction (an fsync) per poll. A crash loses at most this much of last_seen, which is
// shown to people and decides nothing.
const seenFlushEvery = 10 * time.Second

// agentCache holds, in memory, what every agent request needs of the instances table: the
// instance a valid credential belongs to, and the last_seen times not yet written.
//
// Only valid credentials are cached (an unknown one is looked up each time), so the cache
// holds at most one entry per registered instance. Every write that could change an answer
// (deregistration, a replacing registration, new tags) forgets the instance after it commits,
// so the credential of a deregistered instance is refused as soon as DeregisterInstance
// returns. gen guards the fill after a miss: a lookup that read the database before such a
// write committed must not put the old answer back after the write forgot it.
type agentCache struct {
	mu     sync.Mutex
	byHash map[string]Instance // credential hash → registered instance
	hashOf map[string]string   // instance id → its cached credential hash
	gen    uint64              // bumped by every forget

	seen      map[string]time.Time // instance id → last_seen not yet written
	lastFlush time.Time
}

func newAgentCache(now time.Time) *agentCache {
	return &agentCache{byHash: map[string]Instance{}, hashOf: map[string]string{}, seen: map[string]time.Time{}, lastFlush: now}
}

// credential returns the cached instance of a credential hash, or the generation to pass to
// fill after looking it up.
func (c *agentCache) credential(hash string) (Instance, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	inst, ok := c.byHash[hash]
	if ok {
		inst.Tags = maps.Clone(inst.Tags)
		inst.LastSeen = c.lastSeenLocked(inst.ID, inst.LastSeen)
	}
	return inst, c.gen, ok
}

// fill caches a credential's instance, read from the database at generation gen, unless a write
// has forgotten something since.
func (c *agentCache) fill(hash string, inst Instance, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	inst.Tags = maps.Clone(inst.Tags)
	c.byHash[hash] = inst
	c.hashOf[inst.ID] = hash
}

// forget drops an instance's cached credential. Call it after the write that changed the
// instance has committed.
func (c *agentCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if hash, ok := c.hashOf[id]; ok {
		delete(c.byHash, hash)
		delete(c.hashOf, id)
	}
}

// registered says whether id is known registered through a cached credential.
func (c *agentCache) registered(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.hashOf[id]
	return ok
}

// touch records that id was seen at t. When the last flush is seenFlushEvery old at now, it
// hands back everything pending for the caller to write (and to give back with unflush if the
// write fails).
func (c *agentCache) touch(id string, t, now time.Time) map[string]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.seen[id]) {
		c.seen[id] = t
	}
	if now.Sub(c.lastFlush) < seenFlushEvery {
		return nil
	}
	return c.takeSeenLocked(now)
}

// takeSeen hands back every pending last_seen time.
func (c *agentCache) takeSeen(now time.Time) map[string]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.takeSeenLocked(now)
}

func (c *agentCache) takeSeenLocked(now time.Time) map[string]time.Time {
	c.lastFlush = now
	if len(c.seen) == 0 {
		return nil
	}
	batch := c.seen
	c.seen = map[string]time.Time{}
	return batch
}

// unflush puts back a batch whose write failed, to be tried again with the next.
func (c *agentCache) unflush(batch map[string]time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, t := range batch {
		if t.After(c.seen[id]) {
			c.seen[id] = t
		}
	}
}

// lastSeen is the later of stored (the database's last_seen of id) and a pending touch.
func (c *agentCache) lastSeen(id string, stored time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastSeenLocked(id, stored)
}

func (c *agentCache) lastSeenLocked(id string, stored time.Time) time.Time {
	if t, ok := c.seen[id]; ok && t.After(stored) {
		return fromMillis(millis(t))
	}
	return stored
}

// TouchInstance records that a registered instance was seen at now; ErrNotFound when it is not
// registered. A time before the one recorded changes nothing. The time is kept in memory and
// written, with every other instance's, at most seenFlushEvery later (by the first touch after
// that, or by Close); the instance's reads (GetInstance, ListInstances, InstanceByCredential)
// include it at once.
func (s *SQLite) TouchInstance(ctx context.Context, id string, now time.Time) error {
	if !s.agents.registered(id) {
		// Not an instance an agent authenticated as lately: ask the database.
		var one int
		err := s.r.QueryRowContext(ctx, "SELECT 1 FROM instances WHERE id = ? AND deregistered = 0", id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			err = ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("touch instance %s: %w", id, err)
		}
	}
	if batch := s.agents.touch(id, now, s.now()); batch != nil {
		return s.writeSeen(ctx, batch)
	}
	return nil
}

// flushSeen writes every pending last_seen time now.
func (s *SQLite) flushSeen(ctx context.Context) error {
	if batch := s.agents.takeSeen(s.now()); batch != nil {
		return s.writeSeen(ctx, batch)
	}
	return nil
}

// writeSeen writes a batch of last_seen times in one transaction. A time never moves
// last_seen back, and a deregistered instance keeps the last_seen it had.
func (s *SQLite) writeSeen(ctx context.Context, batch map[string]time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, "UPDATE instances SET last_seen = ? WHERE id = ? AND deregistered = 0 AND last_seen < ?")
		if err != nil {
			return err
		}
		defer func() { _ = stmt.Close() }()
		for id, t := range batch {
			if _, err := stmt.ExecContext(ctx, millis(t), id, millis(t)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.agents.unflush(batch)
		return fmt.Errorf("write last_seen of %d instances: %w", len(batch), err)
	}
	return nil
}
