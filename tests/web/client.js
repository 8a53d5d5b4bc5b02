// One call through @connectrpc/connect-node's Connect or gRPC-Web transport over HTTP/1.1, for
// tests/test_web.py. The methods come from the host's protoset (no generated code):
//
//   node client.js PROTOSET BASE_URL connect|grpcweb json|binary pkg.Service/Method REQUEST_JSON
//        [--timeout-ms N] [--header key=value]...
//
// Prints one JSON line per reply ({"reply": ...}), then {"headers": {...}, "trailers": {...}}, or
// {"error": {"code": "not_found", "message": ..., "details": [type names], "metadata": {...}}}.
'use strict';

const fs = require('fs');
const { createFileRegistry, fromBinary, fromJson, toJson } = require('@bufbuild/protobuf');
const { FileDescriptorSetSchema } = require('@bufbuild/protobuf/wkt');
const { createClient, ConnectError, Code } = require('@connectrpc/connect');
const { createConnectTransport, createGrpcWebTransport } = require('@connectrpc/connect-node');

function headersObject(h) {
  const out = {};
  h.forEach((v, k) => { out[k] = v; });
  return out;
}

async function main() {
  const [protoset, baseUrl, protocol, format, path, requestJson, ...rest] = process.argv.slice(2);
  const headers = {};
  let timeoutMs;
  for (let i = 0; i < rest.length; i += 2) {
    if (rest[i] === '--timeout-ms') timeoutMs = Number(rest[i + 1]);
    if (rest[i] === '--header') {
      const [k, ...v] = rest[i + 1].split('=');
      headers[k] = v.join('=');
    }
  }
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, fs.readFileSync(protoset)));
  const [serviceName, methodName] = path.split('/');
  const service = registry.getService(serviceName);
  const method = service.methods.find((m) => m.name === methodName);
  const options = { baseUrl, httpVersion: '1.1', useBinaryFormat: format === 'binary' };
  const transport = protocol === 'grpcweb' ? createGrpcWebTransport(options) : createConnectTransport(options);
  const client = createClient(service, transport);
  const request = fromJson(method.input, JSON.parse(requestJson), { registry });
  const print = (m) => process.stdout.write(JSON.stringify(m) + '\n');
  const result = {};
  const callOptions = {
    headers, timeoutMs,
    onHeader: (h) => { result.headers = headersObject(h); },
    onTrailer: (t) => { result.trailers = headersObject(t); },
  };
  try {
    if (method.methodKind === 'server_streaming') {
      for await (const reply of client[method.localName](request, callOptions))
        print({ reply: toJson(method.output, reply, { registry }) });
    } else {
      print({ reply: toJson(method.output, await client[method.localName](request, callOptions), { registry }) });
    }
    print(result);
  } catch (e) {
    const err = ConnectError.from(e);
    print({ error: { code: Code[err.code], message: err.rawMessage,
                     details: err.details.map((d) => d.desc ? d.desc.typeName : d.type),
                     metadata: headersObject(err.metadata) } });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
