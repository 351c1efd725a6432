package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/slipway-deploy/slipway/internal/api"
	"github.com/slipway-deploy/slipway/internal/lifecycle"
)

// outbox holds results the server has not yet answered for, one file per command, so a result
// survives the server being down, the network being cut and the agent itself being restarted.
// Only the agent's loop touches it, and the root lock keeps other processes out.
type outbox string

// report is one outbox entry.
type report struct {
	Command string     `json:"command_id"`
	Result  api.Result `json:"result"`
	// Queued orders delivery: oldest first, as the results happened.
	Queued time.Time `json:"queued"`
}

func newOutbox(root lifecycle.Root) outbox { return outbox(filepath.Join(stateDir(root), "outbox")) }

// path is the entry's file. Command IDs are the server's; one that is not a plain file name is
// stored under its hash (the ID itself is inside the file).
func (o outbox) path(commandID string) string {
	name := commandID
	if !plainName(name) {
		sum := sha256.Sum256([]byte(commandID))
		name = "sha256-" + hex.EncodeToString(sum[:])
	}
	return filepath.Join(string(o), name+".json")
}

// put records a result durably. The first result of a command wins, as on the server: a second
// put of the same command leaves the entry alone.
func (o outbox) put(rp report) error {
	p := o.path(rp.Command)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := os.MkdirAll(string(o), 0o700); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	b, err := json.Marshal(rp)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if err := writeFileAtomic(p, b, 0o600); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// has reports whether a result for the command is waiting.
func (o outbox) has(commandID string) bool {
	_, err := os.Stat(o.path(commandID))
	return err == nil
}

// list returns the waiting results, oldest first.
func (o outbox) list() ([]report, error) {
	entries, err := os.ReadDir(string(o))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	var out []report
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(string(o), name))
		if err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		var rp report
		if err := json.Unmarshal(b, &rp); err != nil || rp.Command == "" {
			// Entries are written atomically, so this is not a torn write; keep the file for a
			// person to look at rather than guess.
			return nil, fmt.Errorf("outbox entry %s is damaged: move it away to continue", filepath.Join(string(o), name))
		}
		out = append(out, rp)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Queued.Before(out[j].Queued) })
	return out, nil
}

// remove deletes an entry once the server has answered for it.
func (o outbox) remove(commandID string) error {
	err := os.Remove(o.path(commandID))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// plainName reports whether s can be used as one path element as it is.
func plainName(s string) bool {
	if s == "" || len(s) > 128 || strings.HasPrefix(s, ".") {
		return false
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}
