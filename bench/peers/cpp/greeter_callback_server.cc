// grpc C++ callback-API helloworld server: the peer the host is measured against
// (bench/unary.sh). It is the stock greeter_callback_server of grpc's examples with a
// --port flag and nothing else: SayHello replies "Hello " + name; the other methods of
// helloworld.Greeter are left to the generated CallbackService (UNIMPLEMENTED).
//
// Threads: the callback API runs handlers on the C core's own poller/executor threads and
// offers no knob to make it one thread; bench/unary.sh pins the process to one core.

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "helloworld.grpc.pb.h"

using grpc::CallbackServerContext;
using grpc::Server;
using grpc::ServerBuilder;
using grpc::ServerUnaryReactor;
using grpc::Status;
using helloworld::Greeter;
using helloworld::HelloReply;
using helloworld::HelloRequest;

class GreeterServiceImpl final : public Greeter::CallbackService {
  ServerUnaryReactor* SayHello(CallbackServerContext* context,
                               const HelloRequest* request,
                               HelloReply* reply) override {
    reply->set_message("Hello " + request->name());
    ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(Status::OK);
    return reactor;
  }
};

static int ParsePort(int argc, char** argv) {
  int port = 50051;
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else if (std::strncmp(argv[i], "--port=", 7) == 0) {
      port = std::atoi(argv[i] + 7);
    } else {
      std::cerr << "usage: " << argv[0] << " [--port N]" << std::endl;
      std::exit(2);
    }
  }
  if (port <= 0 || port > 65535) {
    std::cerr << "bad port" << std::endl;
    std::exit(2);
  }
  return port;
}

int main(int argc, char** argv) {
  std::string server_address = "0.0.0.0:" + std::to_string(ParsePort(argc, argv));
  GreeterServiceImpl service;

  ServerBuilder builder;
  builder.AddListeningPort(server_address, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<Server> server(builder.BuildAndStart());
  if (!server) {
    std::cerr << "failed to listen on " << server_address << std::endl;
    return 1;
  }
  std::cout << "Server listening on " << server_address << std::endl;
  server->Wait();
  return 0;
}
