// load: a small gRPC load client for helloworld.Greeter (proto/helloworld.proto), used by
// bench/stream.sh and bench/footprint.sh. It talks to any server that serves the Greeter the way
// bench/scripts/greeter.lua does (the host with --scripts bench/scripts, or the grpc-go peer).
//
//	load unary  -addr A -n N    N SayHello calls, one after the other, on one connection
//	load stream -addr A -n N    one SayHelloStreamReply call asking (x-count: N) for N replies
//	load client -addr A -n N    one SayHelloClientStream call sending N requests; checks the count
//	load bidi   -addr A -n N    one SayHelloBidiStream call, N ping-pong round trips
//	load luamem -addr A         one SayHelloClientStream call with metadata x-lua-kb, no requests:
//	                            bench/scripts/greeter.lua replies with its Lua state's KiB
//	load cold   -addr A -runs R [-log F] -- CMD ARGS...
//	                            R times: exec CMD, connect-retry in a tight loop (no sleeps), time
//	                            until the first SayHello is answered, kill CMD
//	load idle   -addr A -conns C -streams S
//	                            opens C connections with S bidi streams each (one ping each, so
//	                            the server runs a handler for every stream), prints "ready ...",
//	                            then holds them, idle, until SIGTERM or SIGINT
//
// Each measuring command prints one line of key=value pairs on stdout; errors go to stderr with
// exit status 1. Build: GOPATH mode with the stubs as greeterbench/helloworld (see stream.sh).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	pb "greeterbench/helloworld"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/metadata"
)

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "load: "+format+"\n", a...)
	os.Exit(1)
}

func dial(addr string) *grpc.ClientConn {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc, err := grpc.DialContext(ctx, addr, grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		die("dial %s: %v", addr, err)
	}
	return cc
}

func report(kind string, n int, d time.Duration, extra string) {
	fmt.Printf("kind=%s n=%d secs=%.4f rate=%.0f%s\n", kind, n, d.Seconds(), float64(n)/d.Seconds(), extra)
}

// Unary: N SayHello calls in sequence.
func runUnary(addr string, n int, name string) {
	cc := dial(addr)
	defer cc.Close()
	c := pb.NewGreeterClient(cc)
	req := &pb.HelloRequest{Name: name}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		r, err := c.SayHello(context.Background(), req)
		if err != nil {
			die("unary: call %d: %v", i, err)
		}
		if r.GetMessage() != "Hello "+name {
			die("unary: reply %q", r.GetMessage())
		}
	}
	report("unary", n, time.Since(t0), "")
}

// Server streaming: N replies on one call.
func runStream(addr string, n int, name string) {
	cc := dial(addr)
	defer cc.Close()
	c := pb.NewGreeterClient(cc)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-count", strconv.Itoa(n))
	t0 := time.Now()
	st, err := c.SayHelloStreamReply(ctx, &pb.HelloRequest{Name: name})
	if err != nil {
		die("stream: %v", err)
	}
	got := 0
	var first string
	for {
		r, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			die("stream: after %d replies: %v", got, err)
		}
		if got == 0 {
			first = r.GetMessage()
		}
		got++
	}
	d := time.Since(t0)
	if got != n {
		die("stream: got %d replies, asked for %d", got, n)
	}
	if n > 0 && first != "Hello "+name+" #1" {
		die("stream: first reply %q", first)
	}
	report("stream", n, d, "")
}

// Client streaming: N requests on one call; the server replies with the count.
func runClient(addr string, n int, name string) {
	cc := dial(addr)
	defer cc.Close()
	c := pb.NewGreeterClient(cc)
	req := &pb.HelloRequest{Name: name}
	t0 := time.Now()
	st, err := c.SayHelloClientStream(context.Background())
	if err != nil {
		die("client: %v", err)
	}
	for i := 0; i < n; i++ {
		if err := st.Send(req); err != nil {
			die("client: send %d: %v", i, err)
		}
	}
	r, err := st.CloseAndRecv()
	if err != nil {
		die("client: %v", err)
	}
	d := time.Since(t0)
	if r.GetMessage() != strconv.Itoa(n) {
		die("client: server counted %q, sent %d", r.GetMessage(), n)
	}
	report("client", n, d, "")
}

// Lua memory of the host's worker (bench/scripts/greeter.lua only).
func runLuaMem(addr string) {
	cc := dial(addr)
	defer cc.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-lua-kb", "1")
	st, err := pb.NewGreeterClient(cc).SayHelloClientStream(ctx)
	if err != nil {
		die("luamem: %v", err)
	}
	r, err := st.CloseAndRecv()
	if err != nil {
		die("luamem: %v", err)
	}
	fmt.Printf("kind=luamem kb=%s\n", r.GetMessage())
}

// Bidi ping-pong: send one, wait for its reply, N times.
func runBidi(addr string, n int, name string) {
	cc := dial(addr)
	defer cc.Close()
	c := pb.NewGreeterClient(cc)
	req := &pb.HelloRequest{Name: name}
	want := "Hello " + name
	st, err := c.SayHelloBidiStream(context.Background())
	if err != nil {
		die("bidi: %v", err)
	}
	// The first round trip starts the handler; it is not timed.
	if err := st.Send(req); err != nil {
		die("bidi: %v", err)
	}
	if _, err := st.Recv(); err != nil {
		die("bidi: %v", err)
	}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if err := st.Send(req); err != nil {
			die("bidi: send %d: %v", i, err)
		}
		r, err := st.Recv()
		if err != nil {
			die("bidi: recv %d: %v", i, err)
		}
		if r.GetMessage() != want {
			die("bidi: reply %q", r.GetMessage())
		}
	}
	d := time.Since(t0)
	if err := st.CloseSend(); err != nil {
		die("bidi: %v", err)
	}
	if _, err := st.Recv(); err != io.EOF {
		die("bidi: end: %v", err)
	}
	report("bidi", n, d, fmt.Sprintf(" mean_us=%.1f", float64(d.Microseconds())/float64(n)))
}

// Cold start: exec to the first answered SayHello.
func runCold(addr string, runs int, logPath string, argv []string) {
	if len(argv) == 0 {
		die("cold: no command")
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		die("cold: %s is already in use", addr)
	}
	var times, conns []float64 // exec to first answer, exec to first accepted connect
	redials := 0               // runs whose first connection failed
	for r := 0; r < runs; r++ {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdin = nil
		if logPath != "" {
			f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0644)
			if err != nil {
				die("cold: %v", err)
			}
			cmd.Stdout, cmd.Stderr = f, f
			defer f.Close()
		}
		exited := make(chan error, 1)
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			die("cold: %v", err)
		}
		go func() { exited <- cmd.Wait() }()
		var conn net.Conn
		for conn == nil { // tight connect-retry loop, no sleeps
			c, err := net.Dial("tcp", addr)
			if err == nil {
				if c.LocalAddr().String() == c.RemoteAddr().String() {
					die("cold: connected to itself on %s: use a port outside the ephemeral range", addr)
				}
				conn = c
				break
			}
			select {
			case err := <-exited:
				die("cold: %s exited during start-up: %v", argv[0], err)
			default:
			}
			if time.Since(t0) > 20*time.Second {
				die("cold: %s not accepting after 20 s", addr)
			}
		}
		tConn := time.Since(t0)
		dials := 0
		dialer := func(ctx context.Context, a string) (net.Conn, error) {
			dials++
			if dials == 1 {
				return conn, nil
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", a)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		// Should the first connection fail, reconnect at once rather than after grpc-go's
		// default backoff (1 s): the time is the server's, not the client's policy.
		fast := backoff.Config{BaseDelay: time.Millisecond, Multiplier: 1, MaxDelay: time.Millisecond}
		cc, err := grpc.DialContext(ctx, addr, grpc.WithInsecure(), grpc.WithContextDialer(dialer),
			grpc.WithConnectParams(grpc.ConnectParams{Backoff: fast, MinConnectTimeout: 20 * time.Second}))
		if err != nil {
			die("cold: %v", err)
		}
		rep, err := pb.NewGreeterClient(cc).SayHello(ctx, &pb.HelloRequest{Name: "world"}, grpc.WaitForReady(true))
		d := time.Since(t0)
		cancel()
		if err != nil {
			die("cold: run %d: %v", r, err)
		}
		if rep.GetMessage() != "Hello world" {
			die("cold: reply %q", rep.GetMessage())
		}
		cc.Close()
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		times = append(times, float64(d.Microseconds())/1000)
		conns = append(conns, float64(tConn.Microseconds())/1000)
		if dials > 1 {
			redials++
		}
	}
	sorted := append([]float64(nil), times...)
	sort.Float64s(sorted)
	med := sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		med = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	}
	sort.Float64s(conns)
	fmt.Printf("kind=cold runs=%d median_ms=%.2f min_ms=%.2f max_ms=%.2f connect_median_ms=%.2f redials=%d all_ms=",
		runs, med, sorted[0], sorted[len(sorted)-1], conns[len(conns)/2], redials)
	for i, t := range times {
		if i > 0 {
			fmt.Print(",")
		}
		fmt.Printf("%.2f", t)
	}
	fmt.Println()
}

// Idle streams: conns x streams open bidi streams, one ping each, then nothing.
func runIdle(addr string, conns, streams int, name string) {
	var mu sync.Mutex
	var held []interface{} // keeps every conn and stream reachable
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	req := &pb.HelloRequest{Name: name}
	t0 := time.Now()
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			// WithBlock and a fresh ClientConn each: one TCP connection per ClientConn.
			cc, err := grpc.DialContext(ctx, addr, grpc.WithInsecure(), grpc.WithBlock())
			if err != nil {
				errs <- err
				return
			}
			c := pb.NewGreeterClient(cc)
			mine := []interface{}{cc}
			for j := 0; j < streams; j++ {
				st, err := c.SayHelloBidiStream(context.Background())
				if err != nil {
					errs <- fmt.Errorf("stream %d: %v", j, err)
					return
				}
				if err := st.Send(req); err != nil {
					errs <- fmt.Errorf("stream %d: send: %v", j, err)
					return
				}
				if _, err := st.Recv(); err != nil {
					errs <- fmt.Errorf("stream %d: recv: %v", j, err)
					return
				}
				mine = append(mine, st)
			}
			mu.Lock()
			held = append(held, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		die("idle: %v", err)
	default:
	}
	fmt.Printf("ready conns=%d streams=%d secs=%.2f\n", conns, conns*streams, time.Since(t0).Seconds())
	os.Stdout.Sync()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	mu.Lock()
	fmt.Fprintf(os.Stderr, "idle: releasing %d objects\n", len(held))
	mu.Unlock()
}

func main() {
	if len(os.Args) < 2 {
		die("usage: load unary|stream|client|bidi|luamem|cold|idle [flags] (see the source)")
	}
	cmd := os.Args[1]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:50151", "server address")
	n := fs.Int("n", 1000000, "messages / round trips")
	name := fs.String("name", "world", "HelloRequest.name")
	runs := fs.Int("runs", 20, "cold: runs")
	logPath := fs.String("log", "", "cold: the server's stdout and stderr (default: discarded)")
	conns := fs.Int("conns", 100, "idle: connections")
	streams := fs.Int("streams", 100, "idle: streams per connection")
	fs.Parse(os.Args[2:])
	switch cmd {
	case "unary":
		runUnary(*addr, *n, *name)
	case "stream":
		runStream(*addr, *n, *name)
	case "client":
		runClient(*addr, *n, *name)
	case "bidi":
		runBidi(*addr, *n, *name)
	case "luamem":
		runLuaMem(*addr)
	case "cold":
		runCold(*addr, *runs, *logPath, fs.Args())
	case "idle":
		runIdle(*addr, *conns, *streams, *name)
	default:
		die("unknown command %q", cmd)
	}
}
