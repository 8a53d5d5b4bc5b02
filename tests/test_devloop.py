"""The developer loop: protos in folders (the buf layout), `host --scaffold`, `host --types`,
and what --check says about a broken script in a package's layout.

tests/proto/inv/v1/ holds inv.v1.Inventory (one method of each kind, its messages in a second
file imported by its path from the import root); the build compiles it into the test protoset.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import unittest

import grpc

from harness import (BUILD_DIR, EXAMPLE_PROTOSET, HOST_BIN, SANITIZED, SOURCE_DIR, TEST_PROTOSET,
                     TESTS_DIR, Host, load_stubs, pb, rpc, run_host_once)

INVENTORY = "inv.v1.Inventory"
item = load_stubs("inv/v1/item.proto")       # first: inventory's stubs import it
inv = load_stubs("inv/v1/inventory.proto")

# A buf-layout service a new user adds to proto/ (the build-from-a-copy test).
SHOP_PROTO = """syntax = "proto3";
package shop.v1;
import "shop/v1/money.proto";
service Shop { rpc Price(PriceRequest) returns (Money); }
message PriceRequest { string sku = 1; }
"""
MONEY_PROTO = """syntax = "proto3";
package shop.v1;
message Money { int64 cents = 1; }
"""


def host_output(args, stdin=None):
    """Runs HOST_BIN with args: (exit code, stdout, stderr)."""
    r = subprocess.run([HOST_BIN] + args, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


class BufLayoutTest(unittest.TestCase):
    def test_a_proto_in_a_folder_is_served(self):
        script = ("local M = {}\n"
                  "function M.Get(req) return { sku = req.sku, count = 3, state = 'STATE_IN_STOCK' } end\n"
                  "return M\n")
        with Host(extra_scripts={"inventory.lua": script}) as host:
            self.assertIn(INVENTORY, host.ready_line)
            stub = inv.InventoryStub(host.channel())
            resp, code, details, _ = rpc(stub.Get, inv.GetRequest(sku="a1"))
            self.assertEqual(code, grpc.StatusCode.OK, details)
            self.assertEqual((resp.sku, resp.count, resp.state), ("a1", 3, item.STATE_IN_STOCK))

    def test_the_build_compiles_protos_in_folders(self):
        # What a new user does: a service in proto/shop/v1/, then the build. A copy of the
        # source tree, configured afresh, builds its protoset (only that: no C compiled).
        if SANITIZED:
            self.skipTest("the plain build checks the build; nothing here runs under ASan")
        tmp = tempfile.mkdtemp(prefix="hostbuf-")
        try:
            src = os.path.join(tmp, "src")
            shutil.copytree(SOURCE_DIR, src, ignore=shutil.ignore_patterns(
                "build*", "dist", ".git", "__pycache__"))
            os.makedirs(os.path.join(src, "proto", "shop", "v1"))
            for name, text in (("shop.proto", SHOP_PROTO), ("money.proto", MONEY_PROTO)):
                with open(os.path.join(src, "proto", "shop", "v1", name), "w") as f:
                    f.write(text)
            build = os.path.join(tmp, "build")
            for cmd in (["cmake", "-S", src, "-B", build],
                        ["cmake", "--build", build, "--target", "protoset"]):
                r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, timeout=240)
                self.assertEqual(r.returncode, 0, r.stdout)
            code, out = run_host_once(["--check", "--scripts", os.path.join(SOURCE_DIR, "scripts"),
                                       "--protoset", os.path.join(build, "protoset.pb")])
            self.assertEqual(code, 0, out)
            self.assertIn("shop.v1.Shop", out)
            self.assertIn("helloworld.Greeter", out)
        finally:
            shutil.rmtree(tmp, True)


class ScaffoldTest(unittest.TestCase):
    def scaffold(self, service, protoset=TEST_PROTOSET):
        return host_output(["--scaffold", service, "--protoset", protoset])

    def test_every_kind_answers_unimplemented_until_written(self):
        code, script, err = self.scaffold(INVENTORY)
        self.assertEqual(code, 0, err)
        self.assertIn("Save as scripts/inventory.lua", script)
        for shape in ("function M.Get(req, call)", "function M.Watch(req, call)",
                      "function M.Add(call)", "function M.Sync(call)",
                      "---@param req inv.v1.GetRequest", "---@return inv.v1.Item",
                      "---@return inv.v1.AddSummary", "-- for req in call:messages() do"):
            self.assertIn(shape, script)
        with Host(extra_scripts={"inventory.lua": script}) as host:
            stub = inv.InventoryStub(host.channel())
            calls = {
                "Get": lambda: stub.Get(inv.GetRequest(sku="x"), timeout=10),
                "Watch": lambda: list(stub.Watch(inv.GetRequest(sku="x"), timeout=10)),
                "Add": lambda: stub.Add(iter([item.Item(sku="x")]), timeout=10),
                "Sync": lambda: list(stub.Sync(iter([item.Item(sku="x")]), timeout=10)),
            }
            for method, make in calls.items():
                with self.assertRaises(grpc.RpcError, msg=method) as e:
                    make()
                self.assertEqual(e.exception.code(), grpc.StatusCode.UNIMPLEMENTED, method)
                self.assertEqual(e.exception.details(), "not written yet: %s/%s" % (INVENTORY, method))

    def test_the_reply_shape_lists_every_field(self):
        code, script, err = self.scaffold(INVENTORY)
        self.assertEqual(code, 0, err)
        get = script[script.index("function M.Get"):script.index("function M.Watch")]
        for line in ('--   sku = "",', "--   count = 0,", '--   state = "STATE_UNSPECIFIED",',
                     "--   labels = {},", "--   fragile = false,",
                     "--   -- price: one of cents, free_text"):
            self.assertIn(line, get)
        self.assertNotIn("cents =", get)          # a oneof member is a choice, not a field to fill

    def test_a_filled_in_scaffold_serves(self):
        code, script, err = self.scaffold("helloworld.Greeter", EXAMPLE_PROTOSET)
        self.assertEqual(code, 0, err)
        filled = script.replace(
            'grpc.error("UNIMPLEMENTED", "not written yet: helloworld.Greeter/SayHello")',
            'return { message = "Hi " .. req.name }')
        with Host(scripts=tempfile.mkdtemp(prefix="empty-"),
                  extra_scripts={"greeter.lua": filled}) as host:
            resp, code, details, _ = rpc(host.greeter_stub().SayHello,
                                         pb.helloworld.HelloRequest(name="you"))
            self.assertEqual(code, grpc.StatusCode.OK, details)
            self.assertEqual(resp.message, "Hi you")

    def test_an_unknown_service_is_named_with_those_there_are(self):
        code, out, err = self.scaffold("inv.v1.Inventroy")
        self.assertEqual(code, 1)
        self.assertEqual(out, "")
        self.assertIn("no service inv.v1.Inventroy", err)
        self.assertIn(INVENTORY, err)


class TypesTest(unittest.TestCase):
    def types(self, protoset=TEST_PROTOSET):
        code, out, err = host_output(["--types", "--protoset", protoset])
        self.assertEqual(code, 0, err)
        return out

    def block(self, text, header):
        """The annotation lines from header to the next blank line."""
        start = text.index(header + "\n")
        end = text.find("\n\n", start)
        return text[start:end if end >= 0 else len(text)].splitlines()

    def test_message_fields_follow_the_mapping(self):
        fields = self.block(self.types(), "---@class (exact) inv.v1.Item")
        expected = [
            "---@field sku string",
            "---@field count integer",
            "---@field state inv.v1.State",
            "---@field labels table<string, string>",
            "---@field tags string[]",
            "---@field note? string",
            "---@field photo string",
            "---@field updated? google.protobuf.Timestamp",
            "---@field weight number",
            "---@field size? inv.v1.Item.Size",
            "---@field boxes inv.v1.Item.Size[]",
            "---@field states_by_shelf table<integer, inv.v1.State>",
            "---@field fragile boolean",
        ]
        for line in expected:
            self.assertIn(line, fields)
        self.assertTrue(any(l.startswith("---@field cents? integer oneof price") for l in fields), fields)

    def test_enums_are_aliases_of_their_names(self):
        alias = self.block(self.types(), "---@alias inv.v1.State")
        self.assertEqual(alias[1:4], ['---| "STATE_UNSPECIFIED"', '---| "STATE_IN_STOCK"',
                                      '---| "STATE_GONE"'])

    def test_nested_and_imported_types_have_classes_map_entries_none(self):
        text = self.types()
        self.assertIn("---@class (exact) inv.v1.Item.Size\n---@field width number\n", text)
        self.assertIn("---@class (exact) google.protobuf.Timestamp\n", text)
        self.assertNotIn("LabelsEntry", text)
        # Only annotations: lua-language-server reads it as a definition file.
        self.assertTrue(text.startswith("---@meta"), text[:40])
        for line in text.splitlines():
            self.assertTrue(line == "" or line.startswith("--"), line)

    def test_the_build_writes_the_examples_types(self):
        with open(os.path.join(BUILD_DIR, "types", "messages.lua")) as f:
            built = f.read()
        self.assertEqual(built, self.types(EXAMPLE_PROTOSET))
        self.assertIn("---@class (exact) helloworld.HelloRequest\n---@field name string\n", built)
        with open(os.path.join(SOURCE_DIR, ".luarc.json")) as f:
            self.assertIn('"build/types"', f.read())


class ReloadGuardTest(unittest.TestCase):
    """A service whose .proto left the protosets while its script stayed: the reload is refused,
    the running version serves on, and the log says which service and why."""

    GET = "local M = {}\nfunction M.Get(req) return { sku = req.sku } end\nreturn M\n"

    def setUp(self):
        self.protosets = tempfile.mkdtemp(prefix="hostguard-")
        shutil.copy(EXAMPLE_PROTOSET, os.path.join(self.protosets, "example.pb"))
        self.inv_pb = os.path.join(self.protosets, "inv.pb")
        root = os.path.join(TESTS_DIR, "proto")
        subprocess.run(["protoc", "-I" + root, "--include_imports", "--descriptor_set_out=" + self.inv_pb,
                        os.path.join(root, "inv", "v1", "inventory.proto")], check=True)

    def tearDown(self):
        shutil.rmtree(self.protosets, True)

    def get(self, host):
        stub = inv.InventoryStub(host.channel())
        return rpc(stub.Get, inv.GetRequest(sku="k"))

    def reload(self, host):
        mark = host.mark()
        host.send_signal(signal.SIGHUP)
        return host.wait_log(lambda l: "msg=reloaded" in l or "msg=\"reload failed" in l, start=mark)

    def test_a_service_still_handled_does_not_vanish(self):
        with Host(scripts=tempfile.mkdtemp(prefix="empty-"), extra_scripts={"inventory.lua": self.GET},
                  protosets=[self.protosets]) as host:
            self.assertEqual(self.get(host)[1], grpc.StatusCode.OK)
            os.remove(self.inv_pb)                       # its .proto is no longer built
            line = self.reload(host)
            self.assertIn("level=error", line)
            self.assertIn("the running version keeps serving", line)
            self.assertIn("inv.v1.Inventory would no longer be served", line)
            self.assertIn("inventory.lua still handles it", line)
            self.assertIn("no longer have it", line)
            resp, code, details, _ = self.get(host)
            self.assertEqual(code, grpc.StatusCode.OK, details)
            # Its script gone too, the service goes on purpose.
            os.remove(os.path.join(host.scripts_dir, "inventory.lua"))
            self.assertIn("msg=reloaded", self.reload(host))
            self.assertEqual(self.get(host)[1], grpc.StatusCode.UNIMPLEMENTED)

    def test_a_script_serving_nothing_is_told_where_to_look(self):
        with Host(extra_scripts={"inventory.lua": self.GET}, protosets=[EXAMPLE_PROTOSET]) as host:
            line = host.wait_log("script serves no service")
            self.assertIn("protosets=" + EXAMPLE_PROTOSET, line)
            self.assertIn("./bootstrap.sh build", line)


class PackageCheckTest(unittest.TestCase):
    def test_a_broken_script_is_named_as_in_the_source_tree(self):
        # ./bootstrap.sh package runs --check like this, from inside its staging directory.
        stage = tempfile.mkdtemp(prefix="hoststage-")
        try:
            os.mkdir(os.path.join(stage, "scripts"))
            shutil.copy(EXAMPLE_PROTOSET, os.path.join(stage, "protoset.pb"))
            with open(os.path.join(stage, "scripts", "broken.lua"), "w") as f:
                f.write("local M = {}\nfunction M.SayHello( return M\n")
            r = subprocess.run([HOST_BIN, "--check", "--scripts", "scripts", "--protoset", "protoset.pb"],
                               cwd=stage, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=30)
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertRegex(r.stdout, r"(^|\s)scripts/broken\.lua:2:")
            self.assertNotIn(stage, r.stdout)
        finally:
            shutil.rmtree(stage, True)


if __name__ == "__main__":
    unittest.main()
