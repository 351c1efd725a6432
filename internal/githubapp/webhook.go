package githubapp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/slipway-deploy/slipway/internal/store"
)

// PathWebhook is where GitHub delivers webhooks.
const PathWebhook = "/webhooks/github"

// MaxWebhookBody bounds a delivery. The events Slipway handles are a few kilobytes to a few
// hundred (a comment is at most 65,536 characters); GitHub caps payloads at 25 MB, but nothing
// Slipway reads comes close.
const MaxWebhookBody = 5 << 20

// storeTimeout bounds the write that records a delivery: GitHub gives up after 10 s.
const storeTimeout = 5 * time.Second

// bodyTimeout bounds the time a delivery's body may take to arrive: the receiver must read it
// before it can check the signature, so without a bound anyone who reaches the server could hold
// connections open by trickling bodies in. GitHub sends a few hundred kilobytes at most at once.
const bodyTimeout = 30 * time.Second

// maxDeliveryID bounds X-GitHub-Delivery (a GUID, 36 characters).
const maxDeliveryID = 100

// deliveryStore is what the receiver needs of the store.
type deliveryStore interface {
	PutDelivery(ctx context.Context, d store.Delivery) (bool, error)
}

// Receiver is the webhook endpoint: it checks the delivery's signature on the raw body in
// constant time, records the delivery (once: a redelivery or replay of the same X-GitHub-Delivery
// is acknowledged and dropped), answers 202 only once the record is durable, and wakes the
// Dispatcher, which processes it. It never processes anything itself.
type Receiver struct {
	secret []byte
	store  deliveryStore
	wake   func()
	log    *slog.Logger
	now    func() time.Time
	// bodyTimeout is bodyTimeout, shortened by tests.
	bodyTimeout time.Duration
}

// NewReceiver returns the endpoint for deliveries signed with secret; wake is called after each
// new delivery is recorded (Dispatcher.Notify).
func NewReceiver(secret string, st deliveryStore, wake func(), log *slog.Logger) *Receiver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Receiver{secret: []byte(secret), store: st, wake: wake, log: log, now: time.Now, bodyTimeout: bodyTimeout}
}

// handledEvents are the events the Dispatcher has handlers for; others are acknowledged and
// not stored, so a webhook subscribed to more than it needs costs nothing.
var handledEvents = map[string]bool{
	eventPing: true, eventDeployment: true, eventIssueComment: true, eventCheckRun: true,
}

type webhookAnswer struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	event := r.Header.Get(github.EventTypeHeader)
	id := r.Header.Get(github.DeliveryIDHeader)
	sig := r.Header.Get(github.SHA256SignatureHeader)
	switch {
	case event == "" || id == "":
		rc.answer(w, http.StatusBadRequest, "missing X-GitHub-Event or X-GitHub-Delivery header: only GitHub webhook deliveries are accepted here")
		return
	case len(id) > maxDeliveryID:
		rc.answer(w, http.StatusBadRequest, "X-GitHub-Delivery is too long")
		return
	case !strings.HasPrefix(sig, "sha256="):
		rc.log.Warn("webhook without a sha256 signature", "delivery_id", id, "event", event)
		rc.answer(w, http.StatusUnauthorized, "missing X-Hub-Signature-256: give the webhook a secret in GitHub, the same as the server's github.webhook_secret")
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		rc.answer(w, http.StatusUnsupportedMediaType, "set the webhook's content type to application/json")
		return
	}
	// The deadline is lifted once the whole body is in, and only then: what a refused request
	// leaves unread, net/http reads after the handler, within it.
	ctl := http.NewResponseController(w)
	_ = ctl.SetReadDeadline(time.Now().Add(rc.bodyTimeout)) // unsupported only by test recorders
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case err == nil:
		_ = ctl.SetReadDeadline(time.Time{})
	case errors.As(err, &mbe):
		rc.answer(w, http.StatusRequestEntityTooLarge, "delivery larger than the server accepts")
		return
	case errors.As(err, &ne) && ne.Timeout():
		rc.answer(w, http.StatusRequestTimeout, "the delivery's body did not arrive in time")
		return
	default:
		rc.answer(w, http.StatusBadRequest, "could not read the body")
		return
	}
	// ValidateSignature compares with hmac.Equal, in constant time, over the raw bytes.
	if err := github.ValidateSignature(sig, body, rc.secret); err != nil {
		rc.log.Warn("webhook signature mismatch", "delivery_id", id, "event", event)
		rc.answer(w, http.StatusUnauthorized, "signature does not match: the webhook's secret in GitHub must equal the server's github.webhook_secret")
		return
	}
	if !handledEvents[event] {
		rc.log.Info("webhook event not handled; ignored", "delivery_id", id, "event", event)
		rc.answer(w, http.StatusAccepted, "")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), storeTimeout)
	defer cancel()
	created, err := rc.store.PutDelivery(ctx, store.Delivery{ID: id, Event: event, Payload: body, ReceivedTime: rc.now()})
	if err != nil {
		rc.log.Error("record webhook delivery", "delivery_id", id, "event", event, "error", err)
		rc.answer(w, http.StatusServiceUnavailable, "could not record the delivery; redeliver it from the webhook's settings")
		return
	}
	if !created {
		rc.log.Info("webhook delivery seen before; ignored", "delivery_id", id, "event", event)
		w.Header().Set("Content-Type", "application/json")
		writeAnswer(w, http.StatusOK, webhookAnswer{Status: "duplicate", Message: "this delivery was accepted before and is not processed again"})
		return
	}
	rc.log.Info("webhook delivery accepted", "delivery_id", id, "event", event)
	rc.wake()
	writeAnswer(w, http.StatusAccepted, webhookAnswer{Status: "accepted"})
}

func (rc *Receiver) answer(w http.ResponseWriter, status int, msg string) {
	a := webhookAnswer{Status: "rejected", Message: msg}
	if status == http.StatusAccepted {
		a = webhookAnswer{Status: "ignored", Message: "event not handled"}
	}
	writeAnswer(w, status, a)
}

func writeAnswer(w http.ResponseWriter, status int, a webhookAnswer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(a)
}
