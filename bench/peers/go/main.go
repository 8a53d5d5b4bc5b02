// grpc-go helloworld greeter server: the peer the host is measured against
// (bench/unary.sh). It is the stock greeter_server of grpc-go 1.33's examples
// (/usr/share/doc/golang-google-grpc-dev/examples/helloworld/greeter_server) with two
// changes: the port comes from -port (the stock one is fixed at :50051), and SayHello
// does not log each request (a log line per call would measure the logger, not gRPC).
// The stubs are imported as greeterbench/helloworld: unary.sh places them in a GOPATH
// of its own under the build directory (see there).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"

	pb "greeterbench/helloworld"

	"google.golang.org/grpc"
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
