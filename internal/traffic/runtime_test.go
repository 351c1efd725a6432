package traffic

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Answers as HAProxy 2.6 gives them (taken from a real `haproxy -W` on this machine).
const (
	serversStateHeader = "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port"
	statHeader         = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type"
)

func TestSplitAnswers(t *testing.T) {
	tests := []struct {
		body string
		want string
	}{
		{"\n", `[[]]`},
		{"\n\nNo such server.\n\n", `[[] [] [No such server.]]`},
		{"1\n# h\nrow\n\n\n", `[[1 # h row] []]`},
		{"Unknown command\n", `[[Unknown command]]`}, // closed without the empty line
		{"", `[]`},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(splitAnswers(tt.body)); got != tt.want {
			t.Errorf("splitAnswers(%q) = %s; want %s", tt.body, got, tt.want)
		}
	}
}

func TestBatch_KeepsLinesShort(t *testing.T) {
	var cmds []string
	for i := range 500 {
		cmds = append(cmds, fmt.Sprintf("set server app/srv%03d weight 100", i))
	}
	lines := batch(cmds)
	n := 0
	for _, l := range lines {
		if size := len(strings.Join(l, "; ")); size > maxLine {
			t.Errorf("line of %d bytes; want at most %d", size, maxLine)
		}
		n += len(l)
	}
	if n != len(cmds) || len(lines) < 2 {
		t.Errorf("%d commands in %d lines; want all %d over several", n, len(lines), len(cmds))
	}
}

func TestParseServersState(t *testing.T) {
	answer := []string{"1", serversStateHeader,
		"3 app 1 blue1 127.0.0.1 2 8 100 100 0 1 0 2 0 0 0 0 - 18081 - 0 0 - - 0",
		"3 app 2 green1 127.0.0.1 2 0 50 0 3 1 0 2 0 0 0 0 - 18082 - 0 0 - - 0",
		"4 chk 2 c2 127.0.0.1 0 5 1 1 5 1 0 0 14 0 0 0 - 18081 - 0 0 - - 0",
	}
	got, err := parseServersState("app", answer)
	if err != nil {
		t.Fatal(err)
	}
	want := "[{blue1 127.0.0.1:18081 100 drain up 0} {green1 127.0.0.1:18082 50 ready up 0}]"
	var servers []Server
	for _, s := range got {
		servers = append(servers, s.Server)
	}
	if fmt.Sprint(servers) != want {
		t.Errorf("servers = %v; want %v", servers, want)
	}
	chk, err := parseServersState("chk", answer)
	if err != nil || len(chk) != 1 || chk[0].Admin != Maint || chk[0].forced != Maint || chk[0].Health != Down {
		t.Errorf("chk = %+v, %v; want c2 maint (forced) and down", chk, err)
	}
}

func TestParseServersState_AdminFlags(t *testing.T) {
	tests := []struct {
		flags         int
		admin, forced AdminState
	}{
		{0x00, Ready, Ready},
		{0x04, Ready, Ready}, // "disabled" in the configuration, since made ready
		{0x05, Maint, Maint},
		{0x08, Drain, Drain},
		{0x10, Drain, Ready}, // inherited from a tracked server
		{0x02, Maint, Ready},
		{0x20, Maint, Ready}, // address resolution failed
		{0x09, Maint, Maint},
	}
	for _, tt := range tests {
		a, f := adminState(tt.flags, admMaint, admDrain), adminState(tt.flags, admForcedMaint, admForcedDrain)
		if a != tt.admin || f != tt.forced {
			t.Errorf("flags %#x: admin %v forced %v; want %v %v", tt.flags, a, f, tt.admin, tt.forced)
		}
	}
}

func TestParseServersState_Refusals(t *testing.T) {
	tests := []struct {
		name   string
		answer []string
		want   error
	}{
		{"unknown backend", []string{"Can't find backend."}, ErrUnknownBackend},
		{"garbage", []string{"Permission denied"}, nil},
		{"missing column", []string{"1", "# be_name srv_name"}, nil},
		{"bad number", []string{"1", serversStateHeader, "3 app 1 blue1 127.0.0.1 x 8 100 100 0 1 0 2 0 0 0 0 - 18081 - 0 0 - - 0"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseServersState("app", tt.answer)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("err = %v; want an error (%v)", err, tt.want)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	answer := []string{statHeader,
		"app,blue1,0,0,3,5,,9,0,0,,0,,0,0,0,0,DRAIN,100,1,0,,,0,,,1,3,1,,0,,2,",
		"app,green1,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,50,1,0,,,3,,,1,3,2,,0,,2,",
		"other,x,0,0,7,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,,,3,,,1,3,2,,0,,2,",
	}
	got, err := parseStat("app", answer)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "map[blue1:3 green1:0]" {
		t.Errorf("sessions = %v; want blue1 3, green1 0", got)
	}
	if _, err := parseStat("nope", []string{"No such proxy."}); !errors.Is(err, ErrUnknownBackend) {
		t.Errorf("unknown proxy: err = %v; want ErrUnknownBackend", err)
	}
}

func TestParseInfo(t *testing.T) {
	p, err := parseInfo([]string{"Name: HAProxy", "Version: 2.6.12-1+deb12u4", "Pid: 19002", "Uptime: 0d 0h00m03s", "Uptime_sec: 3"})
	if err != nil || p.Pid != 19002 || p.Version != "2.6.12-1+deb12u4" || p.Uptime != 3*time.Second {
		t.Errorf("parseInfo = %+v, %v", p, err)
	}
	if _, err := parseInfo([]string{"Unknown command"}); err == nil {
		t.Error("parseInfo without a Pid: want an error")
	}
}

func TestQuiet_PermissionHint(t *testing.T) {
	err := quiet("set server a/b weight 1", []string{"Permission denied"})
	if !errors.Is(err, ErrRuntime) || !strings.Contains(err.Error(), `give the stats socket "level admin"`) {
		t.Errorf("err = %v; want ErrRuntime with the level admin hint", err)
	}
}

func TestParseAddress(t *testing.T) {
	tests := []struct{ in, network, address string }{
		{"/run/haproxy/admin.sock", "unix", "/run/haproxy/admin.sock"},
		{"unix:/tmp/a.sock", "unix", "/tmp/a.sock"},
		{"127.0.0.1:9999", "tcp", "127.0.0.1:9999"},
		{"tcp:[::1]:9999", "tcp", "[::1]:9999"},
	}
	for _, tt := range tests {
		n, a, err := parseAddress(tt.in)
		if err != nil || n != tt.network || a != tt.address {
			t.Errorf("parseAddress(%q) = %s %s %v; want %s %s", tt.in, n, a, err, tt.network, tt.address)
		}
	}
	for _, bad := range []string{"", "admin.sock", "tcp:", "localhost", "unix:"} {
		if _, _, err := parseAddress(bad); err == nil {
			t.Errorf("parseAddress(%q): want an error", bad)
		}
	}
}

// silent listens on a unix socket, accepts and never answers: a hung HAProxy.
func silent(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "slipway-traffic-") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "silent.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return path
}

func TestRuntimeAPI_TimeoutOnAHungSocket(t *testing.T) {
	r := runtimeAPI{network: "unix", address: silent(t), timeout: 50 * time.Millisecond}
	start := time.Now()
	_, err := r.run(context.Background(), "show info")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v; want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %v", d)
	}
}

func TestRuntimeAPI_CancelledContext(t *testing.T) {
	r := runtimeAPI{network: "unix", address: silent(t), timeout: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := r.run(ctx, "show info")
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v; want Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context was cancelled")
	}
}

func TestRuntimeAPI_NoListener(t *testing.T) {
	r := runtimeAPI{network: "unix", address: filepath.Join(t.TempDir(), "none.sock"), timeout: time.Second}
	if _, err := r.run(context.Background(), "show info"); err == nil || !strings.Contains(err.Error(), "none.sock") {
		t.Errorf("err = %v; want a connect error naming the socket", err)
	}
}
