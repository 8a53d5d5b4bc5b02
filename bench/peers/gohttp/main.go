// gohttp: the peers of bench/http.sh, one binary.
//
//	gohttp -backend -ports P1,P2,...   an HTTP/1.1 server (net/http) on each port of 127.0.0.1:
//	                                   any path answers "ok"; /delay?ms=N answers "ok" after N ms;
//	                                   /inflight answers the number of requests being answered
//	gohttp -port P -url U              a grpc-go Greeter whose SayHello GETs U (or, when U is
//	                                   empty, the request's name as a URL) with one shared
//	                                   net/http client, keep-alive, and replies "Hello " + body:
//	                                   the idiomatic Go counterpart of a handler doing
//	                                   http.request per call
//
// The stubs are imported as greeterbench/helloworld, built as bench/lib.sh builds the Go peer.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	pb "greeterbench/helloworld"

	"google.golang.org/grpc"
)

var (
	backend = flag.Bool("backend", false, "serve HTTP instead")
	ports   = flag.String("ports", "", "backend: the ports, comma-separated")
	port    = flag.Int("port", 50051, "the gRPC port")
	url     = flag.String("url", "", "the URL SayHello gets; empty: the request's name")
)

var inflight int64

func serveBackend() {
	mux := http.NewServeMux()
	mux.HandleFunc("/inflight", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d", atomic.LoadInt64(&inflight))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		atomic.AddInt64(&inflight, 1)
		defer atomic.AddInt64(&inflight, -1)
		if ms, err := strconv.Atoi(r.URL.Query().Get("ms")); err == nil {
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
		io.WriteString(w, "ok")
	})
	ps := strings.Split(*ports, ",")
	errs := make(chan error, len(ps))
	for _, p := range ps {
		go func(p string) { errs <- http.ListenAndServe("127.0.0.1:"+p, mux) }(p)
	}
	log.Fatal(<-errs)
}

type server struct {
	pb.UnimplementedGreeterServer
	client *http.Client
}

func (s *server) SayHello(ctx context.Context, in *pb.HelloRequest) (*pb.HelloReply, error) {
	target := *url
	if target == "" {
		target = in.GetName()
	}
	req, err := http.NewRequestWithContext(ctx, "GET", target, nil)
	if err != nil {
		return nil, err
	}
	res, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	return &pb.HelloReply{Message: "Hello " + string(body)}, nil
}

func main() {
	flag.Parse()
	if *backend {
		serveBackend()
		return
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns = 0 // no limit over all hosts
	transport.MaxIdleConnsPerHost = 1000
	lis, err := net.Listen("tcp", fmt.Sprintf(":%d", *port))
	if err != nil {
		log.Fatalf("failed to listen: %v", err)
	}
	s := grpc.NewServer()
	pb.RegisterGreeterServer(s, &server{client: &http.Client{Transport: transport, Timeout: 30 * time.Second}})
	if err := s.Serve(lis); err != nil {
		log.Fatalf("failed to serve: %v", err)
	}
}
