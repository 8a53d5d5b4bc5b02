// @connectrpc/connect-node helloworld.Greeter server over HTTP/1.1: the peer of bench/web.sh, with
// the handler the host runs (SayHello replies "Hello " + name). Written as connect-node's
// documentation shows (connectNodeAdapter on node's http server); the service comes from the
// protoset at start, as the host takes it, so no code is generated.
//
//   node connect.js [--port N] [--protoset FILE]
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const { createFileRegistry, fromBinary } = require('@bufbuild/protobuf');
const { FileDescriptorSetSchema } = require('@bufbuild/protobuf/wkt');
const { connectNodeAdapter } = require('@connectrpc/connect-node');

function flag(name, def) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--' + name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
}

const port = Number(flag('port', '50052'));
const protoset = flag('protoset', path.join(__dirname, '..', '..', '..', 'build', 'protoset.pb'));
const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, fs.readFileSync(protoset)));
const greeter = registry.getService('helloworld.Greeter');

const handler = connectNodeAdapter({
  routes(router) {
    router.service(greeter, {
      sayHello(req) {
        return { message: 'Hello ' + req.name };
      },
    });
  },
});

http.createServer(handler).listen(port, '127.0.0.1');
