"""grpcio helloworld.Greeter server: a peer the host is measured against (bench/unary.sh,
bench/stream.sh, bench/footprint.sh). Written the way grpcio's own example is
(examples/python/helloworld/greeter_server.py): a servicer class, grpc.server on a
ThreadPoolExecutor of 10 threads, which serves each call on one of them until it ends.
SayHello replies "Hello " + name, like every peer; the three streaming methods do what
bench/scripts/greeter.lua does for the host:

  SayHelloStreamReply   sends x-count replies (request metadata; 3 when absent), "Hello NAME #i"
  SayHelloClientStream  counts the requests and replies with the count ("N")
  SayHelloBidiStream    answers each request as it arrives, "Hello NAME"

  /usr/bin/python3 server.py [--port N]

The stubs helloworld_pb2*.py are found through PYTHONPATH: bench/lib.sh makes them with protoc
and grpc_python_plugin in build/bench/py (Debian's python3-grpcio has no grpc_tools).
"""

import argparse
from concurrent import futures

import grpc

import helloworld_pb2
import helloworld_pb2_grpc


class Greeter(helloworld_pb2_grpc.GreeterServicer):
    def SayHello(self, request, context):
        return helloworld_pb2.HelloReply(message="Hello " + request.name)

    def SayHelloStreamReply(self, request, context):
        n = 3
        for key, value in context.invocation_metadata():
            if key == "x-count":
                try:
                    n = int(value)
                except ValueError:
                    pass
                break
        for i in range(1, n + 1):
            yield helloworld_pb2.HelloReply(message="Hello %s #%d" % (request.name, i))

    def SayHelloClientStream(self, request_iterator, context):
        n = 0
        for _ in request_iterator:
            n += 1
        return helloworld_pb2.HelloReply(message=str(n))

    def SayHelloBidiStream(self, request_iterator, context):
        for request in request_iterator:
            yield helloworld_pb2.HelloReply(message="Hello " + request.name)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=50051)
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=10))
    helloworld_pb2_grpc.add_GreeterServicer_to_server(Greeter(), server)
    address = "0.0.0.0:%d" % args.port
    if server.add_insecure_port(address) == 0:
        raise SystemExit("failed to listen on " + address)
    server.start()
    print("Server started, listening on " + address, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
