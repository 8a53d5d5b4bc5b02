// grpc-go helloworld greeter server: the peer the host is measured against
// (bench/unary.sh, bench/stream.sh, bench/footprint.sh). SayHello is the stock
// greeter_server of grpc-go 1.33's examples
// (/usr/share/doc/golang-google-grpc-dev/examples/helloworld/greeter_server) with two
// changes: the port comes from -port (the stock one is fixed at :50051), and SayHello
// does not log each request (a log line per call would measure the logger, not gRPC).
// The three streaming methods of proto/helloworld.proto do what bench/scripts/greeter.lua
// does for the host:
//
//	SayHelloStreamReply   sends x-count replies (request metadata; 3 when absent), "Hello NAME #i"
//	SayHelloClientStream  counts the requests and replies with the count ("N")
//	SayHelloBidiStream    answers each request as it arrives, "Hello NAME"
//
// The stubs are imported as greeterbench/helloworld: unary.sh places them in a GOPATH
// of its own under the build directory (see there).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"

	pb "greeterbench/helloworld"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

var port = flag.Int("port", 50051, "the server port")

// server is used to implement helloworld.GreeterServer.
type server struct {
	pb.UnimplementedGreeterServer
}

// SayHello implements helloworld.GreeterServer
func (s *server) SayHello(ctx context.Context, in *pb.HelloRequest) (*pb.HelloReply, error) {
	return &pb.HelloReply{Message: "Hello " + in.GetName()}, nil
}

func (s *server) SayHelloStreamReply(in *pb.HelloRequest, stream pb.Greeter_SayHelloStreamReplyServer) error {
	n := 3
	if md, ok := metadata.FromIncomingContext(stream.Context()); ok {
		if v := md.Get("x-count"); len(v) > 0 {
			if c, err := strconv.Atoi(v[0]); err == nil {
				n = c
			}
		}
	}
	for i := 1; i <= n; i++ {
		if err := stream.Send(&pb.HelloReply{Message: "Hello " + in.GetName() + " #" + strconv.Itoa(i)}); err != nil {
			return err
		}
	}
	return nil
}

func (s *server) SayHelloClientStream(stream pb.Greeter_SayHelloClientStreamServer) error {
	n := 0
	for {
		_, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&pb.HelloReply{Message: strconv.Itoa(n)})
		}
		if err != nil {
			return err
		}
		n++
	}
}

func (s *server) SayHelloBidiStream(stream pb.Greeter_SayHelloBidiStreamServer) error {
	for {
		in, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&pb.HelloReply{Message: "Hello " + in.GetName()}); err != nil {
			return err
		}
	}
}

func main() {
	flag.Parse()
	lis, err := net.Listen("tcp", fmt.Sprintf(":%d", *port))
	if err != nil {
		log.Fatalf("failed to listen: %v", err)
	}
	s := grpc.NewServer()
	pb.RegisterGreeterServer(s, &server{})
	log.Printf("server listening at %v", lis.Addr())
	if err := s.Serve(lis); err != nil {
		log.Fatalf("failed to serve: %v", err)
	}
}
