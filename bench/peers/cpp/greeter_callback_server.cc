// grpc C++ callback-API helloworld server: the peer the host is measured against
// (bench/unary.sh). SayHello is the stock greeter_callback_server of grpc's examples with a
// --port flag: it replies "Hello " + name. The three streaming methods of helloworld.Greeter
// (for bench/stream.sh and bench/footprint.sh) do what bench/scripts/greeter.lua does for the
// host, with the callback API's reactors, one message in flight at a time:
//   SayHelloStreamReply   sends x-count replies (request metadata; 3 when absent), "Hello NAME #i"
//   SayHelloClientStream  counts the requests and replies with the count ("N")
//   SayHelloBidiStream    answers each request as it arrives, "Hello NAME"
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

  grpc::ServerWriteReactor<HelloReply>* SayHelloStreamReply(CallbackServerContext* context,
                                                            const HelloRequest* request) override {
    class Writer final : public grpc::ServerWriteReactor<HelloReply> {
     public:
      Writer(CallbackServerContext* context, const HelloRequest* request) : name_(request->name()) {
        const auto& md = context->client_metadata();
        auto it = md.find("x-count");
        if (it != md.end()) n_ = std::atol(std::string(it->second.data(), it->second.size()).c_str());
        Next();
      }
      void OnWriteDone(bool ok) override {
        if (!ok) {
          Finish(Status(grpc::StatusCode::CANCELLED, "write failed"));
          return;
        }
        Next();
      }
      void OnDone() override { delete this; }

     private:
      void Next() {
        if (i_ >= n_) {
          Finish(Status::OK);
          return;
        }
        ++i_;
        reply_.set_message("Hello " + name_ + " #" + std::to_string(i_));
        StartWrite(&reply_);
      }
      std::string name_;
      long n_ = 3, i_ = 0;
      HelloReply reply_;
    };
    return new Writer(context, request);
  }

  grpc::ServerReadReactor<HelloRequest>* SayHelloClientStream(CallbackServerContext* context,
                                                              HelloReply* reply) override {
    class Reader final : public grpc::ServerReadReactor<HelloRequest> {
     public:
      explicit Reader(HelloReply* reply) : reply_(reply) { StartRead(&request_); }
      void OnReadDone(bool ok) override {
        if (ok) {
          ++n_;
          StartRead(&request_);
          return;
        }
        reply_->set_message(std::to_string(n_));
        Finish(Status::OK);
      }
      void OnDone() override { delete this; }

     private:
      HelloReply* reply_;
      HelloRequest request_;
      long n_ = 0;
    };
    return new Reader(reply);
  }

  grpc::ServerBidiReactor<HelloRequest, HelloReply>* SayHelloBidiStream(
      CallbackServerContext* context) override {
    class Echo final : public grpc::ServerBidiReactor<HelloRequest, HelloReply> {
     public:
      Echo() { StartRead(&request_); }
      void OnReadDone(bool ok) override {
        if (!ok) {
          Finish(Status::OK);
          return;
        }
        reply_.set_message("Hello " + request_.name());
        StartWrite(&reply_);
      }
      void OnWriteDone(bool ok) override {
        if (!ok) {
          Finish(Status(grpc::StatusCode::CANCELLED, "write failed"));
          return;
        }
        StartRead(&request_);
      }
      void OnDone() override { delete this; }

     private:
      HelloRequest request_;
      HelloReply reply_;
    };
    return new Echo();
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
