package store

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
)

// Instance is a host running an agent.
type Instance struct {
	ID           string
	Name         string
	Tags         map[string]string
	RegisterTime time.Time
	// LastSeen is the last time the agent called the server (TouchInstance).
	LastSeen time.Time
	// Deregistered instances keep their id and history; their credential is revoked.
	Deregistered bool
	// Groups is the instance's record in each deployment group that deployed to it. Filled by
	// ListInstances and GetInstance.
	Groups []GroupHealth
}

// GroupHealth is a deployment group's record of one instance.
type GroupHealth struct {
	Application string
	Group       string
	Health      deploy.Health
	// Revision is what the last successful deployment of the group installed, "" if none.
	Revision   string
	UpdateTime time.Time
}

// HashToken is how agent credentials are stored: the sha256 of the token, hex. The tokens are
// 256 random bits, so nobody can guess one from its hash whatever the speed of the hash; a slow
// password KDF (bcrypt, argon2) protects low-entropy secrets and would only add cost to every
// agent call here.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// RegisterInstance records a new instance called name with a credential hash (see HashToken)
// and returns it with a fresh id. Names are unique among registered instances: a taken name is
// ErrExists, unless replace, in which case the instance holding the name is deregistered (its
// credential revoked) in the same transaction and the new one takes the name with a new id.
// A new id, rather than the old one, because a re-enrolled host may have lost its installed
// state: the groups then see a host with no revision and catch it up.
func (s *SQLite) RegisterInstance(ctx context.Context, name string, tags map[string]string, credentialHash string, replace bool) (Instance, error) {
	if strings.TrimSpace(name) == "" {
		return Instance{}, fmt.Errorf("register instance: %w: empty name", ErrInvalid)
	}
	if !validDigest(credentialHash) {
		return Instance{}, fmt.Errorf("register instance %s: %w: credential hash must be HashToken's 64 hex characters", name, ErrInvalid)
	}
	if tags == nil {
		tags = map[string]string{}
	}
	tagJSON, err := json.Marshal(tags)
	if err != nil {
		return Instance{}, fmt.Errorf("register instance %s: %w", name, err)
	}
	now := fromMillis(millis(s.now()))
	inst := Instance{ID: newID("i-"), Name: name, Tags: tags, RegisterTime: now, LastSeen: now}
	var replaced string
	err = s.write(ctx, func(tx *sql.Tx) error {
		if replace {
			err := tx.QueryRowContext(ctx, "SELECT id FROM instances WHERE name = ? AND deregistered = 0", name).Scan(&replaced)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("find previous: %w", err)
			}
			if replaced != "" {
				if _, err := tx.ExecContext(ctx, `UPDATE instances SET deregistered = 1, deregister_time = ?, credential_hash = NULL
					WHERE id = ?`, millis(now), replaced); err != nil {
					return fmt.Errorf("deregister previous: %w", err)
				}
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO instances (id, name, tags, credential_hash, register_time, last_seen, deregistered, deregister_time)
			VALUES (?, ?, ?, ?, ?, ?, 0, 0)`, inst.ID, name, string(tagJSON), credentialHash, millis(now), millis(now))
		if isUniqueViolation(err) {
			// The name is taken, or (astronomically unlikely for random tokens) the credential.
			return ErrExists
		}
		return err
	})
	if err != nil {
		return Instance{}, fmt.Errorf("register instance %s: %w", name, err)
	}
	if replaced != "" {
		s.agents.forget(replaced)
	}
	return inst, nil
}

// InstanceByCredential returns the registered instance whose credential hashes to hash;
// ErrNotFound when none does (unknown or revoked). Every agent request asks, so the answers
// for valid credentials are kept in memory until a write to the instance (see agentCache).
func (s *SQLite) InstanceByCredential(ctx context.Context, hash string) (Instance, error) {
	// The lookups (the cache's map, the database's index) search on the hash, not compare
	// secrets: learning how close a guess's hash came tells nothing about a token. The
	// constant-time compare below keeps the database's final check free of early exits all
	// the same.
	cached, gen, ok := s.agents.credential(hash)
	if ok {
		return cached, nil
	}
	var stored string
	inst, err := scanInstance(s.byCredential.QueryRowContext(ctx, hash), &stored)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && subtle.ConstantTimeCompare([]byte(stored), []byte(hash)) != 1) {
		return Instance{}, fmt.Errorf("instance by credential: %w", ErrNotFound)
	}
	if err != nil {
		return Instance{}, fmt.Errorf("instance by credential: %w", err)
	}
	s.agents.fill(hash, inst, gen)
	inst.LastSeen = s.agents.lastSeen(inst.ID, inst.LastSeen)
	return inst, nil
}

// GetInstance returns an instance, registered or not, with its group records.
func (s *SQLite) GetInstance(ctx context.Context, id string) (Instance, error) {
	var inst Instance
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		inst, err = scanInstance(tx.QueryRowContext(ctx, "SELECT "+instanceColumns+" FROM instances WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		groups, err := groupHealth(ctx, tx, "WHERE instance = ?", id)
		inst.Groups = groups[id]
		inst.LastSeen = s.agents.lastSeen(id, inst.LastSeen)
		return err
	})
	if err != nil {
		return Instance{}, fmt.Errorf("get instance %s: %w", id, err)
	}
	return inst, nil
}

// ListInstances returns the instances by name with their group records; deregistered ones
// only when includeDeregistered.
func (s *SQLite) ListInstances(ctx context.Context, includeDeregistered bool) ([]Instance, error) {
	var out []Instance
	err := s.read(ctx, func(tx *sql.Tx) error {
		query := "SELECT " + instanceColumns + " FROM instances"
		if !includeDeregistered {
			query += " WHERE deregistered = 0"
		}
		rows, err := tx.QueryContext(ctx, query+" ORDER BY name, register_time")
		if err != nil {
			return err
		}
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			inst, err := scanInstance(rows)
			if err != nil {
				return err
			}
			out = append(out, inst)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		groups, err := groupHealth(ctx, tx, "")
		if err != nil {
			return err
		}
		for i := range out {
			out[i].Groups = groups[out[i].ID]
			out[i].LastSeen = s.agents.lastSeen(out[i].ID, out[i].LastSeen)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	return out, nil
}

// DeregisterInstance marks an instance deregistered and revokes its credential. Its group
// records stay, for history. ErrNotFound when no registered instance has the id.
func (s *SQLite) DeregisterInstance(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE instances SET deregistered = 1, deregister_time = ?, credential_hash = NULL
		WHERE id = ? AND deregistered = 0`, millis(s.now()), id)
	if err != nil {
		return fmt.Errorf("deregister instance %s: %w", id, err)
	}
	if err := mustAffect(res); err != nil {
		return fmt.Errorf("deregister instance %s: %w", id, err)
	}
	s.agents.forget(id)
	return nil
}

// InstanceHealth returns the group's record of each registered instance it has deployed to,
// by instance id, in the form deploy.Start takes. An instance the group never deployed to is
// absent: to deploy.Start it is Unhealthy with no revision, which the zero Instance says.
func (s *SQLite) InstanceHealth(ctx context.Context, application, group string) (map[string]deploy.Instance, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT g.instance, g.health, g.revision FROM instance_groups g
		JOIN instances i ON i.id = g.instance
		WHERE g.application = ? AND g.group_name = ? AND i.deregistered = 0`, application, group)
	if err != nil {
		return nil, fmt.Errorf("instance health of %s/%s: %w", application, group, err)
	}
	defer func() { _ = rows.Close() }()
	out := map[string]deploy.Instance{}
	for rows.Next() {
		var in deploy.Instance
		var health string
		if err := rows.Scan(&in.ID, &health, &in.Revision); err != nil {
			return nil, fmt.Errorf("instance health of %s/%s: %w", application, group, err)
		}
		if in.Health, err = deploy.ParseHealth(health); err != nil {
			return nil, fmt.Errorf("instance health of %s/%s: %w", application, group, err)
		}
		out[in.ID] = in
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("instance health of %s/%s: %w", application, group, err)
	}
	return out, nil
}

const instanceColumns = "id, name, tags, register_time, last_seen, deregistered"

const instanceByCredentialQuery = "SELECT " + instanceColumns + ", credential_hash FROM instances WHERE credential_hash = ? AND deregistered = 0"

func scanInstance(sc scanner, extra ...any) (Instance, error) {
	var inst Instance
	var tags string
	var registered, seen int64
	var dereg int
	if err := sc.Scan(append([]any{&inst.ID, &inst.Name, &tags, &registered, &seen, &dereg}, extra...)...); err != nil {
		return Instance{}, err
	}
	if err := json.Unmarshal([]byte(tags), &inst.Tags); err != nil {
		return Instance{}, fmt.Errorf("decode tags of %s: %w", inst.ID, err)
	}
	inst.RegisterTime, inst.LastSeen, inst.Deregistered = fromMillis(registered), fromMillis(seen), dereg != 0
	return inst, nil
}

// groupHealth reads instance_groups rows (narrowed by where) by instance id.
func groupHealth(ctx context.Context, q querier, where string, args ...any) (map[string][]GroupHealth, error) {
	rows, err := q.QueryContext(ctx, "SELECT instance, application, group_name, health, revision, update_time FROM instance_groups "+
		where+" ORDER BY instance, application, group_name", args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	out := map[string][]GroupHealth{}
	for rows.Next() {
		var id, health string
		var g GroupHealth
		var updated int64
		if err := rows.Scan(&id, &g.Application, &g.Group, &health, &g.Revision, &updated); err != nil {
			return nil, err
		}
		if g.Health, err = deploy.ParseHealth(health); err != nil {
			return nil, err
		}
		g.UpdateTime = fromMillis(updated)
		out[id] = append(out[id], g)
	}
	return out, rows.Err()
}

// SetInstanceTags replaces a registered instance's tags (an administrator's call, or an agent's
// hello on a server that lets hosts set their own). ErrNotFound when it is not registered.
func (s *SQLite) SetInstanceTags(ctx context.Context, id string, tags map[string]string) error {
	if tags == nil {
		tags = map[string]string{}
	}
	b, err := json.Marshal(tags)
	if err != nil {
		return fmt.Errorf("set tags of instance %s: %w", id, err)
	}
	res, err := s.w.ExecContext(ctx, "UPDATE instances SET tags = ? WHERE id = ? AND deregistered = 0", string(b), id)
	if err != nil {
		return fmt.Errorf("set tags of instance %s: %w", id, err)
	}
	if err := mustAffect(res); err != nil {
		return fmt.Errorf("set tags of instance %s: %w", id, err)
	}
	s.agents.forget(id)
	return nil
}
