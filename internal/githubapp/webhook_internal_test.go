package githubapp

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/store"
)

type noDeliveries struct{}

func (noDeliveries) PutDelivery(context.Context, store.Delivery) (bool, error) { return true, nil }

// TestReceiver_SlowBodyIsCutOff: the receiver must read a delivery before it can check its
// signature, so anyone who reaches the server can send one; a body trickled in (or never
// finished) must not hold a connection and its goroutine for ever.
func TestReceiver_SlowBodyIsCutOff(t *testing.T) {
	t.Parallel()
	rc := NewReceiver("a-webhook-secret-of-some-length", noDeliveries{}, func() {}, nil)
	rc.bodyTimeout = 200 * time.Millisecond
	hs := httptest.NewServer(rc)
	t.Cleanup(hs.Close)
	conn, err := net.Dial("tcp", hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: slipway\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n"+
		"X-GitHub-Event: ping\r\nX-GitHub-Delivery: 1\r\nX-Hub-Signature-256: sha256=00\r\n\r\n{", PathWebhook)
	if err := conn.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the receiver did not answer a body that never came: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("status %d, want 408", resp.StatusCode)
	}
}
