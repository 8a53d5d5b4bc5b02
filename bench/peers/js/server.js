// grpc-js helloworld.Greeter server: a peer the host is measured against (bench/unary.sh,
// bench/stream.sh, bench/footprint.sh). Written the way grpc-js's own examples are
// (examples/helloworld/dynamic_codegen/greeter_server.js, examples/routeguide): the proto is
// loaded at start by @grpc/proto-loader, handlers are plain functions. SayHello replies
// "Hello " + name, like every peer; the three streaming methods do what
// bench/scripts/greeter.lua does for the host:
//
//   SayHelloStreamReply   sends x-count replies (request metadata; 3 when absent), "Hello NAME #i",
//                         writing as long as call.write() accepts and resuming on 'drain'
//   SayHelloClientStream  counts the requests and replies with the count ("N")
//   SayHelloBidiStream    answers each request as it arrives, "Hello NAME"
//
//   node server.js [--port N] [--proto FILE]
//
// bench/lib.sh runs it with NODE_PATH=build/bench/js/node_modules (package.json beside this
// file pins the versions; `npm install` is done there, never in the source tree).
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function flag(name, def) {
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--' + name && i + 1 < args.length) return args[i + 1];
    if (args[i].startsWith('--' + name + '=')) return args[i].slice(name.length + 3);
  }
  return def;
}

const port = Number(flag('port', '50051'));
const protoPath = flag('proto', path.join(__dirname, '..', '..', '..', 'proto', 'helloworld.proto'));
const packageDefinition = protoLoader.loadSync(protoPath, {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const helloworld = grpc.loadPackageDefinition(packageDefinition).helloworld;

function sayHello(call, callback) {
  callback(null, { message: 'Hello ' + call.request.name });
}

function sayHelloStreamReply(call) {
  let n = 3;
  const v = call.metadata.get('x-count');
  if (v.length > 0 && /^[+-]?\d+$/.test(String(v[0]))) n = parseInt(String(v[0]), 10);
  const name = call.request.name;
  let i = 0;
  let cancelled = false;
  call.on('cancelled', () => {
    cancelled = true;
  });
  const next = () => {
    while (!cancelled && i < n) {
      i++;
      if (!call.write({ message: 'Hello ' + name + ' #' + i })) {
        call.once('drain', next);
        return;
      }
    }
    if (!cancelled) call.end();
  };
  next();
}

function sayHelloClientStream(call, callback) {
  let n = 0;
  call.on('data', () => {
    n++;
  });
  call.on('end', () => {
    callback(null, { message: String(n) });
  });
}

function sayHelloBidiStream(call) {
  call.on('data', (request) => {
    call.write({ message: 'Hello ' + request.name });
  });
  call.on('end', () => {
    call.end();
  });
}

function main() {
  const server = new grpc.Server();
  server.addService(helloworld.Greeter.service, {
    SayHello: sayHello,
    SayHelloStreamReply: sayHelloStreamReply,
    SayHelloClientStream: sayHelloClientStream,
    SayHelloBidiStream: sayHelloBidiStream,
  });
  server.bindAsync('0.0.0.0:' + port, grpc.ServerCredentials.createInsecure(), (err, bound) => {
    if (err) {
      console.error('failed to listen on port ' + port + ': ' + err.message);
      process.exit(1);
    }
    console.log('Server listening on 0.0.0.0:' + bound);
  });
}

main();
