"""Server reflection (v1 and v1alpha) and health checking (issue 7), built into the host:
a client with no .proto files lists every service, fetches its descriptors and calls it; a
probe sees SERVING, what a script sets, and NOT_SERVING once the host drains."""

import os
import signal
import unittest

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from harness import Host, HostTestCase, load_stubs, load_stubs_as, rpc

GRPC_PROTO = "/usr/share/grpc-proto"


def stubs(path, as_name):
    return load_stubs_as(os.path.join(GRPC_PROTO, path), as_name)


refl = stubs("grpc/reflection/v1/reflection.proto", "reflection_v1.proto")
refl_alpha = stubs("grpc/reflection/v1alpha/reflection.proto", "reflection_v1alpha.proto")
health = stubs("grpc/health/v1/health.proto", "health_v1.proto")
limits = load_stubs("limits.proto")
SERVING = health.HealthCheckResponse.SERVING
NOT_SERVING = health.HealthCheckResponse.NOT_SERVING


class ReflectionTest(HostTestCase):
    def ask(self, module, **request):
        stub = module.ServerReflectionStub(self.host.channel())
        replies = list(stub.ServerReflectionInfo(iter([module.ServerReflectionRequest(**request)]),
                                                 timeout=10))
        self.assertEqual(len(replies), 1)
        return replies[0]

    def test_lists_services_in_both_versions(self):
        for module in (refl, refl_alpha):
            names = {s.name for s in self.ask(module, list_services="").list_services_response.service}
            for want in ("helloworld.Greeter", "grpc.health.v1.Health",
                         "grpc.reflection.v1.ServerReflection",
                         "grpc.reflection.v1alpha.ServerReflection"):
                self.assertIn(want, names)

    def pool_for(self, symbol):
        """A descriptor pool built from what reflection answers for symbol, nothing local."""
        reply = self.ask(refl, file_containing_symbol=symbol)
        protos = [descriptor_pb2.FileDescriptorProto.FromString(b)
                  for b in reply.file_descriptor_response.file_descriptor_proto]
        self.assertTrue(protos, reply)
        pool = descriptor_pool.DescriptorPool()
        pending = list(protos)
        while pending:  # dependencies first, whatever order they came in
            ready = [p for p in pending if all(d in [q.name for q in protos if q not in pending]
                                               for d in p.dependency)]
            self.assertTrue(ready, "a dependency is missing from %s" % [p.name for p in pending])
            for p in ready:
                pool.Add(p)
                pending.remove(p)
        return pool

    def test_calls_every_greeter_method_from_reflection_alone(self):
        pool = self.pool_for("helloworld.Greeter")
        service = pool.FindServiceByName("helloworld.Greeter")
        self.assertEqual([m.name for m in service.methods],
                         ["SayHello", "SayHelloStreamReply", "SayHelloClientStream",
                          "SayHelloBidiStream"])
        factory = message_factory.MessageFactory(pool)
        request = factory.GetPrototype(pool.FindMessageTypeByName("helloworld.HelloRequest"))
        reply = factory.GetPrototype(pool.FindMessageTypeByName("helloworld.HelloReply"))
        channel = self.host.channel()
        kinds = {(False, False): channel.unary_unary, (False, True): channel.unary_stream,
                 (True, False): channel.stream_unary, (True, True): channel.stream_stream}
        for m in service.methods:
            call = kinds[(m.client_streaming, m.server_streaming)](
                "/helloworld.Greeter/" + m.name, request_serializer=request.SerializeToString,
                response_deserializer=reply.FromString)
            arg = iter([request(name="world")]) if m.client_streaming else request(name="world")
            out = call(arg, timeout=10)
            messages = [r.message for r in out] if m.server_streaming else [out.message]
            with self.subTest(method=m.name):
                self.assertTrue(messages and messages[0].startswith("Hello world"), messages)

    def test_file_by_name_and_symbols(self):
        reply = self.ask(refl, file_by_filename="helloworld.proto")
        names = [descriptor_pb2.FileDescriptorProto.FromString(b).name
                 for b in reply.file_descriptor_response.file_descriptor_proto]
        self.assertEqual(names, ["helloworld.proto"])
        for symbol in ("helloworld.HelloRequest", "helloworld.Greeter.SayHello",
                       "grpc.health.v1.HealthCheckResponse.ServingStatus"):
            with self.subTest(symbol=symbol):
                self.assertTrue(self.ask(refl, file_containing_symbol=symbol)
                                .file_descriptor_response.file_descriptor_proto)

    def test_unknown_names_are_not_found(self):
        for request in ({"file_containing_symbol": "no.Such"}, {"file_by_filename": "none.proto"},
                        {"all_extension_numbers_of_type": "no.Such"}):
            with self.subTest(**request):
                reply = self.ask(refl_alpha, **request)
                self.assertEqual(reply.error_response.error_code, grpc.StatusCode.NOT_FOUND.value[0])
                self.assertIn("not found", reply.error_response.error_message)


class HealthTest(HostTestCase):
    def check(self, service):
        stub = health.HealthStub(self.host.channel())
        return rpc(stub.Check, health.HealthCheckRequest(service=service), timeout=10)

    def set_health(self, service, status):
        stub = limits.LimitsStub(self.host.channel())
        code = "grpc.set_health(%r, %r)" % (service, status)
        _, status_code, details, _ = rpc(stub.Run, limits.Probe(code=code), timeout=10)
        self.assertEqual(status_code, grpc.StatusCode.OK, details)

    def test_check(self):
        for service in ("", "helloworld.Greeter"):
            resp, code, details, _ = self.check(service)
            self.assertEqual(code, grpc.StatusCode.OK, details)
            self.assertEqual(resp.status, SERVING)
        _, code, details, _ = self.check("no.Such")
        self.assertEqual(code, grpc.StatusCode.NOT_FOUND)
        self.assertIn("no.Such", details)

    def test_scripts_set_health_and_watchers_see_it(self):
        stub = health.HealthStub(self.host.channel())
        watch = stub.Watch(health.HealthCheckRequest(service="limits.Limits"), timeout=30)
        self.assertEqual(next(watch).status, SERVING)
        self.set_health("limits.Limits", "NOT_SERVING")
        self.assertEqual(next(watch).status, NOT_SERVING)
        self.assertEqual(self.check("limits.Limits")[0].status, NOT_SERVING)
        self.set_health("limits.Limits", "SERVING")
        self.assertEqual(next(watch).status, SERVING)
        watch.cancel()


class DrainTest(unittest.TestCase):
    def test_watchers_see_not_serving_and_end_when_the_host_drains(self):
        with Host(args=["--grace-ms", "20000"]) as host:
            stub = health.HealthStub(host.channel())
            watch = stub.Watch(health.HealthCheckRequest(service=""), timeout=30)
            self.assertEqual(next(watch).status, SERVING)
            host.send_signal(signal.SIGTERM)
            self.assertEqual(next(watch).status, NOT_SERVING)
            self.assertEqual(list(watch), [])  # ended with OK, not held until the grace period
            self.assertEqual(watch.code(), grpc.StatusCode.OK)


if __name__ == "__main__":
    unittest.main()
