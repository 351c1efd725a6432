package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/store"
)

func TestUpload_ClaimedOnceBeforeItExpires(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	f := newFixture(t, s, 0)
	g, err := s.GetGroup(ctx, "app", "web")
	if err != nil || g.DirectUpload {
		t.Fatalf("GetGroup: %+v %v, want a group without direct upload", g, err)
	}
	g.DirectUpload = true
	if g, err = f.s.UpdateGroup(ctx, g); err != nil || !g.DirectUpload {
		t.Fatalf("UpdateGroup(direct upload): %+v %v", g, err)
	}

	now := time.Now()
	u := store.Upload{ID: "u1", Application: "app", Group: "web", Digest: "d1", Size: 10, Commit: "c1", Directory: "deploy", ExpireTime: now.Add(time.Minute)}
	if _, err := s.CreateUpload(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUpload(ctx, u); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateUpload with a taken id: %v, want ErrExists", err)
	}
	if _, err := s.ClaimUpload(ctx, "app", "other", "u1", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ClaimUpload for another group: %v, want ErrNotFound", err)
	}
	if _, err := s.ClaimUpload(ctx, "app", "web", "u1", now.Add(2*time.Minute)); !errors.Is(err, store.ErrUploadExpired) {
		t.Errorf("ClaimUpload after its expiry: %v, want ErrUploadExpired", err)
	}
	got, err := s.ClaimUpload(ctx, "app", "web", "u1", now)
	if err != nil || got.Digest != "d1" || got.Size != 10 || got.Commit != "c1" || got.Directory != "deploy" {
		t.Fatalf("ClaimUpload: %+v %v, want the slot as created (an expired try leaves it unused)", got, err)
	}
	if _, err := s.ClaimUpload(ctx, "app", "web", "u1", now); !errors.Is(err, store.ErrUploadClaimed) {
		t.Errorf("second ClaimUpload: %v, want ErrUploadClaimed", err)
	}
	if _, err := s.CreateUpload(ctx, store.Upload{ID: "u2", Application: "app", Group: "web"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("CreateUpload without digest, size and expiry: %v, want ErrInvalid", err)
	}
}
