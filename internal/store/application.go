package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slipway-deploy/slipway/internal/deploy"
)

// ComputePlatform is where an application's revisions run.
type ComputePlatform string

// The compute platforms, CodeDeploy's names.
const (
	PlatformServer ComputePlatform = "server"
	PlatformLambda ComputePlatform = "lambda"
	PlatformECS    ComputePlatform = "ecs"
)

func (p ComputePlatform) String() string { return string(p) }

// Validate accepts the three known platforms.
func (p ComputePlatform) Validate() error {
	switch p {
	case PlatformServer, PlatformLambda, PlatformECS:
		return nil
	}
	return fmt.Errorf("%w: compute platform %q; use server, lambda or ecs", ErrInvalid, string(p))
}

// Application is a named set of deployment groups and revisions.
type Application struct {
	Name            string
	ComputePlatform ComputePlatform
	// CreateTime is set by the store when zero.
	CreateTime time.Time
}

// CreateApplication stores a new application; ErrExists when the name is taken.
func (s *SQLite) CreateApplication(ctx context.Context, a Application) (Application, error) {
	if strings.TrimSpace(a.Name) == "" {
		return Application{}, fmt.Errorf("create application: %w: empty name", ErrInvalid)
	}
	if err := a.ComputePlatform.Validate(); err != nil {
		return Application{}, fmt.Errorf("create application %s: %w", a.Name, err)
	}
	if a.CreateTime.IsZero() {
		a.CreateTime = s.now()
	}
	a.CreateTime = fromMillis(millis(a.CreateTime))
	_, err := s.w.ExecContext(ctx, "INSERT INTO applications (name, compute_platform, create_time) VALUES (?, ?, ?)",
		a.Name, string(a.ComputePlatform), millis(a.CreateTime))
	if isUniqueViolation(err) {
		return Application{}, fmt.Errorf("create application %s: %w", a.Name, ErrExists)
	}
	if err != nil {
		return Application{}, fmt.Errorf("create application %s: %w", a.Name, err)
	}
	return a, nil
}

// GetApplication returns the application called name; ErrNotFound if none.
func (s *SQLite) GetApplication(ctx context.Context, name string) (Application, error) {
	a, err := getApplication(ctx, s.r, name)
	if err != nil {
		return Application{}, fmt.Errorf("get application %s: %w", name, err)
	}
	return a, nil
}

func getApplication(ctx context.Context, q querier, name string) (Application, error) {
	var a Application
	var platform string
	var created int64
	err := q.QueryRowContext(ctx, "SELECT name, compute_platform, create_time FROM applications WHERE name = ?", name).
		Scan(&a.Name, &platform, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Application{}, ErrNotFound
	}
	if err != nil {
		return Application{}, err
	}
	a.ComputePlatform, a.CreateTime = ComputePlatform(platform), fromMillis(created)
	return a, nil
}

// ListApplications returns every application by name.
func (s *SQLite) ListApplications(ctx context.Context) ([]Application, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT name, compute_platform, create_time FROM applications ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []Application
	for rows.Next() {
		var a Application
		var platform string
		var created int64
		if err := rows.Scan(&a.Name, &platform, &created); err != nil {
			return nil, fmt.Errorf("list applications: %w", err)
		}
		a.ComputePlatform, a.CreateTime = ComputePlatform(platform), fromMillis(created)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	return out, nil
}

// CreateConfig stores a user-defined deployment config. It must pass deploy.Config.Validate;
// a preset's name is ErrExists, since presets always exist.
func (s *SQLite) CreateConfig(ctx context.Context, c deploy.Config) error {
	if _, ok := deploy.Preset(c.Name); ok {
		return fmt.Errorf("create config %s: built in: %w", c.Name, ErrExists)
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("create config: %w: %w", ErrInvalid, err)
	}
	_, err := s.w.ExecContext(ctx, "INSERT INTO deployment_configs (name, minimum_type, minimum_value, create_time) VALUES (?, ?, ?, ?)",
		c.Name, c.MinimumHealthyHosts.Type.String(), c.MinimumHealthyHosts.Value, millis(s.now()))
	if isUniqueViolation(err) {
		return fmt.Errorf("create config %s: %w", c.Name, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create config %s: %w", c.Name, err)
	}
	return nil
}

// GetConfig returns a preset or a stored config; ErrNotFound if neither.
func (s *SQLite) GetConfig(ctx context.Context, name string) (deploy.Config, error) {
	c, err := getConfig(ctx, s.r, name)
	if err != nil {
		return deploy.Config{}, fmt.Errorf("get config %s: %w", name, err)
	}
	return c, nil
}

func getConfig(ctx context.Context, q querier, name string) (deploy.Config, error) {
	if p, ok := deploy.Preset(name); ok {
		return p, nil
	}
	var typ string
	c := deploy.Config{Name: name}
	err := q.QueryRowContext(ctx, "SELECT minimum_type, minimum_value FROM deployment_configs WHERE name = ?", name).
		Scan(&typ, &c.MinimumHealthyHosts.Value)
	if errors.Is(err, sql.ErrNoRows) {
		return deploy.Config{}, ErrNotFound
	}
	if err != nil {
		return deploy.Config{}, err
	}
	if c.MinimumHealthyHosts.Type, err = deploy.ParseMinimumType(typ); err != nil {
		return deploy.Config{}, err
	}
	return c, nil
}

// ListConfigs returns the presets, then the stored configs by name.
func (s *SQLite) ListConfigs(ctx context.Context) ([]deploy.Config, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT name, minimum_type, minimum_value FROM deployment_configs ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list configs: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := slices.Clone(deploy.Presets())
	for rows.Next() {
		var c deploy.Config
		var typ string
		if err := rows.Scan(&c.Name, &typ, &c.MinimumHealthyHosts.Value); err != nil {
			return nil, fmt.Errorf("list configs: %w", err)
		}
		if c.MinimumHealthyHosts.Type, err = deploy.ParseMinimumType(typ); err != nil {
			return nil, fmt.Errorf("list configs: %s: %w", c.Name, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list configs: %w", err)
	}
	return out, nil
}

// DeleteConfig removes a user-defined config. Presets cannot be deleted (ErrInvalid), and a
// config a deployment group names is ErrInUse. Deployments keep a copy of their config, so
// deleting one never changes history.
func (s *SQLite) DeleteConfig(ctx context.Context, name string) error {
	if _, ok := deploy.Preset(name); ok {
		return fmt.Errorf("delete config %s: %w: built-in configs cannot be deleted", name, ErrInvalid)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		var group, app string
		err := tx.QueryRowContext(ctx, "SELECT application, name FROM deployment_groups WHERE config_name = ? LIMIT 1", name).Scan(&app, &group)
		if err == nil {
			return fmt.Errorf("%w by deployment group %s/%s", ErrInUse, app, group)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM deployment_configs WHERE name = ?", name)
		if err != nil {
			return err
		}
		return mustAffect(res)
	})
	if err != nil {
		return fmt.Errorf("delete config %s: %w", name, err)
	}
	return nil
}
