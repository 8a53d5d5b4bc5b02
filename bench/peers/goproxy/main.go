// goproxy: the peers of bench/proxy.sh, one binary.
//
//	goproxy -port P -target T          a grpc-go Greeter whose SayHello calls SayHello of the
//	                                   Greeter at T through one grpc.ClientConn made at start,
//	                                   the incoming call's context passed on, and returns its
//	                                   reply: the idiomatic Go counterpart of a handler doing
//	                                   client:call per call
//	goproxy -backend -port P -delay D -status-port S
//	                                   a Greeter whose SayHello answers "Hello " + name after D;
//	                                   GET /inflight on 127.0.0.1:S answers how many calls it
//	                                   holds (bench/inflight.py waits on it)
//
// The stubs are imported as greeterbench/helloworld, built as bench/lib.sh builds the Go peer.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	pb "greeterbench/helloworld"

	"google.golang.org/grpc"
)

var (
	port       = flag.Int("port", 50051, "the gRPC port")
	target     = flag.String("target", "127.0.0.1:50052", "the backend SayHello calls")
	backend    = flag.Bool("backend", false, "serve as the backend instead")
	delay      = flag.Duration("delay", 0, "backend: how long SayHello holds each call")
	statusPort = flag.Int("status-port", 0, "backend: the HTTP port of /inflight (0: none)")
)

type proxy struct {
	pb.UnimplementedGreeterServer
	backend pb.GreeterClient
}

func (p *proxy) SayHello(ctx context.Context, in *pb.HelloRequest) (*pb.HelloReply, error) {
	return p.backend.SayHello(ctx, in)
}

type delayed struct {
	pb.UnimplementedGreeterServer
	inflight int64
}

func (d *delayed) SayHello(ctx context.Context, in *pb.HelloRequest) (*pb.HelloReply, error) {
	atomic.AddInt64(&d.inflight, 1)
	defer atomic.AddInt64(&d.inflight, -1)
	select {
	case <-time.After(*delay):
		return &pb.HelloReply{Message: "Hello " + in.GetName()}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (d *delayed) serveStatus() {
	http.HandleFunc("/inflight", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d", atomic.LoadInt64(&d.inflight))
	})
	log.Fatal(http.ListenAndServe(fmt.Sprintf("127.0.0.1:%d", *statusPort), nil))
}

func main() {
	flag.Parse()
	lis, err := net.Listen("tcp", fmt.Sprintf(":%d", *port))
	if err != nil {
		log.Fatalf("failed to listen: %v", err)
	}
	s := grpc.NewServer()
	if *backend {
		d := &delayed{}
		if *statusPort != 0 {
			go d.serveStatus()
		}
		pb.RegisterGreeterServer(s, d)
	} else {
		conn, err := grpc.Dial(*target, grpc.WithInsecure())
		if err != nil {
			log.Fatalf("failed to dial %s: %v", *target, err)
		}
		defer conn.Close()
		pb.RegisterGreeterServer(s, &proxy{backend: pb.NewGreeterClient(conn)})
	}
	if err := s.Serve(lis); err != nil {
		log.Fatalf("failed to serve: %v", err)
	}
}
